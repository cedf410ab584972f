"""An article's history, and the rule that binds a medical review to the text it covered.

django-reversion keeps each saved revision of an article with its FAQ and sources;
`ArticleRevision` says what became of it. The article's row is always its public text. A save
of a published article whose text (anything a reader reads: title, summary, TL;DR, body, FAQ,
sources, disclaimer, related reading) differs from the public revision's goes live only

- with a new medical review (a last-reviewed date later than the public revision's): the page's
  Updated date moves, and the editor's note joins its Updates list; or
- as a minor edit (typos, links), by an editor with `articles.publish_minor_edit`, with a reason.

Otherwise it is kept as *pending*: the row goes back to the public revision, and the admin
opens the article on the pending text until it is reviewed and published. A review that changes
no text moves the review date only. Drafts save as they are.
"""

from dataclasses import dataclass

import reversion
from django.core import serializers
from django.utils import timezone
from reversion.models import Revision, Version

from .models import FAQ, Article, ArticleRevision, ArticleUpdate, Source

# What a reader reads; a change to any of them needs a new review.
TEXT_FIELDS = [
    "title", "summary", "tldr", "body", "disclaimer", "label", "category_id", "related",
]  # fmt: skip
FAQ_FIELDS = ["question", "answer", "position"]
SOURCE_FIELDS = ["title", "authors", "publisher", "year", "url", "doi", "position"]
Kind = ArticleRevision.Kind


@dataclass(frozen=True)
class Choice:
    """What the editor asked for when saving: a line for the Updates list, or a minor edit."""

    update_note: str = ""
    minor_reason: str = ""


def text_of(revision: Revision, article_id: int) -> tuple:
    """The reader's text of an article as a revision holds it, comparable with another's;
    related reading counts only articles that still exist."""
    article, faqs, sources = None, [], []
    existing = {str(pk) for pk in Article.objects.values_list("pk", flat=True)}
    for version in revision.version_set.select_related("content_type"):
        model, data = version.content_type.model_class(), version.field_dict
        if model is Article and int(version.object_id) == article_id:
            data["related"] = [pk for pk in data.get("related", []) if str(pk) in existing]
            article = tuple(_comparable(data.get(name)) for name in TEXT_FIELDS)
        elif model is FAQ and data.get("article_id") == article_id:
            faqs.append(tuple(_comparable(data.get(name)) for name in FAQ_FIELDS))
        elif model is Source and data.get("article_id") == article_id:
            sources.append(tuple(_comparable(data.get(name)) for name in SOURCE_FIELDS))
    return article, sorted(faqs), sorted(sources, key=repr)


def _comparable(value):
    """Equal when a reader sees no difference: related reading in any order, text whatever its
    line endings and surrounding blank space (a form trims them)."""
    if isinstance(value, list):
        return sorted(map(str, value))
    if isinstance(value, str):
        return value.replace("\r\n", "\n").strip()
    return value


def _field(revision: Revision, article_id: int, name: str):
    version = revision.version_set.get_for_model(Article).get(object_id=str(article_id))
    return version.field_dict.get(name)


def live(article: Article) -> ArticleRevision | None:
    """The newest revision that was public (the public page's, unless the article is a draft
    again): what a change is compared with."""
    drafts = [Kind.PENDING, Kind.DRAFT]
    return article.revisions.exclude(kind__in=drafts).select_related("revision").first()


def pending(article: Article) -> ArticleRevision | None:
    """The newest saved edit not yet public, if the newest revision is one."""
    newest = article.revisions.select_related("revision").first()
    return newest if newest and newest.kind == Kind.PENDING else None


def revert(revision: Revision) -> None:
    """Put the rows back as `revision` holds them; related reading to an article deleted since
    is left out."""
    revision.revert(delete=True)
    Related = Article.related.through
    Related.objects.exclude(to_article__in=Article.objects.all()).delete()


def record_baseline(article: Article, user=None) -> None:
    """Keep the article as it stands as a revision, for one that has none yet (it predates its
    history): what any later edit is compared with."""
    if article.revisions.exists():
        return
    article = Article.objects.get(pk=article.pk)
    revision = _kept(
        article, user=user, comment="The text as it stood before its history was kept."
    )
    kind = Kind.DRAFT if article.status == Article.Status.DRAFT else Kind.PUBLISHED
    ArticleRevision.objects.create(revision=revision, article=article, kind=kind)


def settle(article: Article, revision: Revision, choice: Choice) -> ArticleRevision:
    """Decide what the saved `revision` of `article` is, by the rule above, and make the row
    and the page follow. Runs in the transaction that saved it."""
    before = live(article)
    record = ArticleRevision(revision=revision, article=article)
    if article.status == Article.Status.DRAFT or before is None:
        # A draft, or a first publication (the publish gate has checked its review).
        record.kind = Kind.DRAFT if article.status == Article.Status.DRAFT else Kind.PUBLISHED
        record.save()
        return record
    changed = text_of(revision, article.pk) != text_of(before.revision, article.pk)
    last = _field(before.revision, article.pk, "last_reviewed")
    reviewed_again = bool(article.last_reviewed and last and article.last_reviewed > last)
    if not changed:
        record.kind = Kind.REVIEW if reviewed_again else Kind.DETAILS
    elif reviewed_again:
        record.kind = Kind.PUBLISHED
        article.content_updated_at = timezone.now()
        Article.objects.filter(pk=article.pk).update(content_updated_at=article.content_updated_at)
        _keep_row_in(revision, article)
        if choice.update_note:
            ArticleUpdate.objects.create(
                article=article, published_on=timezone.localdate(), note=choice.update_note
            )
    elif choice.minor_reason:
        record.kind, record.reason = Kind.MINOR, choice.minor_reason
    else:
        record.kind = Kind.PENDING
        revert(before.revision)
        article.refresh_from_db()
        article.render()
        Article.objects.filter(pk=article.pk).update(
            body_html=article.body_html, body_text=article.body_text, toc=article.toc
        )
    record.save()
    return record


def _keep_row_in(revision: Revision, article: Article) -> None:
    """Store the row as it now is in its revision (fields set after the revision was taken)."""
    article.refresh_from_db()
    data = serializers.serialize("json", [article])
    revision.version_set.get_for_model(Article).filter(object_id=str(article.pk)).update(
        serialized_data=data
    )


def open_pending(article: Article) -> bool:
    """Put the pending text in the rows, for a form to start from; the caller's transaction is
    rolled back or saved through `settle`. True when there was one."""
    edit = pending(article)
    if edit is None:
        return False
    revert(edit.revision)
    return True


def record(
    article: Article, *, user=None, comment: str, choice: Choice = Choice()
) -> ArticleRevision:
    """Keep `article` as it now stands in the database, children and related reading included,
    as a revision, and settle it: for what writes articles outside the admin form (the import,
    the bulk actions), after `record_baseline` and the write."""
    return settle(article, _kept(article, user=user, comment=comment), choice)


def _kept(article: Article, *, user, comment: str) -> Revision:
    with reversion.create_revision():
        reversion.add_to_revision(article)
        reversion.set_user(user)
        reversion.set_comment(comment)
    return Version.objects.get_for_object(article).first().revision
