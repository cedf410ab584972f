"""An article's medical review and publication, run: the one way its text, its review line and
its publish state change. The states and transitions are declared on `Article`; each step here
takes one in a transaction with what it implies (the text written, the sign-off kept, the
email queued), or refuses with the reason (`ReviewError`) and writes nothing.

The rows hold the signed text. Before the first sign-off nothing is public, and a saved text
goes to the rows too (the preview shows it); after it, a saved text that differs waits in its
`ArticleVersion` until a reviewer signs off that exact text (its digest) or it is published as a
minor edit.
"""

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django_fsm import ConcurrentTransition, can_proceed, has_transition_perm
from django_fsm_log.models import StateLog

from . import content, notices
from .content import Content
from .models import Article, ArticleUpdate, ArticleVersion, Person, SignOff

Stage, Status = Article.Stage, Article.Status


class ReviewError(Exception):
    """A step the article's state, or the person, does not allow now."""


# Why a step is not possible, in the editor's or reviewer's words: for the step in a stage,
# then for the step.
REFUSALS = {
    ("request_review", Stage.IN_REVIEW): "It is already waiting for a medical review.",
    ("request_review", Stage.SIGNED): "Its text is signed off: there is no change to review.",
    ("sign_off", Stage.SIGNED): "It is already signed off.",
    ("return_to_editor", Stage.SIGNED): "It is already signed off: there is nothing to return.",
    ("publish", Status.PUBLISHED): "It is already published or scheduled.",
    ("unpublish", Status.DRAFT): "It is not published.",
}
STEP = {
    "sign_off": "Nobody asked for a review of this text: its editor requests one first.",
    "return_to_editor": "Nobody asked for a review of this text.",
    "publish_minor_edit": "There is no change waiting, or the article was never signed off.",
    "discard_change": "There is no change waiting to discard.",
    "publish": "Its text has not been signed off by a medical reviewer.",
    "change": "Its text is not signed off.",
}
PERMISSION = {
    "sign_off": "Only a medical reviewer may sign off a text.",
    "return_to_editor": "Only a medical reviewer may return a text.",
    "publish_minor_edit": "You may not publish a change without review.",
}


# What a text needs before a reviewer is asked to read it.
NEEDED = [
    ("a summary", lambda text: not text.summary),
    ("at least one source", lambda text: not text.sources),
]


def refusal(article: Article, name: str) -> str:
    state = article.status if name in ("publish", "unpublish") else article.stage
    return REFUSALS.get((name, state)) or STEP[name]


def move(article: Article, name: str, *, by=None, why: str = "", **arguments) -> Article:
    """Take the transition `name` and save it with what it set, recorded with `by` and `why`;
    refused (ReviewError) when the state or `by`'s permissions do not allow it, or when the row
    moved meanwhile. Runs inside the caller's transaction, if any."""
    step = getattr(article, name)
    if not can_proceed(step):
        raise ReviewError(refusal(article, name))
    if by is not None and not has_transition_perm(step, by):
        raise ReviewError(PERMISSION.get(name, "You may not do that."))
    before = {f.attname: getattr(article, f.attname) for f in Article._meta.concrete_fields}
    try:
        with transaction.atomic():
            step(by=by, description=why, **arguments)
            changed = {f for f, value in before.items() if getattr(article, f) != value}
            article.save(update_fields={"status", "stage", "updated_at", *changed})
    except ConcurrentTransition:
        article.refresh_from_db()
        raise ReviewError(
            "Someone else moved this article meanwhile: read it again and retry."
        ) from None
    return article


def newest(article: Article) -> ArticleVersion | None:
    """The newest saved text: what the form edits and a reviewer reads."""
    return article.versions.first()


def newest_content(article: Article) -> Content:
    version = newest(article)
    return Content.from_data(version.data) if version else Content.of(article)


def signed_off(article: Article) -> SignOff | None:
    return article.sign_offs.select_related("reviewer", "version").first()


def waiting(article: Article) -> bool:
    """A change to a signed text is kept aside for review: the page shows the signed one."""
    return article.last_reviewed is not None and article.stage != Stage.SIGNED


