"""What readers tell the Learning Center, kept without tracking them: searches that found
nothing (`SearchMiss`), and each article's "Was this helpful?" and "Report an error", counted
(`ArticleFeedback`) with any comment put in the editors' queue (`Finding`). No address, no IP
and nothing else about the reader is kept, and what a reader typed that looks like an email
address or a phone number is taken out first."""

import re

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import Article, ArticleFeedback, Finding, SearchMiss

# An address, or a run of digits like a phone or record number: such a query may name a reader,
# so it is not kept.
PERSONAL = re.compile(r"@|\d[\d\s().+-]{5,}\d")
# The same in a comment, cut out of it.
PERSONAL_IN_TEXT = re.compile(r"\S+@\S+|\+?\d[\d\s().-]{5,}\d")
CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f]+")
COMMENT_LENGTH = 500
VERDICTS = {
    "yes": ("helpful", Finding.Kind.HELPFUL),
    "no": ("not_helpful", Finding.Kind.NOT_HELPFUL),
    "error": ("errors_reported", Finding.Kind.ERROR),
}


def record_miss(query: str) -> bool:
    """Count one search for `query` that found nothing; False when it is not kept."""
    words = " ".join(query.casefold().split())[: SearchMiss._meta.get_field("query").max_length]
    if not words or PERSONAL.search(words):
        return False
    now = timezone.now()
    counted = SearchMiss.objects.filter(query=words)
    if counted.update(count=F("count") + 1, last_seen=now):
        return True
    try:
        with transaction.atomic():
            SearchMiss.objects.create(query=words, count=1, first_seen=now, last_seen=now)
    except IntegrityError:  # another request counted it first
        counted.update(count=F("count") + 1, last_seen=now)
    return True


def one_line(text: str) -> str:
    """What a reader typed, on one line: spaces and control characters (a NUL would make
    PostgreSQL refuse it) count as one space."""
    return CONTROL_OR_SPACE.sub(" ", text).strip()


def without_personal_details(text: str) -> str:
    return PERSONAL_IN_TEXT.sub("[removed]", text)


def record_verdict(article: Article, verdict: str, comment: str = "") -> Finding | None:
    """Count one reader's answer (`VERDICTS`) under `article`; a comment, stripped of what looks
    like contact details, goes to the editors' queue (returned)."""
    counter, kind = VERDICTS[verdict]
    comment = without_personal_details(one_line(comment)[:COMMENT_LENGTH])
    with transaction.atomic():
        ArticleFeedback.objects.get_or_create(article=article)
        ArticleFeedback.objects.filter(article=article).update(**{counter: F(counter) + 1})
        if comment:
            return Finding.objects.create(article=article, kind=kind, detail=comment)
    return None
