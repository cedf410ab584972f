"""Import articles from Markdown files with YAML front matter (the format is in DESIGN.md).

Every file is read and checked before anything is written; then all of them are written in one
transaction. A problem is reported as ``file:line: what is wrong`` and nothing is imported.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from . import revisions
from .models import FAQ, Article, Category, GlossaryTerm, Person, Source, free_slug
from .parsing import ImportFailed, ParsedArticle, parse_article, parse_glossary


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # updated, waiting for review


def _snapshot(article: Article) -> tuple:
    values = tuple(getattr(article, name) for name in _ARTICLE_FIELDS) + (article.category_id,)
    faqs = tuple(article.faqs.values_list("question", "answer", "position"))
    sources = tuple(
        article.sources.values_list(
            "title", "authors", "publisher", "year", "url", "doi", "position"
        )
    )
    related = tuple(sorted(article.related.values_list("slug", flat=True)))
    return values, faqs, sources, related


_SOURCE_FIELDS = ["title", "authors", "publisher", "year", "url", "doi", "position"]
_ARTICLE_FIELDS = [
    "title", "label", "summary", "tldr", "author_id", "reviewer_id", "last_reviewed",
    "next_review_due", "publish_at", "disclaimer", "meta_description", "body", "status",
]  # fmt: skip


PEOPLE_FIELDS = ("author", "reviewer")
# An author or reviewer written as a slug names a person by their page's slug; anything else is
# a name and credentials ("Jane Doe, MD"), matched to a person by name or made into one.
PERSON_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)+|[a-z0-9]+")


def _person(value: str) -> Person | None:
    if not value:
        return None
    if PERSON_SLUG.fullmatch(value):
        return Person.objects.get(slug=value)
    return Person.for_byline(value)


def import_articles(paths: Sequence[Path]) -> ImportReport:
    parsed, problems = [], []
    for path in paths:
        try:
            parsed.append(parse_article(Path(path)))
        except ImportFailed as exc:
            problems.extend(exc.problems)
    seen: dict[str, str] = {}
    for item in parsed:
        slug = item.fields["slug"]
        if slug in seen:
            problems.append(
                f"{item.path}:{item.line_of.get('slug', 1)}: slug '{slug}' is also in {seen[slug]}"
            )
        seen[slug] = item.path
    known = set(
        Article.objects.filter(slug__in=[s for i in parsed for s in i.related]).values_list(
            "slug", flat=True
        )
    )
    for item in parsed:
        for slug in item.related:
            if slug not in seen and slug not in known:
                problems.append(
                    f"{item.path}:{item.line_of.get('related', 1)}: related article '{slug}' "
                    "does not exist"
                )
    people = set(
        Person.objects.filter(
            slug__in=[i.fields[name] for i in parsed for name in PEOPLE_FIELDS]
        ).values_list("slug", flat=True)
    )
    for item in parsed:
        for name in PEOPLE_FIELDS:
            value, at = item.fields[name], f"{item.path}:{item.line_of.get(name, 1)}"
            if not value:
                continue
            if PERSON_SLUG.fullmatch(value):
                if value not in people:
                    problems.append(
                        f"{at}: {name} '{value}' is no person's slug: add them under People in "
                        "admin, or write their name and credentials"
                    )
                continue
            person, _, credentials = (part.strip() for part in value.partition(","))
            if not person or len(person) > 120 or len(credentials) > 80:
                problems.append(
                    f"{at}: {name} must be a person's slug or their name (up to 120 characters) "
                    'and credentials (up to 80), as in "Jane Doe, MD"'
                )
    if problems:
        raise ImportFailed(problems)

    report = ImportReport()
    with transaction.atomic():
        for article in Article.objects.filter(slug__in=seen):
            revisions.record_baseline(article)
        articles = {item.fields["slug"]: _write(item, report) for item in parsed}
        for item in parsed:
            article = articles[item.fields["slug"]]
            related = Article.objects.filter(slug__in=item.related)
            before = set(article.related.values_list("slug", flat=True))
            if before != set(item.related):
                article.related.set(related)
                if article.slug in report.unchanged:
                    report.unchanged.remove(article.slug)
                    report.updated.append(article.slug)
        # Each change is a revision, under the review rule: a published article's new text
        # with no newer review date waits for review, and its page keeps the reviewed text.
        for slug in report.created + report.updated:
            edit = revisions.record(articles[slug], comment="Imported from a file.")
            if edit.kind == edit.Kind.PENDING:
                report.pending.append(slug)
    return report


def _write(item: ParsedArticle, report: ImportReport) -> Article:
    fields = dict(item.fields)
    slug = fields.pop("slug")
    category = None
    if item.category:
        category = Category.objects.filter(name__iexact=item.category).first()
        if category is None:
            category = Category.objects.create(
                name=item.category, slug=free_slug(Category, slugify(item.category) or "topic")
            )
    article = Article.objects.filter(slug=slug).first()
    if article is None:
        article = Article(slug=slug)
        before = None
    else:
        before = _snapshot(article)
    if fields["status"] == Article.Status.PUBLISHED and not fields["publish_at"]:
        fields["publish_at"] = article.publish_at or timezone.now()
    for name in PEOPLE_FIELDS:
        fields[name] = _person(fields[name])
    for name, value in fields.items():
        setattr(article, name, value)
    article.category = category
    after_values = tuple(getattr(article, n) for n in _ARTICLE_FIELDS) + (article.category_id,)
    after_children = (
        tuple((f["question"], f["answer"], f["position"]) for f in item.faqs),
        tuple(tuple(source[name] for name in _SOURCE_FIELDS) for source in item.sources),
    )
    if before is not None and before[0] == after_values and before[1:3] == after_children:
        report.unchanged.append(slug)
        return article
    try:
        article.full_clean(exclude=["related"])
    except ValidationError as exc:
        messages = [
            f"{item.path}:{item.line_of.get(name, 1)}: {name}: {' '.join(errors)}"
            for name, errors in exc.message_dict.items()
        ]
        raise ImportFailed(messages) from exc
    article.save()
    article.faqs.all().delete()
    article.sources.all().delete()
    FAQ.objects.bulk_create(FAQ(article=article, **faq) for faq in item.faqs)
    Source.objects.bulk_create(Source(article=article, **source) for source in item.sources)
    (report.created if before is None else report.updated).append(slug)
    return article


def import_glossary(path: Path) -> ImportReport:
    """Upsert the glossary's terms by term (case-insensitive)."""
    entries = parse_glossary(path)
    report = ImportReport()
    with transaction.atomic():
        for term, definition, aliases in entries:
            existing = GlossaryTerm.objects.filter(term__iexact=term).first()
            if existing is None:
                GlossaryTerm.objects.create(
                    term=term,
                    slug=free_slug(GlossaryTerm, slugify(term) or "term"),
                    definition=definition,
                    aliases=aliases,
                )
                report.created.append(term)
            elif (existing.definition, existing.aliases) != (definition, aliases):
                existing.definition, existing.aliases = definition, aliases
                existing.save(update_fields=["definition", "aliases"])
                report.updated.append(term)
            else:
                report.unchanged.append(term)
        if report.created or report.updated:
            Article.objects.rerender()
    return report
