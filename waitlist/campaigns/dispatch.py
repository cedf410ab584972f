"""Campaign deliveries: one row per recipient, made when the campaign starts, handed out by the
dispatcher in id ranges and sent by the one sender (`sending`)."""

import datetime as dt
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Case, DateTimeField, Value, When
from django.db.models.functions import Cast
from django.utils import timezone

from ..engine import messages, sending, workers
from ..models import Campaign, Delivery, Subscriber
from ..people import suppression
from . import emails, timezones
from .lifecycle import CampaignError, move

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
BATCH_TASK = "waitlist.tasks.send_campaign_batch"


def lease() -> dt.timedelta:
    """How long a claimed row may stay unmarked before another worker may take it."""
    return dt.timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS)


def create_deliveries(campaign: Campaign) -> int:
    """One row per recipient in one statement; running it twice adds nobody twice. A
    local-time campaign's rows wait (`not_before`) for their zone's wall-clock send time. SQLite
    needs the `WHERE` to tell the upsert's `ON CONFLICT` from a join's `ON`; PostgreSQL
    takes the same text."""
    people = campaign.audience().annotate(leaves=_leaves(campaign))
    select, params = people.values_list("id", "leaves").query.sql_with_params()
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (campaign_id, subscriber_id, not_before)"
            f" SELECT %s, audience.id, audience.leaves FROM ({select}) AS audience WHERE true"
            " ON CONFLICT (campaign_id, subscriber_id) DO NOTHING",
            [campaign.pk, *params],
        )
        return cursor.rowcount


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


def batch_ranges(campaign_id: int, *, size: int = BATCH_SIZE) -> list[tuple[int, int]]:
    """Id ranges of at most `size` queued rows each that may be sent now, computed in the
    database."""
    due = Delivery.objects.filter(campaign_id=campaign_id).due().values("id")
    select, params = due.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MIN(id), MAX(id) FROM (SELECT id, (ROW_NUMBER() OVER (ORDER BY id) - 1) / %s"
            f" AS bucket FROM ({select}) AS due) AS numbered GROUP BY bucket ORDER BY 1",
            [size, *params],
        )
        return [(low, high) for low, high in cursor.fetchall()]


def dispatch() -> dict:
    """Run by beat every 30 s; safe when two run at once. Starts due campaigns, takes back rows
    whose worker died, hands out batches, and closes campaigns with nothing left to send."""
    now = timezone.now()
    started = []
    soon = Campaign.objects.filter(status=Campaign.Status.SCHEDULED, send_at__lte=now + LOOKAHEAD)
    for campaign in soon:
        if starts_at(campaign) > now:
            continue
        # One transaction: no other dispatcher may see the campaign sending before all of its
        # rows exist, or it would find nothing left to send and close it.
        try:
            with transaction.atomic():
                move(campaign, "start", why="The dispatcher started it: its send time came.",
                     now=now)  # fmt: skip
                create_deliveries(campaign)
        except CampaignError:
            continue  # another dispatcher started it, or an operator took it back
        started.append(campaign.pk)
    handed_out = 0
    for campaign in Campaign.objects.filter(status=Campaign.Status.SENDING):
        released = campaign.deliveries.expired(lease()).requeue()
        # Batches handed out less than a lease ago are still queued or running: wait for them,
        # unless a wave of rows that waited for its time (`not_before`) has come due since.
        due = not recently_dispatched(campaign.pk, wave=_latest_wave(campaign, now))
        if campaign.pk in started or released or due:
            for low, high in batch_ranges(campaign.pk):
                workers.enqueue(BATCH_TASK, campaign.pk, low, high)
                handed_out += 1
        finish_if_done(campaign.pk)
    return {"started": started, "batches": handed_out}


# A scheduled campaign is looked at this long before its send time: a local-time campaign's
# first zone may reach the wall-clock time that much earlier.
LOOKAHEAD = dt.timedelta(days=2)


def _dispatched_key(campaign_id: int, wave: str = "") -> str:
    return f"campaign:{campaign_id}:dispatched:{wave}"


