"""Campaign deliveries: one row per recipient, made when the campaign starts with the
recipient's mailbox provider, and sent by the one sender (`sending`) in lanes.

A lane is one provider's share of one campaign, sent by one worker at a time: each run claims
what the provider's pace allows now, sends it, and asks to run again when more may go. A
provider has as many lanes as its pace has sessions; the dispatcher opens the lanes of every
provider with mail due and reopens one whose worker died (its mark, kept in the cache for a
lease, expired)."""

import contextlib
import datetime as dt
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Case, Count, DateTimeField, F, Max, Value, When, Window
from django.db.models.functions import Cast, RowNumber
from django.utils import timezone

from ..engine import messages, paces, sending, workers
from ..models import Campaign, Delivery, Invitation, Provider, SendStatus, Subscriber
from ..models.invites import invite_wave
from ..people import domains, places, suppression
from . import cap, emails, figures, timezones, waves
from .lifecycle import CampaignError, move, move_if_sending, pause_by_workers

logger = logging.getLogger(__name__)

# Rows one run of a lane claims at most.
RUN_MOST = 500
# People whose rows a starting campaign makes in one transaction.
CHUNK = 10_000
LANE_TASK = "waitlist.tasks.send_campaign_lane"
DISPATCH_TASK = "waitlist.tasks.dispatch_campaigns"


def lease() -> dt.timedelta:
    """How long a claimed row may stay unmarked before another worker may take it."""
    return dt.timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS)


def create_deliveries(campaign: Campaign, people=None, leaves=None, *, after: int = 0) -> int:
    """One row per recipient in one statement, with their mailbox provider and their place in
    the send order (the most recently confirmed first, from `after` + 1); running it twice adds
    nobody twice. A local-time campaign's rows wait (`not_before`) for their zone's wall-clock
    send time. SQLite needs the `WHERE` to tell the upsert's `ON CONFLICT` from a join's `ON`;
    PostgreSQL takes the same text. `people` (its audience) and `leaves` (when each row may
    leave): a chunk of a starting campaign's people, or those of a journey's step due now,
    kept out of quiet hours."""
    people = (campaign.audience() if people is None else people).annotate(
        leaves=_leaves(campaign) if leaves is None else leaves,
        provider=domains.provider(),
        place=Window(RowNumber(), order_by=F("confirmed_number").desc()) + after,
    )
    columns = people.values_list("id", "leaves", "provider", "place")
    select, params = columns.query.sql_with_params()
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (campaign_id, subscriber_id, not_before, provider, position)"
            " SELECT %s, audience.id, audience.leaves, audience.provider, audience.place"
            f" FROM ({select}) AS audience WHERE true"
            " ON CONFLICT (campaign_id, subscriber_id) DO NOTHING",
            [campaign.pk, *params],
        )
        return cursor.rowcount


def make_rows(campaign_id: int, *, now: dt.datetime) -> bool:
    """Make a started campaign's rows, CHUNK people a transaction, each committed with how far
    it got: no transaction holds the campaign for long, a dispatcher that dies leaves the rest
    to the next, and one that runs out of its time (half of beat's interval) asks for the next
    run at once. One dispatcher at a time: another passes over the campaign while it is locked.
    With the last chunk its waves are made and the database's statistics of the rows renewed
    (the claims' plan must not wait for autovacuum). True once every row is made."""
    deadline = time.monotonic() + settings.CAMPAIGN_DISPATCH_SECONDS / 2
    while True:
        with transaction.atomic():
            campaign = (
                Campaign.objects.select_for_update(skip_locked=True)
                .filter(pk=campaign_id, status=Campaign.Status.SENDING)
                .first()
            )
            if campaign is None or campaign.rows_from is None:
                return campaign is not None  # another dispatcher has it, or it is done
            people = campaign.audience().filter(confirmed_number__lt=campaign.rows_from)
            ranked = people.order_by("-confirmed_number").values_list("confirmed_number", flat=True)
            edge = ranked[CHUNK - 1 : CHUNK].first()  # None: fewer than a chunk are left
            if edge is not None:
                people = people.filter(confirmed_number__gte=edge)
            campaign.rows_made += create_deliveries(campaign, people, after=campaign.rows_made)
            campaign.rows_from = edge
            campaign.save(update_fields=["rows_from", "rows_made"])
            if edge is None:
                waves.make(campaign, campaign.rows_made, now=now)
        if edge is None:
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {Delivery._meta.db_table}")
            return True
        if time.monotonic() > deadline:
            workers.enqueue(DISPATCH_TASK)  # not waiting for beat's next tick
            return False


