"""What operators do with a campaign: check it, test it, schedule it, steer it while it sends."""

import datetime as dt
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from . import deliveries, emails, timezones
from .models import Campaign, Delivery, Interest, USState

logger = logging.getLogger(__name__)


class CampaignError(Exception):
    """An operator asked for something the campaign's state does not allow."""


@dataclass
class Wave:
    """The people of one time zone and when their copies leave."""

    zone: str
    leaves_at: dt.datetime
    people: int

    @property
    def local(self) -> dt.datetime:
        return self.leaves_at.astimezone(ZoneInfo(self.zone))


@dataclass
class Preflight:
    audience: int
    problems: list[str]
    estimated_seconds: int
    waves: list[Wave] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def waves(campaign: Campaign, *, when: dt.datetime | None) -> list[Wave]:
    """When each time zone's people get it: all at `when`, or, for a local-time campaign, at
    its wall-clock time in each zone. Earliest first."""
    by_state = deliveries.audience(campaign).values("state").annotate(people=Count("pk")).order_by()
    people: dict[str, int] = {}
    for row in by_state:
        zone = timezones.zone_name(row["state"])
        people[zone] = people.get(zone, 0) + row["people"]
    if when is None:
        return []
    wall = timezones.wall_clock(when)
    return sorted(
        (
            Wave(zone, timezones.at_in(wall, zone) if campaign.local_time else when, count)
            for zone, count in people.items()
        ),
        key=lambda wave: (wave.leaves_at, wave.zone),
    )


def audience_size(campaign: Campaign) -> int:
    return deliveries.audience(campaign).count()


def audience_label(campaign: Campaign) -> str:
    """The segment as an operator reads it: "People interested in Sleep; in Texas"."""
    interests, states = dict(Interest.choices), dict(USState.choices)
    parts = []
    if campaign.audience_interests:
        names = ", ".join(interests.get(value, value) for value in campaign.audience_interests)
        parts.append(f"interested in {names}")
    if campaign.audience_states:
        parts.append(
            "in " + ", ".join(states.get(value, value) for value in campaign.audience_states)
        )
    if campaign.audience_milestone_id:
        parts.append(f"who reached “{campaign.audience_milestone}”")
    return "People " + "; ".join(parts) if parts else "Everyone on the list"


def unsubscribe_endpoint_answers(*, timeout: float = 5) -> bool:
    """Ask our own unsubscribe page, as a mail provider would, whether it is up. A bad token
    must get the friendly 400 page; no answer, or a 5xx, means the links would be dead."""
    url = settings.SITE_URL + reverse("waitlist:unsubscribe", args=["preflight-check"])
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status < 500
    except urllib.error.HTTPError as error:
        return error.code < 500
    except (urllib.error.URLError, OSError):
        return False


def preflight(campaign: Campaign, *, when: dt.datetime | None = None) -> Preflight:
    """Whether the campaign may leave at `when` (its send time if not given)."""
    problems, notes = [], []
    when = when or campaign.send_at
    people = deliveries.audience(campaign)
    size = people.count()
    if size == 0:
        problems.append("The audience is empty.")
    planned = waves(campaign, when=when)
    for wave in planned:
        local = wave.local
        if not timezones.quiet(local.time()):
            continue
        where = f"{local:%H:%M} in {wave.zone} ({wave.people} {_people(wave.people)})"
        if campaign.local_time and not campaign.quiet_hours_override:
            problems.append(
                f"It would arrive at {where}, in quiet hours (21:00–08:00): choose a daytime "
                "hour, or tick “send in quiet hours”."
            )
            break
        notes.append(f"It arrives at {where}, in quiet hours (21:00–08:00).")
    if campaign.tested_version != campaign.seen_version():
        problems.append(
            "Send a test of this version first: the sender, subject, preheader or body changed "
            "since the last one."
            if campaign.test_sent_at
            else "Send a test first."
        )
    if not unsubscribe_endpoint_answers():
        problems.append("The unsubscribe page does not answer; its links would be dead.")
    rate = min(settings.CAMPAIGN_RATE_PER_SECOND, settings.CAMPAIGN_RATE_PER_HOUR / 3600)
    largest = max((wave.people for wave in planned), default=size)
    estimated = int((largest if campaign.local_time else size) / rate) if rate else 0
    return Preflight(
        audience=size, problems=problems, estimated_seconds=estimated, waves=planned, notes=notes
    )


