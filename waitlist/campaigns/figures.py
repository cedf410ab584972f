"""A started campaign's figures: its messages by where they stand, each mailbox provider's
share, and its results. Counting them reads every row of the campaign, so a worker counts them
and keeps them on the campaign (`Campaign.figures`, `counted_at`): the dispatcher on each run
while it sends, the lane that finishes it, and a worker asked by the campaign's page when they
are older than CAMPAIGN_FIGURES_SECONDS. The page and its poll read what was kept, so they
cost the same for a campaign to ten people as to a million, and say when it was counted."""

import datetime as dt

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from ..engine import sending, workers
from ..models import Campaign, Delivery, SendStatus
from . import cap, waves

COUNT_TASK = "waitlist.tasks.count_campaign"
STATUSES = ("queued", "sending", "sent", "failed", "skipped", "held")
# The send rate is the messages sent since the last count, over the time since: a count older
# than this says nothing of the rate now.
RATE_OVER_AT_MOST = dt.timedelta(minutes=5)


def results(chosen) -> dict[int, dict[str, int]]:
    """The results of each campaign in `chosen`, by id. A bounce is a failed message to an
    address suppressed as a hard bounce; a complaint, a message its recipient marked as spam;
    an unsubscribe it caused, a person who left after it reached them and before anything
    else did."""
    sent = Q(status=Delivery.Status.SENT)
    bounced = Q(status=Delivery.Status.FAILED, subscriber__suppression_reason=sending.HARD_BOUNCE)
    something_later = Delivery.objects.filter(
        subscriber=OuterRef("subscriber"),
        status=Delivery.Status.SENT,
        sent_at__gt=OuterRef("sent_at"),
        sent_at__lte=OuterRef("subscriber__unsubscribed_at"),
    )
    figures = (
        Delivery.objects.filter(campaign__in=chosen)
        .values("campaign")
        .annotate(
            sent=Count("pk", filter=sent),
            failed=Count("pk", filter=Q(status=Delivery.Status.FAILED)),
            skipped=Count("pk", filter=Q(status=Delivery.Status.SKIPPED)),
            bounced=Count("pk", filter=bounced),
            complaints=Count("pk", filter=Q(answer=sending.SPAM_COMPLAINT)),
            waited=Count("pk", filter=Q(cap_waits__gt=0)),
            capped=Count("pk", filter=Q(status=Delivery.Status.SKIPPED, answer=cap.DROPPED)),
            unsubscribes=Count(
                "pk",
                filter=sent
                & Q(subscriber__unsubscribed_at__gte=F("sent_at"))
                & ~Exists(something_later),
            ),
        )
        .order_by()
    )
    return {row.pop("campaign"): row for row in figures}


def by_provider(campaign_id: int) -> dict[str, dict[str, int]]:
    """Per mailbox provider: sent, waiting, deferred, held (its domain refused our sender),
    bounced and complaints."""
    hard = Q(status=SendStatus.FAILED) & waves.HARD_BOUNCES
    rows = (
        Delivery.objects.filter(campaign_id=campaign_id)
        .values("provider")
        .annotate(
            sent=Count("pk", filter=Q(status=SendStatus.SENT)),
            waiting=Count("pk", filter=Q(status__in=[SendStatus.QUEUED, SendStatus.SENDING])),
            deferred=Count("pk", filter=Q(status=SendStatus.QUEUED, deferrals__gt=0)),
            held=Count("pk", filter=Q(status=SendStatus.HELD)),
            bounced=Count("pk", filter=hard),
            complaints=Count(
                "pk", filter=Q(status=SendStatus.FAILED, answer=sending.SPAM_COMPLAINT)
            ),
        )
        .order_by()
    )
    return {row.pop("provider"): row for row in rows}


def count(campaign_id: int) -> dict:
    """Count the campaign's figures and keep them on it; the figures."""
    campaign = Campaign.objects.get(pk=campaign_id)
    now = timezone.now()
    found = dict(
        Delivery.objects.filter(campaign_id=campaign_id)
        .values_list("status").annotate(n=Count("pk")).order_by()
    )  # fmt: skip
    progress = {status: found.get(status, 0) for status in STATUSES}
    progress["total"] = sum(found.values())
    done = progress["sent"] + progress["failed"] + progress["skipped"]
    progress["percent"] = round(100 * done / progress["total"]) if progress["total"] else 0
    before, then = campaign.figures.get("progress"), campaign.counted_at
    rate = 0.0
    if before and then and dt.timedelta(0) < now - then <= RATE_OVER_AT_MOST:
        rate = max(0, progress["sent"] - before["sent"]) / (now - then).total_seconds()
    left = progress["queued"] + progress["sending"]
    progress["rate"] = round(rate, 2)
    progress["eta_seconds"] = round(left / rate) if left and rate else None
    kept = {
        "progress": progress,
        "results": results([campaign_id]).get(campaign_id, {}),
        "providers": by_provider(campaign_id),
    }
    Campaign.objects.filter(pk=campaign_id).update(figures=kept, counted_at=now)
    return kept


EMPTY = {status: 0 for status in STATUSES} | {"total": 0, "percent": 0, "rate": 0.0,
                                              "eta_seconds": None}  # fmt: skip


def progress(campaign: Campaign) -> dict:
    """Its messages by where they stand, as last counted."""
    return campaign.figures.get("progress") or dict(EMPTY)


def ask_for_count(campaign: Campaign) -> bool:
    """Ask a worker to count a started campaign's figures if they are older than
    CAMPAIGN_FIGURES_SECONDS and nobody asked within that time; whether it was asked."""
    if campaign.status in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED):
        return False
    every = settings.CAMPAIGN_FIGURES_SECONDS
    counted = campaign.counted_at
    fresh = counted is not None and timezone.now() - counted < dt.timedelta(seconds=every)
    if fresh or not _first_to_ask(campaign.pk, every):
        return False
    return workers.enqueue(COUNT_TASK, campaign.pk)


def _first_to_ask(campaign_id: int, seconds: float) -> bool:
    try:
        return cache.add(f"campaign:{campaign_id}:counting", 1, max(1, round(seconds)))
    except Exception:  # without the cache, each page asks: the count is still right
        return True
