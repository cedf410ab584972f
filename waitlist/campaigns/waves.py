"""A campaign's sending plan: its waves, made when it starts, and what lets each one go.

- **Warm-up.** A sending domain still in its warm-up (`WarmUp`) may send, on its n-th day,
  `allowance(n)`: 200 on the first day, about ×1.18 a day, 200,000 on the 42nd, then no limit
  (Ghost's curve). A campaign larger than what today still allows goes out in daily waves at
  its start's time of day, the most recently confirmed people first.
- **The canary.** A campaign to at least CAMPAIGN_CANARY_FROM people first goes to a small
  wave; the next one leaves CAMPAIGN_CANARY_MINUTES later, and only if the canary's hard
  bounces and spam complaints stay within their limits. Otherwise the campaign pauses, with the
  figures in its reason; the operator's Resume sends the held wave.
- **The watch.** While it sends, the same limits over the messages of the last
  CAMPAIGN_WATCH_MINUTES pause the campaign.

Rows carry their place in the send order (`Delivery.position`); a campaign lets go the rows up
to `released_through`, which only `release_due` raises."""

import datetime as dt
import logging
import math
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..engine import sending
from ..models import Campaign, CampaignWave, Delivery, SendStatus, WarmUp
from . import notices
from .lifecycle import pause_by_workers

logger = logging.getLogger(__name__)

# The warm-up: FIRST messages on day 0, LAST on day WARM_DAYS - 1, the same factor each day.
FIRST, LAST, WARM_DAYS = 200, 200_000, 42


def allowance(day: int) -> int | None:
    """How many messages the domain may send on its `day`-th day of warm-up; None: no limit."""
    if day >= WARM_DAYS:
        return None
    return round(FIRST * (LAST / FIRST) ** (max(day, 0) / (WARM_DAYS - 1)))


def warm_up_day(on: dt.date) -> int | None:
    """The domain's day of warm-up on that date (0 its first); None once it is warm."""
    first_day = WarmUp.current().first_day
    if first_day is None:
        return None
    day = max(0, (on - first_day).days)
    return day if day < WARM_DAYS else None


def sent_on(day: dt.date) -> int:
    """Campaign messages sent on that day (the site's time zone)."""
    start = timezone.make_aware(dt.datetime.combine(day, dt.time()))
    return Delivery.objects.filter(
        status=SendStatus.SENT, sent_at__gte=start, sent_at__lt=start + dt.timedelta(days=1)
    ).count()


@dataclass(frozen=True)
class Wave:
    kind: str
    day: int
    first: int
    last: int
    leaves_at: dt.datetime
    gated: bool = False

    @property
    def size(self) -> int:
        return self.last - self.first + 1


def plan(count: int, *, start: dt.datetime, day: int | None, sent_today: int = 0) -> list[Wave]:
    """The waves of a campaign to `count` people starting at `start`, on the domain's warm-up
    `day` (None: warm), with `sent_today` already sent today."""
    days: list[tuple[int, int]] = []  # (day after the start, how many)
    left, after = count, 0
    while left > 0:
        allowed = None if day is None else allowance(day + after)
        if allowed is not None and after == 0:
            allowed = max(0, allowed - sent_today)
        size = left if allowed is None else min(left, allowed)
        if size:
            days.append((after, size))
        left -= size
        after += 1
    waves, place = [], 1
    canary = bool(settings.CAMPAIGN_CANARY_FROM) and count >= settings.CAMPAIGN_CANARY_FROM
    wait = dt.timedelta(minutes=settings.CAMPAIGN_CANARY_MINUTES)
    for after, size in days:
        leaves = start + dt.timedelta(days=after)
        if canary and not waves:
            small = min(size, settings.CAMPAIGN_CANARY_MOST,
                        math.ceil(count * settings.CAMPAIGN_CANARY_SHARE))  # fmt: skip
            waves.append(Wave(CampaignWave.Kind.CANARY, after, place, place + small - 1, leaves))
            place, size = place + small, size - small
            if not size:
                continue
            leaves = max(leaves, start + wait)
        kind = CampaignWave.Kind.ALL if len(days) == 1 and not canary else CampaignWave.Kind.DAY
        if canary and len(waves) == 1:
            kind = CampaignWave.Kind.REST if after == 0 else kind
        gated = canary and len(waves) == 1
        waves.append(Wave(kind, after, place, place + size - 1, max(leaves, start), gated))
        place += size
    return waves


def make(campaign: Campaign, count: int, *, now: dt.datetime) -> list[CampaignWave]:
    """Its waves, in the transaction that made the last of its rows; the first is let go at
    once."""
    today = timezone.localdate(now)
    day = warm_up_day(today)
    waves = plan(count, start=now, day=day, sent_today=sent_on(today) if day is not None else 0)
    made = CampaignWave.objects.bulk_create(
        [
            CampaignWave(
                campaign=campaign,
                number=number,
                kind=wave.kind,
                day=wave.day,
                first=wave.first,
                last=wave.last,
                leaves_at=wave.leaves_at,
                gated=wave.gated,
            )  # fmt: skip
            for number, wave in enumerate(waves)
        ]
    )
    release_due(campaign, now=now)
    return made