def _people(count: int) -> str:
    return "person" if count == 1 else "people"


def send_test(campaign: Campaign, *, to: str) -> str:
    """Send the campaign as a recipient would get it (with dead personal links) to `to`."""
    template = emails.campaign_template(campaign)
    copy = emails.campaign_copy(
        template, campaign_id=campaign.pk, subscriber_id=0, email=to, token_key="test"
    )
    message = emails.message(copy)
    message.extra_headers["Message-ID"] = emails.message_id(
        f"test.{campaign.pk}", int(timezone.now().timestamp())
    )
    message.subject = f"[Test] {message.subject}"
    message.send()
    campaign.test_sent_at, campaign.tested_version = timezone.now(), campaign.seen_version()
    Campaign.objects.filter(pk=campaign.pk).update(
        test_sent_at=campaign.test_sent_at, tested_version=campaign.tested_version
    )
    return message.extra_headers["Message-ID"]


def schedule(campaign: Campaign, *, send_at: dt.datetime | None = None) -> Preflight:
    """Schedule for `send_at`, or now; refused unless the preflight passes."""
    if campaign.status not in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED):
        raise CampaignError(
            f"A {campaign.get_status_display().lower()} campaign can't be scheduled."
        )
    check = preflight(campaign, when=send_at or timezone.now())
    if not check.ok:
        raise CampaignError(" ".join(check.problems))
    Campaign.objects.filter(pk=campaign.pk).update(
        status=Campaign.Status.SCHEDULED, send_at=send_at or timezone.now()
    )
    return check


def unschedule(campaign: Campaign) -> None:
    Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SCHEDULED).update(
        status=Campaign.Status.DRAFT
    )


def pause(campaign: Campaign) -> bool:
    """Workers stop within a few messages and put their claimed rows back."""
    return bool(
        Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).update(
            status=Campaign.Status.PAUSED
        )
    )


def resume(campaign: Campaign) -> bool:
    resumed = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.PAUSED).update(
        status=Campaign.Status.SENDING, pause_reason=""
    )
    deliveries.forget_dispatch(campaign.pk)
    return bool(resumed)


def cancel(campaign: Campaign) -> int:
    """Nothing more goes out; rows not yet sent are skipped. Returns how many."""
    stoppable = [Campaign.Status.SCHEDULED, Campaign.Status.SENDING, Campaign.Status.PAUSED]
    cancelled = Campaign.objects.filter(pk=campaign.pk, status__in=stoppable).update(
        status=Campaign.Status.CANCELLED, finished_at=timezone.now()
    )
    if not cancelled:
        raise CampaignError("Only a scheduled, sending or paused campaign can be cancelled.")
    return Delivery.objects.filter(campaign=campaign, status=Delivery.Status.QUEUED).update(
        status=Delivery.Status.SKIPPED, answer="campaign cancelled"
    )


def retry_failed(campaign: Campaign) -> int:
    """Queue the failed rows of still-eligible people again and send them."""
    retried = (
        Delivery.objects.filter(campaign=campaign, status=Delivery.Status.FAILED)
        .filter(subscriber__suppressed_at__isnull=True)
        .update(status=Delivery.Status.QUEUED, attempts=0, not_before=None)
    )
    if retried:
        Campaign.objects.filter(
            pk=campaign.pk, status__in=[Campaign.Status.SENT, Campaign.Status.PAUSED]
        ).update(status=Campaign.Status.SENDING, finished_at=None)
        deliveries.forget_dispatch(campaign.pk)
    return retried


def progress(campaign: Campaign) -> dict:
    counts = Delivery.objects.filter(campaign=campaign).aggregate(
        total=Count("pk"),
        **{
            status: Count("pk", filter=Q(status=status))
            for status in ("queued", "sending", "sent", "failed", "skipped")
        },
    )
    done = counts["sent"] + counts["failed"] + counts["skipped"]
    counts["percent"] = round(100 * done / counts["total"]) if counts["total"] else 0
    # The rate over the last minute, and when the rest is done at that rate.
    recent = Delivery.objects.filter(
        campaign=campaign, status="sent", sent_at__gte=timezone.now() - RATE_WINDOW
    ).count()
    rate = recent / RATE_WINDOW.total_seconds()
    left = counts["queued"] + counts["sending"]
    counts["rate"] = round(rate, 2)
    counts["eta_seconds"] = round(left / rate) if left and rate else None
    return counts


RATE_WINDOW = dt.timedelta(minutes=1)
