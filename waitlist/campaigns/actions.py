"""What operators do with a campaign: check it, test it, schedule it, steer it while it sends."""

import datetime as dt
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.http.request import validate_host
from django.urls import Resolver404, resolve
from django.utils import timezone

from ..engine import discreet, lint, messages, senderdomain, workers
from ..models import Campaign, Delivery, Interest, OpenState, USState
from ..people import tokens
from ..people.dashboard import Table
from . import dispatch, emails, timezones, waves
from . import figures as campaign_figures
from .lifecycle import CampaignError, move

logger = logging.getLogger(__name__)


@dataclass
class ZoneWave:
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
    zones: list[ZoneWave] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Its waves (`waves.plan`) if it started at `when`: a canary, a warming domain's days.
    plan: list[waves.Wave] = field(default_factory=list)
    # The From domain's SPF, DKIM and DMARC (`senderdomain.check`); its problems refuse the
    # campaign unless an operator gives a reason to send anyway (`override`).
    domain: senderdomain.Report | None = None
    override: str = ""

    @property
    def domain_problems(self) -> list[str]:
        return self.domain.problems if self.domain else []

    @property
    def ok(self) -> bool:
        return not self.problems and (bool(self.override) or not self.domain_problems)

    def refusal(self) -> str:
        """Why it may not leave, in one message."""
        if self.problems:
            return " ".join(self.problems)
        return (
            "The sender's domain failed its checks: " + " ".join(self.domain_problems)
            + " Fix the records, or give a reason to send anyway."
        )  # fmt: skip

    def why(self, said: str) -> str:
        """What the campaign's history says of the step: `said`, and any override's reason."""
        if self.override and self.domain_problems:
            return f"{said} Sent despite the sender's domain checks, because: {self.override}"
        return said


def zone_waves(campaign: Campaign, *, when: dt.datetime | None) -> list[ZoneWave]:
    """When each time zone's people get it: all at `when`, or, for a local-time campaign, at
    its wall-clock time in each zone. Earliest first."""
    by_state = campaign.audience().values("state").annotate(people=Count("pk")).order_by()
    people: dict[str, int] = {}
    for row in by_state:
        zone = timezones.zone_name(row["state"])
        people[zone] = people.get(zone, 0) + row["people"]
    if when is None:
        return []
    wall = timezones.wall_clock(when)
    return sorted(
        (
            ZoneWave(zone, timezones.at_in(wall, zone) if campaign.local_time else when, count)
            for zone, count in people.items()
        ),
        key=lambda wave: (wave.leaves_at, wave.zone),
    )


def audience_size(campaign: Campaign) -> int:
    return campaign.audience().count()


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


def unsubscribe_links_work() -> str:
    """What would make a person's unsubscribe link dead, checked without leaving the process:
    it must name a host this site answers to and reach the unsubscribe page with a token it
    reads back. "" when nothing would."""
    token = tokens.make_token(tokens.UNSUBSCRIBE, key="preflight")
    link = urlsplit(messages.link_pattern("waitlist:unsubscribe").format(token))
    if not validate_host(link.hostname or "", settings.ALLOWED_HOSTS):
        return (
            f"The unsubscribe links would be dead: they lead to {link.hostname}, which is not in "
            "ALLOWED_HOSTS (check SITE_URL)."
        )
    try:
        page = resolve(link.path)
        tokens.read_token(tokens.UNSUBSCRIBE, page.kwargs["token"])
    except (Resolver404, KeyError, tokens.BadToken):
        return "The unsubscribe links would be dead: they do not reach the unsubscribe page."
    return ""