def save_text(
    article: Article, text: Content, *, by=None, note: str, update_note: str = ""
) -> ArticleVersion | None:
    """Keep `text` as the article's newest text; None when it is the newest already."""
    last = newest(article)
    if last and (last.digest, last.update_note) == (text.digest, update_note):
        return None
    with transaction.atomic():
        version = ArticleVersion.objects.create(
            article=article,
            data=text.as_data(),
            digest=text.digest,
            saved_by=by,
            note=note,
            update_note=update_note,
        )
        if article.last_reviewed is None:
            content.write(article, text)
        elif article.stage == Stage.SIGNED and text.digest != Content.of(article).digest:
            move(article, "change", by=by, why=note)
    return version


def restore(article: Article, version: ArticleVersion, *, by) -> ArticleVersion | None:
    """Bring back an earlier text, and nothing else: the publish state, date, slug and review
    stay as they are; on a signed article the restored text waits for sign-off like any change."""
    when = date_format(timezone.localtime(version.saved_at), "M j, Y, H:i")
    note = f"Restored the text saved {when}"
    return save_text(article, Content.from_data(version.data), by=by, note=note)


def request_review(article: Article, *, by, reviewer: Person | None = None) -> None:
    if reviewer is not None and reviewer.user_id is None:
        raise ReviewError(f"{reviewer} has no account to sign off with: choose another reviewer.")
    text = newest_content(article)
    signed = article.last_reviewed is not None
    if article.stage == Stage.DRAFT and signed and text.digest == Content.of(article).digest:
        raise ReviewError("Its text is the signed one: there is no change to review.")
    needs = [need for need, missing in NEEDED if missing(text)]
    disclosures = article.disclosure_problems()
    disclosures.pop("reviewer_conflicts", None)  # the reviewer's own, asked at their sign-off
    needs += disclosures.values()
    if needs:
        raise ReviewError("To request a review, it needs " + " and ".join(needs) + ".")
    if newest(article) is None:
        save_text(article, text, by=by, note="The text as it stood")
    with transaction.atomic():
        move(article, "request_review", by=by, reviewer=reviewer)
        notices.review_requested(article, by=by, reviewer=reviewer)


def _reviewer(user, step: str) -> Person:
    """The reviewer's page of `user`, who may take `step` (sign off or return)."""
    if not user.has_perm("articles.sign_off"):
        raise ReviewError(PERMISSION[step])
    person = Person.objects.filter(user=user).first()
    if person is None:
        raise ReviewError(
            "Your account is not linked to a reviewer's page: an administrator links it under "
            "People, so that your sign-off carries your name and credentials."
        )
    return person


def _the_text_read(article: Article, digest: str) -> ArticleVersion:
    version = newest(article)
    if version is None or version.digest != digest:
        raise ReviewError(
            "The text changed while you were reading it: read the newest version, then sign "
            "off or return it."
        )
    return version


def sign_off(article: Article, *, by, digest: str, comment: str = "") -> SignOff:
    """The reviewer `by` signs off the text they read (`digest`, which must be the newest): it
    becomes the page's text under their name and today's date; a draft with a publish date is
    published (scheduled when the date is later)."""
    reviewer = _reviewer(by, "sign_off")
    if not reviewer.conflicts.strip():
        raise ReviewError(
            "Your conflicts of interest are not on your page yet: readers see them under each "
            'article you sign off. Write them under People ("None" when there are none), then '
            "sign off."
        )
    with transaction.atomic():
        version = _the_text_read(article, digest)
        was_public = article.is_public
        move(article, "sign_off", by=by, why=comment, reviewer=reviewer, on=timezone.localdate())
        record = _signed(article, version, reviewer=reviewer, by=by, comment=comment)
        _make_public(article, version, was_public=was_public)
        if article.status == Status.DRAFT and article.publish_at is not None:
            _publish(article, by=by, at=max(article.publish_at, timezone.now()))
        notices.review_decided(article, by=by, comment=comment, signed=True)
    return record