def _leaves(campaign: Campaign):
    """When each person's copy may leave: at once, or at the send time's wall-clock time in
    the person's zone (by their state)."""
    moment = DateTimeField()
    if not campaign.local_time or campaign.send_at is None:
        return Cast(Value(None), moment)  # typed: PostgreSQL binds a bare NULL as text
    wall = timezones.wall_clock(campaign.send_at)
    states: dict[str, list[str]] = {}
    for state, zone in timezones.STATE_ZONES.items():
        states.setdefault(zone, []).append(state)
    return Case(
        *[
            When(state__in=members, then=Value(timezones.at_in(wall, zone), output_field=moment))
            for zone, members in states.items()
        ],
        default=Value(timezones.at_in(wall, settings.TIME_ZONE), output_field=moment),
        output_field=moment,
    )


def starts_at(campaign: Campaign) -> dt.datetime:
    """When the dispatcher starts a scheduled campaign: its send time, or for a local-time one
    the moment its earliest zone reaches that wall-clock time."""
    if campaign.local_time:
        return timezones.first_wave(campaign.send_at)
    return campaign.send_at


def dispatch() -> dict:
    """Run by beat every 30 s; safe when two run at once. Starts due campaigns, takes back rows
    whose worker died, hands out batches, and closes campaigns with nothing left to send."""
    now = timezone.now()
    started = []
    soon = Campaign.objects.filter(status=Campaign.Status.SCHEDULED, send_at__lte=now + LOOKAHEAD)
    for campaign in soon:
        if starts_at(campaign) > now:
            continue
        try:
            with transaction.atomic():
                places.number_new()  # everyone confirmed has their number: none is left out
                top = Subscriber.objects.aggregate(top=Max("confirmed_number"))["top"] or 0
                move(campaign, "start", why="The dispatcher started it: its send time came.",
                     now=now, rows_from=top + 1)  # fmt: skip
                if campaign.kind == Campaign.Kind.INVITATION:
                    invite_wave(campaign, now=now)
        except CampaignError:
            continue  # another dispatcher started it, or an operator took it back
        started.append(campaign.pk)
    opened = 0
    for campaign in Campaign.objects.filter(status=Campaign.Status.SENDING):
        if campaign.rows_from is not None and not make_rows(campaign.pk, now=now):
            continue  # its rows are still being made: nothing goes before they all exist
        campaign.deliveries.expired(lease()).requeue()
        waves.release_due(campaign, now=now)
        campaign = Campaign.objects.get(pk=campaign.pk)  # as the waves left it
        if campaign.status != Campaign.Status.SENDING or waves.watch(campaign, now=now):
            continue  # held before a wave, or paused by the watch
        opened += open_lanes(campaign)
        finish_if_done(campaign.pk)
    return {"started": started, "lanes": opened}


# A scheduled campaign is looked at this long before its send time: a local-time campaign's
# first zone may reach the wall-clock time that much earlier.
LOOKAHEAD = dt.timedelta(days=2)


def released(campaign: Campaign):
    """Its rows that may go: those of the waves let go so far."""
    rows = Delivery.objects.filter(campaign_id=campaign.pk)
    if campaign.released_through is None:
        return rows
    return rows.filter(position__lte=campaign.released_through)


def open_lanes(campaign: Campaign) -> int:
    """Open the lanes of each provider with mail due that are not running; returns how many."""
    campaign_id, due = campaign.pk, released(campaign).due()
    opened = 0
    for provider in Provider.values:
        if not due.filter(provider=provider).exists():
            continue
        for lane in range(paces.pace_of(provider).sessions):
            if _mark_lane(campaign_id, provider, lane, seconds=lease().total_seconds(), add=True):
                workers.enqueue(LANE_TASK, campaign_id, provider, lane)
                opened += 1
    return opened


def run_lane(campaign_id: int, provider: str, lane: int) -> sending.Result:
    """One run of a lane: send what may go now, then run again when more may, or end."""
    batch = CampaignBatch(campaign_id, provider)
    result = sending.send(batch)
    wait = _next_run(batch, result)
    if wait is not None:
        _mark_lane(campaign_id, provider, lane, seconds=wait + lease().total_seconds())
        workers.enqueue(LANE_TASK, campaign_id, provider, lane, countdown=wait)
    else:
        _forget_lane(campaign_id, provider, lane)
        finish_if_done(campaign_id)  # the last lane closes it, not the next dispatch
    return result


