"""Signups never confirmed: one reminder after CONFIRM_REMINDER_HOURS, and after
PENDING_EXPIRY_DAYS without a confirmation or a new request, erasure down to the address's
hash, the reason kept on the row. Beat runs `tend` every hour."""

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..models.people import ConsentRecord, OutboundEmail, Subscriber
from . import outbox, privacy

NEVER_CONFIRMED = "never confirmed"


def _pending(before: dt.datetime):
    """Pending people whose last request (or signup) is older than `before`."""
    return Subscriber.objects.filter(status=Subscriber.Status.PENDING).filter(
        Q(last_confirmation_at__lt=before)
        | Q(last_confirmation_at__isnull=True, created_at__lt=before)
    )


def remind(now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    before = now - dt.timedelta(hours=settings.CONFIRM_REMINDER_HOURS)
    reminded = 0
    for pk in _pending(before).filter(reminded_at__isnull=True).values_list("pk", flat=True):
        with transaction.atomic():
            person = (
                Subscriber.objects.select_for_update()
                .filter(pk=pk, status=Subscriber.Status.PENDING, reminded_at__isnull=True)
                .first()
            )
            consent = (
                person
                and person.consents.filter(
                    purpose=ConsentRecord.Purpose.LIST, withdrawn_at__isnull=True
                ).first()
            )
            if consent is None:
                continue
            person.reminded_at = now
            person.save(update_fields=["reminded_at"])
            outbox.queue(person, kind=OutboundEmail.Kind.REMINDER, consent=consent)
            reminded += 1
    return reminded


def expire(now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    before = now - dt.timedelta(days=settings.PENDING_EXPIRY_DAYS)
    expired = 0
    for pk in _pending(before).values_list("pk", flat=True):
        privacy.erase(subscriber_id=pk, reason=NEVER_CONFIRMED)
        expired += 1
    return expired


def tend(now: dt.datetime | None = None) -> dict[str, int]:
    """Expired first: nobody is reminded just before being erased."""
    expired = expire(now)
    return {"reminded": remind(now), "expired": expired}
