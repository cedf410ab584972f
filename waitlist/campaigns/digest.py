"""The Learning Center digest: a launch update drafted for an operator from the articles signed
off by a medical reviewer, or gone public, since the last digest. It is only ever a draft: an
operator edits it, tests it and sends it like any campaign."""

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format

from articles.models import Article, SignOff

from ..models import Campaign, LearningDigest


class NothingNew(Exception):
    """No article was signed off or published since the last digest."""


def since() -> dt.datetime | None:
    """Where the next digest starts: the end of the last one (None: the beginning)."""
    last = LearningDigest.objects.order_by("-covers_until").first()
    return last.covers_until if last else None


def news(start: dt.datetime | None, end: dt.datetime) -> tuple[list[Article], list[Article]]:
    """The public articles that went public in (start, end] (new), and the others whose text a
    reviewer signed off in it (reviewed again), each once, newest first."""
    window = Q(signed_at__lte=end) & (Q(signed_at__gt=start) if start else Q())
    signed = SignOff.objects.filter(window).values("article")
    went_public = Q(publish_at__lte=end) & (Q(publish_at__gt=start) if start else Q())
    public = Article.objects.published().select_related("reviewer")
    new = list(public.filter(went_public).order_by("-publish_at", "-pk"))
    reviewed = list(
        public.filter(pk__in=signed)
        .exclude(pk__in=[a.pk for a in new])
        .order_by("-last_reviewed", "-pk")
    )
    return new, reviewed


def draft() -> Campaign:
    """A draft launch update listing what is new in the Learning Center since the last digest;
    NothingNew when nothing is."""
    with transaction.atomic():
        start, end = since(), timezone.now()
        new, reviewed = news(start, end)
        if not new and not reviewed:
            raise NothingNew(
                "Nothing was published or medically reviewed in the Learning Center"
                + (f" since the last digest ({_day(start)})." if start else " yet.")
            )
        campaign = Campaign.objects.create(
            name=f"Learning Center digest, {_day(end)}",
            subject="New in the Learning Center",
            preheader=_preheader(new, reviewed),
            body=_body(new, reviewed),
        )
        digest = LearningDigest.objects.create(
            campaign=campaign, covers_from=start, covers_until=end
        )
        digest.articles.set([*new, *reviewed])
    return campaign


def _day(moment: dt.datetime) -> str:
    return date_format(timezone.localtime(moment), "F j, Y")


def _preheader(new: list[Article], reviewed: list[Article]) -> str:
    parts = []
    if new:
        parts.append(f"{len(new)} new article{'s' if len(new) != 1 else ''}")
    if reviewed:
        parts.append(f"{len(reviewed)} reviewed again")
    return " and ".join(parts) + ", each checked by a clinician."


def _line(article: Article) -> str:
    link = settings.SITE_URL.rstrip("/") + article.get_absolute_url()
    summary = f": {article.summary}" if article.summary else ""
    return f"- [{article.title}]({link}){summary}"


def _body(new: list[Article], reviewed: list[Article]) -> str:
    parts = ["What is new in the Halftime Health Learning Center."]
    if new:
        parts += ["## New articles", "\n".join(_line(a) for a in new)]
    if reviewed:
        lines = [
            f"{_line(a)} (medically reviewed by {a.reviewer} on "
            f"{date_format(a.last_reviewed, 'F j, Y')})"
            for a in reviewed
        ]
        parts += ["## Reviewed again", "\n".join(lines)]
    return "\n\n".join(parts) + "\n"