def _next_run(batch: "CampaignBatch", result: sending.Result) -> float | None:
    """Seconds until the lane should run again; None: it ends. At once while mail is due (a
    message deferred for its own sake does not hold the others back), when the pace allows
    if it said to wait, or when the soonest deferred message comes due within a lease."""
    if batch.campaign is None:
        return None  # paused, cancelled or sent meanwhile
    if result.retry_in is not None and (not result.claimed or result.released):
        # The provider's pace or the site's hourly limit: nothing may go before then.
        return result.retry_in
    queued = batch.rows().queued()
    if queued.due().exists():
        return 0
    soonest = queued.filter(not_before__isnull=False).order_by("not_before").first()
    if soonest is None:
        return None
    wait = (soonest.not_before - timezone.now()).total_seconds()
    return max(0.0, wait) if wait <= lease().total_seconds() else None


def _lane_key(campaign_id: int, provider: str, lane: int) -> str:
    return f"campaign:{campaign_id}:lane:{provider}:{lane}"


def _mark_lane(campaign_id: int, provider: str, lane: int, *, seconds: float, add=False) -> bool:
    """Mark the lane as running for `seconds`; with `add`, only if it is not marked (False
    then). Without the cache, every lane counts as not running: a lane opened twice sends no
    message twice, it only sends at twice its share of sessions until one of them ends."""
    key, timeout = _lane_key(campaign_id, provider, lane), max(1, round(seconds))
    try:
        if add:
            return cache.add(key, 1, timeout)
        cache.set(key, 1, timeout)
    except Exception:
        logger.warning("campaign %s: the cache is unavailable; lane %s:%s is not marked",
                       campaign_id, provider, lane)  # fmt: skip
    return True


def _forget_lane(campaign_id: int, provider: str, lane: int) -> None:
    with contextlib.suppress(Exception):
        cache.delete(_lane_key(campaign_id, provider, lane))


def finish_if_done(campaign_id: int) -> bool:
    """A sending campaign with nothing queued or being sent is sent; one whose only mail left
    was held back (its domain refused our sender) pauses, for an operator to resume. A
    journey's email never finishes: more people come due while it is switched on."""
    if Campaign.objects.filter(pk=campaign_id, kind=Campaign.Kind.JOURNEY).exists():
        return False
    rows = Delivery.objects.filter(campaign_id=campaign_id)
    if rows.queued().exists() or rows.claimed().exists():
        return False
    held = rows.filter(status=SendStatus.HELD)
    if held.exists():
        return pause_for_held(campaign_id, held)
    finished = move_if_sending(campaign_id, "finish", why="Nothing was left to send.",
                               now=timezone.now())  # fmt: skip
    if finished:
        figures.count(campaign_id)  # its page shows the figures it ended with
    return finished


def pause_for_sender(campaign_id: int, answer: str) -> bool:
    """Pause a sending campaign because a server refused our sender's authentication."""
    reason = (
        "Paused: a receiving server refused our sender's authentication "
        f"({answer[:300]}). Nobody was suppressed, and nothing more is sent. Set up "
        "SPF, DKIM and DMARC for the From address's domain, then resume: the unsent "
        "messages go out then."
    )
    return pause_by_workers(campaign_id, reason)


def pause_for_held(campaign_id: int, held) -> bool:
    """Pause: the rest went out, and the mail to the domains that refused our sender waits."""
    by_domain = (
        held.annotate(domain=domains.domain("subscriber__email"))
        .values("domain").annotate(messages=Count("pk")).order_by("-messages", "domain")
    )  # fmt: skip
    listed = ", ".join(f"{row['domain']} ({row['messages']:,})" for row in by_domain[:5])
    answer = held.values_list("answer", flat=True).first() or ""
    reason = (
        f"Paused: everything else went out; the mail to {listed} is held because their "
        f"servers refused our sender's authentication ({answer[:200]}). Nobody was suppressed. "
        "Set up SPF, DKIM and DMARC for the From address's domain, then resume: the held "
        "messages go out then."
    )
    return pause_by_workers(campaign_id, reason)