def return_to_editor(article: Article, *, by, digest: str, comment: str) -> None:
    comment = comment.strip()
    if not comment:
        raise ReviewError("Say what needs changing: the comment goes to the editor.")
    _reviewer(by, "return_to_editor")
    with transaction.atomic():
        _the_text_read(article, digest)
        move(article, "return_to_editor", by=by, why=comment)
        notices.review_decided(article, by=by, comment=comment, signed=False)


def sign_off_from_import(
    article: Article,
    version: ArticleVersion,
    *,
    reviewer: Person,
    on: dt.date,
    operator: str,
    due: dt.date | None = None,
) -> SignOff:
    """An import whose file carries a newer review of this text: the operators' trusted path."""
    was_public = article.is_public
    why = f"Imported by {operator or 'a command'}"
    move(article, "sign_off_from_import", why=why, reviewer=reviewer, on=on, due=due)
    record = _signed(article, version, reviewer=reviewer, operator=operator, via=SignOff.Via.IMPORT)
    _make_public(article, version, was_public=was_public)
    return record


def publish_minor_edit(article: Article, *, by, reason: str) -> None:
    reason = reason.strip()
    if not reason:
        raise ReviewError("Say why this change needs no review (a typo, a broken link).")
    with transaction.atomic():
        move(article, "publish_minor_edit", by=by, why=reason)
        content.write(article, newest_content(article))


def discard_change(article: Article, *, by) -> None:
    """Drop the waiting change: the signed text is the newest again (the change stays in the
    history, to restore)."""
    with transaction.atomic():
        move(article, "discard_change", by=by)
        signed = Content.of(article)
        ArticleVersion.objects.create(
            article=article,
            data=signed.as_data(),
            digest=signed.digest,
            saved_by=by,
            note="Discarded the waiting change",
        )


def publish(article: Article, *, by, at: dt.datetime | None = None) -> None:
    needs = article.publish_problems(source_count=article.sources.count())
    if needs:
        raise ReviewError("It needs " + ", ".join(needs.values()) + ".")
    _publish(article, by=by, at=at)


def _publish(article: Article, *, by, at: dt.datetime | None) -> None:
    """Publish, recorded as "Scheduled for …" when the date is later than now."""
    when = at or article.publish_at
    why = ""
    if when and when > timezone.now():
        why = "Scheduled for " + date_format(timezone.localtime(when), "M j, Y, g:i A")
    move(article, "publish", by=by, why=why, at=at)


def unpublish(article: Article, *, by) -> None:
    move(article, "unpublish", by=by)


def _signed(
    article, version, *, reviewer, by=None, operator="", via=SignOff.Via.REVIEW, comment=""
):
    return SignOff.objects.create(
        article=article,
        version=version,
        digest=version.digest,
        reviewer=reviewer,
        signed_by=by,
        operator=operator,
        reviewed_on=article.last_reviewed,
        via=via,
        comment=comment,
    )


def _make_public(article: Article, version: ArticleVersion, *, was_public: bool) -> None:
    """The signed text into the rows; on a page already public a new text moves its Updated
    date, and the editor's line joins its Updates list."""
    text = Content.from_data(version.data)
    if text.digest == Content.of(article).digest:
        return
    if was_public:
        article.content_updated_at = timezone.now()
        if version.update_note:
            ArticleUpdate.objects.create(
                article=article, published_on=timezone.localdate(), note=version.update_note
            )
    content.write(article, text)


def offered(article: Article, user) -> list[dict]:
    """The steps `user` may take now, as the change form's buttons: each only when it would be
    taken (sign-off and return happen on the page the reviewer reads)."""
    steps = []
    labels = {
        "request_review": "Request medical review",
        "publish_minor_edit": "Publish as a minor edit",
        "discard_change": "Discard the waiting change",
        "publish": "Publish",
        "unpublish": "Unpublish (back to draft)",
    }
    for name, label in labels.items():
        step = getattr(article, name)
        if can_proceed(step) and has_transition_perm(step, user):
            steps.append({"name": name, "label": label})
    return steps


def log(article: Article):
    """The article's recorded transitions, newest first: who, when, from, to, comment."""
    return StateLog.objects.for_(article).select_related("by").order_by("-timestamp", "-pk")