def preflight(
    campaign: Campaign, *, when: dt.datetime | None = None, override: str = ""
) -> Preflight:
    """Whether the campaign may leave at `when` (its send time if not given); `override`, an
    operator's reason to send despite the sender's domain checks."""
    problems, notes = [], []
    when = when or campaign.send_at
    people = campaign.audience()
    size = people.count()
    if campaign.kind == Campaign.Kind.INVITATION:
        problems += wave_problems(campaign, when=when)
    if size == 0:
        problems.append(
            "Nobody would be invited: nobody of its segment in an open state is waiting."
            if campaign.kind == Campaign.Kind.INVITATION
            else "The audience is empty."
        )
    planned = zone_waves(campaign, when=when)
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
    if dead_links := unsubscribe_links_work():
        problems.append(dead_links)
    copy = emails.campaign_copy(
        emails.campaign_template(campaign), campaign_id=campaign.pk or 0, subscriber_id=0,
        email="preflight@example.com", token_key="preflight",
    )  # fmt: skip
    problems += [f"The email: {finding}" for finding in lint.lint(html=copy.html, text=copy.text)]
    problems += discreet_problems(campaign)
    rate = min(settings.CAMPAIGN_RATE_PER_SECOND, settings.CAMPAIGN_RATE_PER_HOUR / 3600)
    largest = max((wave.people for wave in planned), default=size)
    estimated = int((largest if campaign.local_time else size) / rate) if rate else 0
    return Preflight(
        audience=size, problems=problems, estimated_seconds=estimated, zones=planned, notes=notes,
        plan=planned_waves(size, when=when), domain=senderdomain.check(),
        override=" ".join(override.split())[:300],
    )  # fmt: skip


def discreet_problems(campaign: Campaign) -> list[str]:
    """Condition words where discreet mode forbids them (`engine.discreet`)."""
    return discreet.findings({
        "the campaign's name": campaign.name,
        "the subject": campaign.subject,
        "the preheader": campaign.preheader,
        **discreet.sender_fields(),
        "a link's path": discreet.link_paths(campaign.body_html),
    })  # fmt: skip


def wave_problems(campaign: Campaign, *, when: dt.datetime | None) -> list[str]:
    """What an invitation wave lacks: how many to invite, and states open on its day."""
    problems = []
    if not campaign.invite_capacity:
        problems.append("Say how many people it invites.")
    day = timezone.localdate(max(when or timezone.now(), timezone.now()))
    open_states = OpenState.objects.codes(day)
    closed = [USState(state).label for state in campaign.audience_states
              if state not in open_states]  # fmt: skip
    if closed:
        problems.append(
            f"Not open on {day:%B} {day.day}: {', '.join(closed)}. A wave never invites anyone "
            "outside an open state: open it under Open states, or take it out of the wave."
        )
    elif not open_states:
        problems.append(f"No state is open on {day:%B} {day.day}: open one under Open states.")
    return problems


def planned_waves(size: int, *, when: dt.datetime | None) -> list[waves.Wave]:
    """The waves a campaign to `size` people would go in if it started at `when`."""
    if not size or when is None:
        return []
    today = timezone.localdate(when)
    day = waves.warm_up_day(today)
    sent = waves.sent_on(today) if day is not None else 0
    return waves.plan(size, start=when, day=day, sent_today=sent)


def _people(count: int) -> str:
    return "person" if count == 1 else "people"


def send_test(campaign: Campaign, *, to: str) -> str:
    """Send the campaign as a recipient would get it (with dead personal links) to `to`."""
    template = emails.campaign_template(campaign)
    copy = emails.campaign_copy(
        template, campaign_id=campaign.pk, subscriber_id=0, email=to, token_key="test"
    )
    message = messages.message(copy)
    message.extra_headers["Message-ID"] = messages.message_id(
        f"test.{campaign.pk}", int(timezone.now().timestamp())
    )
    message.subject = f"[Test] {message.subject}"
    message.send()
    campaign.test_sent_at, campaign.tested_version = timezone.now(), campaign.seen_version()
    Campaign.objects.filter(pk=campaign.pk).update(
        test_sent_at=campaign.test_sent_at, tested_version=campaign.tested_version
    )
    return message.extra_headers["Message-ID"]


# --- what operators do: each step one transition, taken by lifecycle.move -----------------

# A send time further ahead than this is shown as a likely typo on the confirmation page.
FAR_AHEAD = dt.timedelta(days=30)


def _dispatch_on_commit() -> None:
    """Ask a worker to run the dispatcher once this transaction commits, rather than at beat's
    next tick (which starts it anyway should the broker be down)."""
    transaction.on_commit(lambda: workers.enqueue(dispatch.DISPATCH_TASK))