def _latest_wave(campaign: Campaign, now: dt.datetime) -> str:
    """The latest of a local-time campaign's waves that has come (from its schedule, not from
    the rows: a retry's backoff is no wave); "" for any other campaign."""
    if not campaign.local_time or campaign.send_at is None:
        return ""
    wall = timezones.wall_clock(campaign.send_at)
    come = [timezones.at_in(wall, zone) for zone in timezones.every_zone()]
    latest = max((moment for moment in come if moment <= now), default=None)
    return latest.isoformat() if latest else ""


def recently_dispatched(campaign_id: int, *, wave: str = "") -> bool:
    """True if batches for the rows due as of `wave` went out within the lease; marks them as
    going out now if not."""
    try:
        return not cache.add(_dispatched_key(campaign_id, wave), 1, int(lease().total_seconds()))
    except Exception:
        return False


def forget_dispatch(campaign_id: int) -> None:
    try:
        campaign = Campaign.objects.get(pk=campaign_id)
        cache.delete(_dispatched_key(campaign_id, _latest_wave(campaign, timezone.now())))
    except Exception:
        logger.warning("campaign %s: could not reset its dispatch marker", campaign_id)


def finish_if_done(campaign_id: int) -> bool:
    """A sending campaign with nothing queued or being sent is sent."""
    rows = Delivery.objects.filter(campaign_id=campaign_id)
    if rows.queued().exists() or rows.claimed().exists():
        return False
    return _move_if_sending(campaign_id, "finish", why="Nothing was left to send.",
                            now=timezone.now())  # fmt: skip


def _move_if_sending(campaign_id: int, name: str, **arguments) -> bool:
    """The workers' transitions: taken only on a campaign that is sending, and quietly not
    taken when an operator or another worker moved it first."""
    campaign = Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).first()
    if campaign is None:
        return False
    try:
        move(campaign, name, **arguments)
    except CampaignError:
        return False
    return True


def pause_for_sender(campaign_id: int, answer: str) -> bool:
    """Pause a sending campaign because a server refused our sender's authentication."""
    reason = (
        "Paused: a receiving server refused our sender's authentication "
        f"({answer[:300]}). Nobody was suppressed, and nothing more is sent. Set up "
        "SPF, DKIM and DMARC for the From address's domain, then resume: the unsent "
        "messages go out then."
    )
    return _move_if_sending(campaign_id, "pause", reason=reason, why=reason)


class CampaignBatch(sending.Batch):
    """One id range of a campaign's queued rows."""

    model = Delivery
    max_attempts = 5
    unreachable_wait = 30
    skipped_answer = "no longer subscribed"
    sender_refused_wait = 0  # the campaign pauses: its rows wait for Resume

    suppress = staticmethod(suppression.suppress)

    def __init__(self, campaign_id: int, low: int, high: int):
        self.campaign_id, self.low, self.high = campaign_id, low, high
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
        return campaign is not None

    def rows(self):
        return Delivery.objects.filter(
            campaign_id=self.campaign_id, pk__range=(self.low, self.high)
        ).order_by("pk")

    def lease(self) -> dt.timedelta:
        return lease()

    def copies(self, claimed: list[tuple[int, int]]) -> dict[int, messages.Copy]:
        people = {
            person["pk"]: person
            for person in Subscriber.objects.mailable()
            .filter(pk__in=[subscriber for _, subscriber in claimed])
            .values("pk", "email", "token_key")
        }
        return {
            row: emails.campaign_copy(
                self._template,
                campaign_id=self.campaign_id,
                subscriber_id=subscriber,
                email=people[subscriber]["email"],
                token_key=people[subscriber]["token_key"],
            )
            for row, subscriber in claimed
            if subscriber in people
        }

    def take_permit(self) -> None:
        self.limiter.take()

    def finished(self, result: sending.Result) -> None:
        pause_past_error_threshold(self.campaign_id)

    def sender_refused(self, answer: str) -> None:
        if pause_for_sender(self.campaign_id, answer):
            logger.error("campaign %s paused: our sender is not authenticated: %s",
                         self.campaign_id, answer)  # fmt: skip


def send_batch(campaign_id: int, low: int, high: int) -> sending.Result:
    return sending.send(CampaignBatch(campaign_id, low, high))


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
    paused = _move_if_sending(campaign_id, "pause", reason=reason, why=reason)
    if paused:
        logger.warning("campaign %s paused: %s of %s failed", campaign_id, counts["failed"], tried)
    return bool(paused)
