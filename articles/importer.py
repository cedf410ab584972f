"""Import articles from Markdown files with YAML front matter (the format is in DESIGN.md).

Every file is read and checked before anything is written; then all of them are written in one
transaction. A problem is reported as ``file:line: what is wrong`` and nothing is imported.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.utils.text import slugify

from . import workflow
from .content import TEXT_FIELDS, Content
from .models import Article, Category, GlossaryTerm, Person, free_slug
from .parsing import ImportFailed, ParsedArticle, parse_article
from .yaml_lists import parse_glossary, parse_people


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # updated, waiting for review


# What the file sets on the row as it is; the text goes through the review's rules.
DETAIL_FIELDS = [
    "label", "author", "publish_at", "meta_description", "mentions_services", "ai_used", "ai_use",
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


def import_articles(paths: Sequence[Path], *, operator: str = "") -> ImportReport:
    """Import the files, or none of them; `operator` (who ran the import) is named in the
    sign-offs the files carry."""
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
        articles = {item.fields["slug"]: _write(item, report, operator) for item in parsed}
        for item in parsed:
            article = articles[item.fields["slug"]]
            before = set(article.related.values_list("slug", flat=True))
            if before != set(item.related):
                article.related.set(Article.objects.filter(slug__in=item.related))
                if article.slug in report.unchanged:
                    report.unchanged.remove(article.slug)
                    report.updated.append(article.slug)
    return report


def _write(item: ParsedArticle, report: ImportReport, operator: str) -> Article:
    """One file's article: its details written, its text kept under the review's rules (a
    newer review in the file signs it off, naming the operator; otherwise a change to a signed
    text waits), its status reached by the lifecycle's steps."""
    fields = dict(item.fields)
    slug = fields.pop("slug")
    category = None
    if item.category:
        category = Category.objects.filter(name__iexact=item.category).first()
        if category is None:
            category = Category.objects.create(
                name=item.category, slug=free_slug(Category, slugify(item.category) or "topic")
            )
    text = Content.from_data({**fields, "faqs": item.faqs, "sources": item.sources})
    article = Article.objects.filter(slug=slug).first()
    created = article is None
    if created:
        article = Article(slug=slug, **{name: getattr(text, name) for name in TEXT_FIELDS})
    people = {name: _person(fields[name]) for name in PEOPLE_FIELDS}
    details = {**{name: fields[name] for name in DETAIL_FIELDS}, **people, "category": category}
    details.pop("reviewer")
    changed = created
    for name, value in details.items():
        if getattr(article, name) != value:
            setattr(article, name, value)
            changed = True
    if changed:
        article.save()
    changed |= workflow.save_text(article, text, note="Imported from a file") is not None
    reviewer, on = people["reviewer"], fields["last_reviewed"]
    if reviewer and on and (article.last_reviewed is None or on > article.last_reviewed):
        workflow.sign_off_from_import(
            article,
            workflow.newest(article),
            reviewer=reviewer,
            on=on,
            due=fields["next_review_due"],
            operator=operator,
        )
        changed = True
    elif workflow.waiting(article) and changed:
        report.pending.append(slug)
    try:
        if fields["status"] == Article.Status.PUBLISHED and article.status == Article.Status.DRAFT:
            workflow.publish(article, by=None, at=fields["publish_at"])
            changed = True
        elif fields["status"] == Article.Status.DRAFT and article.status != Article.Status.DRAFT:
            workflow.unpublish(article, by=None)
            changed = True
    except workflow.ReviewError as exc:
        raise ImportFailed([f"{item.path}:{item.line_of.get('status', 1)}: status: {exc}"]) from exc
    if not changed:
        report.unchanged.append(slug)
    else:
        (report.created if created else report.updated).append(slug)
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


def import_people(path: Path) -> ImportReport:
    """Upsert authors and reviewers by name (case-insensitive), as an article's byline finds
    them; an entry's slug is used for a new person only."""
    entries = parse_people(path)
    report = ImportReport()
    with transaction.atomic():
        for entry in entries:
            slug = entry.pop("slug")
            person = Person.objects.filter(name__iexact=entry["name"]).first()
            if person is None:
                Person.objects.create(
                    slug=free_slug(Person, slug or slugify(entry["name"]) or "person"), **entry
                )
                report.created.append(entry["name"])
            elif any(getattr(person, key) != value for key, value in entry.items()):
                for key, value in entry.items():
                    setattr(person, key, value)
                person.save()
                report.updated.append(entry["name"])
            else:
                report.unchanged.append(entry["name"])
    return report