@dataclass(frozen=True)
class Figures:
    tried: int
    bounced: int
    complained: int

    def problem(self) -> str:
        """What is over its limit, in words; "" if nothing is."""
        over = []
        for what, count, limit in (
            ("hard bounces", self.bounced, settings.CAMPAIGN_BOUNCE_LIMIT),
            ("spam complaints", self.complained, settings.CAMPAIGN_COMPLAINT_LIMIT),
        ):
            if self.tried and count / self.tried > limit:
                over.append(
                    f"{what} {count / self.tried:.1%} ({count:,} of {self.tried:,}), over the "
                    f"{limit:.1%} limit"
                )
        return "; ".join(over)


HARD_BOUNCES = Q(answer=sending.HARD_BOUNCE) | Q(
    *[Q(answer__startswith=f"{code} ") for code in sending.HARD_BOUNCE_CODES], _connector=Q.OR
)


def figures(rows) -> Figures:
    """Of these rows, those tried (sent or failed), hard bounces and spam complaints."""
    tried = rows.filter(status__in=[SendStatus.SENT, SendStatus.FAILED])
    failed = tried.filter(status=SendStatus.FAILED)
    return Figures(
        tried=tried.count(),
        bounced=failed.filter(HARD_BOUNCES).count(),
        complained=failed.filter(answer=sending.SPAM_COMPLAINT).count(),
    )


def release_due(campaign: Campaign, *, now: dt.datetime, override: bool = False) -> int:
    """Let go each wave whose time came, in order; a gated wave only if the waves before it
    stayed within the limits, or with `override` (the operator resumed). Pauses the campaign
    when they did not. Returns how many waves were let go."""
    released = 0
    for wave in campaign.waves.filter(released_at__isnull=True).order_by("number"):
        if wave.leaves_at > now:
            break
        if wave.gated and not override:
            before = Delivery.objects.filter(campaign=campaign, position__lt=wave.first)
            untried = Q(status=SendStatus.SENDING) | Q(status=SendStatus.QUEUED, deferrals=0)
            if before.filter(untried).exists():
                break  # the canary is not all out yet (a deferred message is not waited for)
            problem = figures(before).problem()
            if problem:
                _hold(campaign, wave, problem)
                break
        if not _let_go(campaign, wave, now=now):
            break
        released += 1
    return released


def _let_go(campaign: Campaign, wave: CampaignWave, *, now: dt.datetime) -> bool:
    with transaction.atomic():
        if not CampaignWave.objects.filter(pk=wave.pk, released_at__isnull=True).update(
            released_at=now
        ):
            return False  # another dispatcher let it go
        Campaign.objects.filter(pk=campaign.pk).update(released_through=wave.last)
        if campaign.local_time and wave.day:
            # Its rows wait for their zone's wall-clock time on the wave's day, not the first.
            Delivery.objects.filter(
                campaign=campaign, position__range=(wave.first, wave.last), not_before__isnull=False
            ).update(not_before=F("not_before") + dt.timedelta(days=wave.day))
    campaign.released_through = wave.last
    return True


def _hold(campaign: Campaign, wave: CampaignWave, problem: str) -> None:
    reason = (
        f"Paused before wave {wave.number + 1} of {campaign.waves.count()}: the canary's "
        f"{problem}. The other {wave.size:,}+ people wait. Look into it, then resume to send "
        "the rest anyway, or cancel."
    )
    if pause_by_workers(campaign.pk, reason):
        logger.warning("campaign %s held before wave %s: %s", campaign.pk, wave.number, problem)
        notices.paused(campaign, reason)


def watch(campaign: Campaign, *, now: dt.datetime) -> bool:
    """Pause a sending campaign whose messages of the last CAMPAIGN_WATCH_MINUTES (since its
    start or last resume) bounce or draw complaints over the limits."""
    since = now - dt.timedelta(minutes=settings.CAMPAIGN_WATCH_MINUTES)
    if campaign.watched_since:
        since = max(since, campaign.watched_since)
    recent = figures(Delivery.objects.filter(campaign=campaign, claimed_at__gte=since))
    if recent.tried < settings.CAMPAIGN_WATCH_MIN_SAMPLE:
        return False
    problem = recent.problem()
    if not problem:
        return False
    minutes = max(1, round((now - since).total_seconds() / 60))
    reason = (
        f"Paused while sending: in the last {minutes} minutes, {problem}. Nothing more goes out "
        "until you resume."
    )
    if not pause_by_workers(campaign.pk, reason):
        return False
    logger.warning("campaign %s paused: %s", campaign.pk, problem)
    notices.paused(campaign, reason)
    return True