class CampaignBatch(sending.Batch):
    """One run of a lane: the due rows of one campaign to one provider's mailboxes, as many as
    its pace allows now."""

    model = Delivery
    max_attempts = 5
    unreachable_wait = 30
    skipped_answer = "no longer subscribed"
    sender_refused_wait = 0  # the campaign pauses: its rows wait for Resume

    suppress = staticmethod(suppression.suppress)

    def __init__(self, campaign_id: int, provider: str):
        self.campaign_id, self.provider = campaign_id, provider
        self.pace = paces.pace_of(provider)
        self.campaign: Campaign | None = None
        self._template: messages.Template | None = None
        self.limiter = sending.RateLimiter(
            per_second=settings.CAMPAIGN_RATE_PER_SECOND, per_hour=settings.CAMPAIGN_RATE_PER_HOUR
        )

    def still_wanted(self) -> bool:
        campaign = Campaign.objects.filter(
            pk=self.campaign_id, status=Campaign.Status.SENDING
        ).first()
        if campaign is not None and self._template is None:
            self._template = emails.campaign_template(campaign)
        self.campaign = campaign
        return campaign is not None

    def rows(self):
        return released(self.campaign).filter(provider=self.provider)

    def lease(self) -> dt.timedelta:
        return lease()

    def allowance(self) -> int:
        granted = paces.reserve(self.pace, RUN_MOST)
        self.limiter.chunk = max(1, min(self.limiter.chunk, granted))  # the site's rate too
        return granted

    def release(self, unsent: int) -> None:
        paces.give_back(self.pace, unsent)
        self.limiter.give_back()

    def copies(self, claimed: list[tuple[int, int]]) -> dict[int, messages.Copy]:
        mailable = Subscriber.objects.mailable()
        if self.campaign.kind == Campaign.Kind.JOURNEY:  # a journey ends where the clinic starts
            mailable = mailable.exclude(invitation__status=Invitation.Status.ACTIVATED)
        people = {
            person["pk"]: person
            for person in mailable.filter(pk__in=[subscriber for _, subscriber in claimed]).values(
                "pk", "email", "token_key", "invitation__nonce"
            )
        }
        return {
            row: emails.campaign_copy(
                self._template,
                campaign_id=self.campaign_id,
                subscriber_id=subscriber,
                email=people[subscriber]["email"],
                token_key=people[subscriber]["token_key"],
                nonce=people[subscriber]["invitation__nonce"],
            )
            for row, subscriber in claimed
            if subscriber in people
        }

    def over_cap(self, claimed: list[tuple[int, int]]) -> set[int]:
        """The rows to people who had as many emails lately as the frequency cap allows: put
        back until their next free slot, or left out, as the campaign says. An invitation is
        never held back, though it counts."""
        if self.campaign.kind == Campaign.Kind.INVITATION:
            return set()
        waits = cap.waits(claimed, campaign_id=self.campaign_id, now=timezone.now())
        if not waits:
            return set()
        rows = Delivery.objects.filter(pk__in=waits)
        if self.campaign.when_capped == Campaign.WhenCapped.DROP:
            rows.skip(cap.DROPPED)
        else:
            for row, until in waits.items():
                Delivery.objects.filter(pk=row).requeue(answer=cap.WAITED, until=until, refund=True)
            rows.update(cap_waits=F("cap_waits") + 1)
        return set(waits)

    def take_permit(self) -> None:
        self.limiter.take()

    def throttled(self, answer: str) -> None:
        paces.throttled(self.pace)

    def finished(self, result: sending.Result) -> None:
        pause_past_error_threshold(self.campaign_id)

    def sender_refused(self, answer: str, *, to: str) -> set[int]:
        """Hold back every message of the campaign to that domain: its mailboxes refuse our
        sender, and sending more only hurts our reputation. Everyone else's mail goes on; the
        campaign pauses once nothing but held mail is left (`finish_if_done`)."""
        domain = to.rpartition("@")[2].lower()
        rows = Delivery.objects.filter(
            campaign_id=self.campaign_id,
            status__in=[SendStatus.QUEUED, SendStatus.SENDING],
            subscriber__email__iendswith=f"@{domain}",
        )
        held = set(rows.values_list("pk", flat=True))
        Delivery.objects.filter(pk__in=held).hold(answer)
        logger.error("campaign %s: %s refused our sender; %s message(s) to it held: %s",
                     self.campaign_id, domain, len(held), answer)  # fmt: skip
        return held


def send_batch(campaign_id: int, provider: str = Provider.OTHER) -> sending.Result:
    """One run of a lane, without asking for the next: what the tests and the benchmarks
    call."""
    return sending.send(CampaignBatch(campaign_id, provider))


def pause_past_error_threshold(campaign_id: int) -> bool:
    rows = Delivery.objects.filter(campaign_id=campaign_id)
    # Failures are few, and counted through the (campaign, status) index: a campaign that has
    # none costs no count of everything it sent.
    failed = rows.filter(status=Delivery.Status.FAILED).count()
    if not failed:
        return False
    counts = {"failed": failed, "sent": rows.filter(status=Delivery.Status.SENT).count()}
    tried = counts["sent"] + counts["failed"]
    if tried < settings.CAMPAIGN_ERROR_MIN_SAMPLE:
        return False
    if counts["failed"] / tried <= settings.CAMPAIGN_ERROR_THRESHOLD:
        return False
    reason = (
        f"Paused: {counts['failed']} of {tried} messages failed, more than "
        f"{settings.CAMPAIGN_ERROR_THRESHOLD:.0%}. See the delivery log, then resume."
    )
    paused = pause_by_workers(campaign_id, reason)
    if paused:
        logger.warning("campaign %s paused: %s of %s failed", campaign_id, counts["failed"], tried)
    return bool(paused)
