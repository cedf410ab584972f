"""The invitations' periodic task: an invitation's lifetime starts when its email is sent, and
ends unused; one whose email will never be sent ends at once, so a later wave may invite the
person again."""

import datetime as dt

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from ..models import Campaign, Delivery, Invitation, SendStatus
from . import codes, events

CHUNK = 2000


def tend(now: dt.datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    return {
        "started": start_lifetimes(now),
        "unsent": end_unsent(now),
        "expired": expire(now),
        "by_code": codes.invite_holders(now),
    }


def start_lifetimes(now: dt.datetime) -> int:
    """Give each invitation whose email was sent its end (`expires_at`), and tell the clinic's
    systems it was sent (invitation.sent)."""
    sent_at = Delivery.objects.filter(
        campaign_id=OuterRef("campaign_id"), subscriber_id=OuterRef("pk"), status=SendStatus.SENT
    ).values("sent_at")[:1]
    waiting = Invitation.objects.filter(
        status=Invitation.Status.INVITED, expires_at__isnull=True, campaign__isnull=False
    )
    started = 0
    while True:
        with transaction.atomic():
            rows = list(
                waiting.annotate(email_sent_at=Subquery(sent_at))
                .filter(email_sent_at__isnull=False)
                .select_related("subscriber", "access_code")
                .select_for_update(of=("self",))
                .order_by("pk")[:CHUNK]
            )
            for row in rows:
                row.expires_at = row.email_sent_at + dt.timedelta(days=row.lifetime_days)
            Invitation.objects.bulk_update(rows, ["expires_at"])
            events.sent(rows)
        started += len(rows)
        if len(rows) < CHUNK:
            return started


def end_unsent(now: dt.datetime) -> int:
    """Invitations whose email will never go: its wave was cancelled, or the message failed or
    was skipped (the person left meanwhile)."""
    unsent = Delivery.objects.filter(
        campaign_id=OuterRef("campaign_id"),
        subscriber_id=OuterRef("pk"),
        status__in=[SendStatus.FAILED, SendStatus.SKIPPED],
    )
    rows = Invitation.objects.filter(
        status=Invitation.Status.INVITED, expires_at__isnull=True, campaign__isnull=False
    ).filter(Q(campaign__status=Campaign.Status.CANCELLED) | Exists(unsent))
    return rows.expire_many(now=now, description="Its email was never sent.")


def expire(now: dt.datetime) -> int:
    rows = Invitation.objects.filter(status=Invitation.Status.INVITED, expires_at__lte=now)
    return rows.expire_many(now=now, description="Its lifetime passed unused.")
