"""Retention by rule: what is kept past its time is deleted, or its person erased. Beat runs
`apply` daily (waitlist.tasks.apply_retention); each rule's limit is a setting, and the data map
(`datamap`) shows the same figures.

- transactional emails that are not consent evidence, once sent, failed or skipped, are
  deleted RETENTION_OUTBOX_DAYS after they were written (queued, sending or held ones are
  still to go);
- webhook deliveries are deleted RETENTION_WEBHOOK_DAYS after they were delivered;
- readers' comments under articles are deleted RETENTION_READER_COMMENT_DAYS after an editor
  resolved them (their counts stay);
- a person unsubscribed RETENTION_UNSUBSCRIBED_DAYS ago is erased down to the address's hash,
  their consent records kept as proof of consent only;
- staff sessions past their age are deleted;
- on the embedded default, the rate limits' counter files are deleted a day after they last
  counted (Redis ends each counter with its window).

Rows go a batch at a time, taken by key, so a million of them never sit in memory; each batch
is one DELETE, which checks the rule again. Running it again changes nothing more."""

import datetime as dt
from collections.abc import Iterator
from importlib import import_module

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from articles.models import Finding

from ..models.engine import SendStatus, WebhookDelivery
from ..models.people import OutboundEmail, Subscriber
from . import privacy, ratelimit

BATCH_SIZE = 1000
FINISHED = [SendStatus.SENT, SendStatus.FAILED, SendStatus.SKIPPED]
READER_KINDS = [Finding.Kind.HELPFUL, Finding.Kind.NOT_HELPFUL, Finding.Kind.ERROR]


def apply(now: dt.datetime | None = None) -> dict[str, int]:
    """Every rule, as of `now`: how many emails, webhook deliveries, comments and counter files
    were deleted, and how many people erased."""
    now = now or timezone.now()
    # Staff sessions past their age (with the database's session store; others expire alone).
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
    return {
        "emails": _delete(old_emails(now)),
        "webhooks": _delete(old_webhooks(now)),
        "comments": _delete(old_reader_comments(now)),
        "unsubscribed": erase_unsubscribed(now),
        "counters": ratelimit.prune_counter_files(now),
    }


def old_emails(now: dt.datetime) -> QuerySet:
    before = now - dt.timedelta(days=settings.RETENTION_OUTBOX_DAYS)
    return OutboundEmail.objects.filter(
        consent__isnull=True, status__in=FINISHED, created_at__lt=before
    )


def old_webhooks(now: dt.datetime) -> QuerySet:
    before = now - dt.timedelta(days=settings.RETENTION_WEBHOOK_DAYS)
    return WebhookDelivery.objects.filter(status=SendStatus.SENT, sent_at__lt=before)


def old_reader_comments(now: dt.datetime) -> QuerySet:
    before = now - dt.timedelta(days=settings.RETENTION_READER_COMMENT_DAYS)
    return Finding.objects.filter(kind__in=READER_KINDS, resolved_at__lt=before)


def long_unsubscribed(now: dt.datetime) -> QuerySet:
    before = now - dt.timedelta(days=settings.RETENTION_UNSUBSCRIBED_DAYS)
    return Subscriber.objects.filter(
        status=Subscriber.Status.UNSUBSCRIBED, unsubscribed_at__lt=before
    )


def erase_unsubscribed(now: dt.datetime) -> int:
    """Each person erased in a transaction of their own, once the row, locked, still says
    they left that long ago: someone who joined again meanwhile stays."""
    due = long_unsubscribed(now)
    reason = f"unsubscribed over {settings.RETENTION_UNSUBSCRIBED_DAYS} days ago"
    erased = 0
    for batch in _batches(due):
        for pk in batch:
            with transaction.atomic():
                if not due.filter(pk=pk).select_for_update().values_list("pk").first():
                    continue
                privacy.erase(subscriber_id=pk, reason=reason, keep_consent_proof=True)
            erased += 1
    return erased


def _delete(rows: QuerySet) -> int:
    deleted = 0
    for batch in _batches(rows):
        _, per_model = rows.filter(pk__in=batch).delete()
        deleted += per_model.get(rows.model._meta.label, 0)
    return deleted


def _batches(rows: QuerySet) -> Iterator[list[int]]:
    """The keys of `rows`, BATCH_SIZE at a time, in order."""
    last = None
    while True:
        after = rows if last is None else rows.filter(pk__gt=last)
        batch = list(after.order_by("pk").values_list("pk", flat=True)[:BATCH_SIZE])
        if not batch:
            return
        yield batch
        last = batch[-1]