def schedule(campaign: Campaign, *, by=None, override: str = "") -> Preflight:
    """Leave at its send time; refused unless it is still ahead and the preflight passes."""
    if campaign.send_at is None:
        raise CampaignError("Set a send time first (and save), or send now.")
    if dispatch.starts_at(campaign) <= timezone.now():
        raise CampaignError(PAST_SEND_TIME)
    check = preflight(campaign, override=override)
    if not check.ok:
        raise CampaignError(check.refusal())
    move(campaign, "schedule", by=by, why=check.why(f"To leave {_when(campaign.send_at)}."))
    return check


def send_now(campaign: Campaign, *, by=None, override: str = "") -> Preflight:
    """Leave at once: the dispatcher starts it as soon as this commits."""
    if campaign.local_time:
        raise CampaignError(LOCAL_TIME_NOT_NOW)
    now = timezone.now()
    check = preflight(campaign, when=now, override=override)
    if not check.ok:
        raise CampaignError(check.refusal())
    with transaction.atomic():
        move(campaign, "send_now", by=by, why=check.why("Sent now."), now=now)
        _dispatch_on_commit()
    return check


PAST_SEND_TIME = "This time has passed: send it now instead, or set a new send time."
LOCAL_TIME_NOT_NOW = (
    "A campaign for each recipient's local time leaves on its schedule: use Schedule, or untick "
    "“at this time in each recipient's time zone”."
)


def _when(moment: dt.datetime) -> str:
    return f"at {timezone.localtime(moment):%b %d, %Y %H:%M %Z}"


def unschedule(campaign: Campaign, *, by=None, why: str = "") -> None:
    move(campaign, "unschedule", by=by, why=why)


def pause(campaign: Campaign, *, by=None, reason: str = "") -> None:
    """Workers stop within a few messages and put their claimed rows back. The workers pause
    with a `reason`, shown on the campaign until it resumes."""
    move(campaign, "pause", by=by, why=reason, reason=reason)


def resume(campaign: Campaign, *, by=None) -> None:
    """Sending again; a wave held back by the canary's figures goes too: the operator's word."""
    with transaction.atomic():
        move(campaign, "resume", by=by)
        waves.release_due(campaign, now=timezone.now(), override=True)
        Delivery.objects.filter(campaign=campaign).release_held()
        _dispatch_on_commit()


def cancel(campaign: Campaign, *, by=None) -> int:
    """Nothing more goes out; rows not yet sent are skipped. Returns how many."""
    with transaction.atomic():
        move(campaign, "cancel", by=by, now=timezone.now())
        unsent = Delivery.objects.filter(
            campaign=campaign, status__in=[Delivery.Status.QUEUED, Delivery.Status.HELD]
        )
        return unsent.skip("campaign cancelled")


def retry_failed(campaign: Campaign, *, by=None) -> int:
    """Queue the failed rows of people still mailable again: a sending or sent campaign sends
    them now, a paused one when it resumes. Returns how many."""
    rows = Delivery.objects.filter(campaign=campaign).failed()
    rows = rows.filter(subscriber__suppressed_at__isnull=True)
    with transaction.atomic():
        count = rows.count()
        move(campaign, "retry_failed", by=by, why=f"{count} failed message(s) queued again.")
        retried = rows.retry()
        if campaign.status == Campaign.Status.SENDING:
            _dispatch_on_commit()
    return retried


# What a campaign did, as its page and the dashboard show it.
RESULTS = {
    "sent": "Sent",
    "failed": "Failed",
    "skipped": "Skipped",
    "bounced": "Bounced",
    "complaints": "Spam complaints",
    "unsubscribes": "Unsubscribes it caused",
    "waited": "Waited for the frequency cap",
    "capped": "Left out by the frequency cap",
}


def results_table() -> Table:
    """Every campaign that went out, newest first, with its results: the dashboard's table."""
    went_out = Campaign.objects.exclude(
        status__in=[Campaign.Status.DRAFT, Campaign.Status.SCHEDULED]
    ).order_by("-started_at", "-pk")
    figures = campaign_figures.results(went_out)
    rows = [
        [
            campaign.name,
            campaign.get_status_display(),
            timezone.localtime(campaign.started_at).date() if campaign.started_at else "",
            *(figures.get(campaign.pk, {}).get(name, 0) for name in RESULTS),
        ]
        for campaign in went_out
    ]
    columns = ["Campaign", "Status", "Started", *RESULTS.values()]
    return Table("campaigns", "Campaigns that went out", columns, rows)
