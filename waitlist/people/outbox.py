"""Transactional mail. An email to one person (a confirmation) is a row written in the same
transaction as what caused it; a task enqueued on commit sends it through the one sender, and
the sweep hands the workers whatever that task missed (the broker was down, a worker died).

One send task is pending at a time: a commit enqueues one only if none is waiting to start, and
the task sends every email due when it starts, and after. It starts LINGER_SECONDS after it was
enqueued, so that a burst of signups is sent in batches rather than one task per person."""

import datetime as dt
import logging
import math

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from ..engine import messages, sending, workers
from ..models.people import ConsentRecord, EmailWording, Milestone, OutboundEmail, Subscriber
from . import emails, links, suppression, wording

logger = logging.getLogger(__name__)

SEND_TASK = "waitlist.tasks.send_outbox"
# Rows one claim takes: the oldest first, whichever task was enqueued for them.
BATCH_SIZE = 100
# A row queued longer than this was missed by the task enqueued for it.
SWEEP_AFTER = dt.timedelta(seconds=15)
# The sweep hands out at most this many tasks at once; each one sends until nothing is due.
SWEEP_TASKS = 4
# How long a send task waits for more emails before it starts: unnoticed in an inbox, and at
# 200 signups a second it sends about 40 per batch instead of one.
LINGER_SECONDS = 0.2
# Set while a send task waits to start (Django's cache). Should that task be lost, the key
# expires and the sweep sends what it left.
PENDING_KEY = "outbox:send-pending"
PENDING_SECONDS = 30


def lease() -> dt.timedelta:
    """How long a claimed email may stay unsent before another worker may take it (its worker
    died): short, as a confirmation should not wait long."""
    return dt.timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)


def queue(
    subscriber: Subscriber,
    *,
    kind: str,
    consent: ConsentRecord | None = None,
    milestone: Milestone | None = None,
):
    """Write the email to be sent, in the caller's transaction; it is sent once that commits."""
    outbound = OutboundEmail.objects.create(
        subscriber=subscriber, consent=consent, kind=kind, milestone=milestone
    )
    transaction.on_commit(enqueue_once)
    return outbound


def enqueue_once() -> None:
    """Enqueue a send task unless one is waiting to start: that one will send this email too."""
    try:
        if not cache.add(PENDING_KEY, 1, PENDING_SECONDS):
            return
    except Exception:
        logger.warning("outbox: the cache is unavailable; enqueueing a send task regardless")
    enqueue(countdown=LINGER_SECONDS)


def starting() -> None:
    """Called by the send task before it looks for emails: an email committed from now on
    needs a task of its own."""
    try:
        cache.delete(PENDING_KEY)
    except Exception:
        logger.warning("outbox: the cache is unavailable; its pending mark expires by itself")


def enqueue(*, countdown: float | None = None) -> None:
    """Ask a worker to send what is due."""
    workers.enqueue(SEND_TASK, countdown=countdown)


# The emails that ask a person to confirm, sent only while they have not.
ASKING = (
    OutboundEmail.Kind.CONFIRMATION, OutboundEmail.Kind.REMINDER, OutboundEmail.Kind.RECONFIRM,
)  # fmt: skip
# The emails that carry a person's place and links, sent only while they are on the list.
PERSONAL = (
    OutboundEmail.Kind.WELCOME,
    OutboundEmail.Kind.LINKS,
    OutboundEmail.Kind.MILESTONE,
    OutboundEmail.Kind.MOVED_UP,
)


class Outbox(sending.Batch):
    """Every transactional email that is due, oldest first, a batch at a time."""

    model = OutboundEmail
    max_attempts = 10
    unreachable_wait = 5
    limit = BATCH_SIZE

    suppress = staticmethod(suppression.suppress)

    def __init__(self):
        self.templates: dict[tuple, messages.Template] = {}
        self.versions: dict[str, EmailWording] = {}

    def rows(self):
        return OutboundEmail.objects.order_by("created_at", "pk")

    def lease(self) -> dt.timedelta:
        return lease()

    def copies(self, claimed: list[tuple[int, int]]) -> dict[int, messages.Copy]:
        latest_consent = ConsentRecord.objects.filter(
            subscriber=OuterRef("subscriber_id"), purpose=ConsentRecord.Purpose.LIST
        ).order_by(*ConsentRecord._meta.ordering)
        rows = (
            OutboundEmail.objects.filter(pk__in=[row for row, _ in claimed])
            .annotate(latest_consent_id=Subquery(latest_consent.values("pk")[:1]))
            .values(
                "pk",
                "kind",
                "consent_id",
                "milestone_id",
                "milestone__referrals",
                "milestone__reward",
                "milestone__details",
                "latest_consent_id",
                "subscriber_id",
                "subscriber__email",
                "subscriber__status",
                "subscriber__token_key",
                "subscriber__referral_code",
                "subscriber__state",
                "subscriber__invitation__status",
                "subscriber__invitation__nonce",
                "subscriber__invitation__lifetime_days",
            )
        )
        rows = list(rows)
        copies = {row["pk"]: copy for row in rows if (copy := self.copy(row))}
        self.record_wording(copies, {row["pk"]: row["kind"] for row in rows})
        return copies

    def copy(self, row: dict) -> messages.Copy | None:
        """One email as its person gets it, or None if it is no longer wanted."""
        if row["kind"] in ASKING:
            # Whoever has confirmed meanwhile, or asked again since, does not need this one.
            if (
                row["subscriber__status"] in (Subscriber.Status.CONFIRMED, Subscriber.Status.ERASED)
                or not row["subscriber__email"]
                or row["consent_id"] != row["latest_consent_id"]
            ):
                return None
            return emails.confirmation_copy(
                self.template(row["kind"]),
                outbound_id=row["pk"],
                token_key=row["subscriber__token_key"],
                consent_id=row["consent_id"],
                email=row["subscriber__email"],
                kind=row["kind"],
            )
        if row["kind"] in PERSONAL:
            if row["subscriber__status"] != Subscriber.Status.CONFIRMED:
                return None  # left, or was erased, meanwhile
            if row["kind"] == OutboundEmail.Kind.MILESTONE and row["milestone_id"] is None:
                return None  # the milestone was deleted meanwhile
            return emails.personal_copy(
                self.template(row["kind"], row),
                kind=row["kind"],
                outbound_id=row["pk"],
                email=row["subscriber__email"],
                token_key=row["subscriber__token_key"],
                referral_url=links.referral_url(row["subscriber__referral_code"]),
                position=Subscriber.objects.get(pk=row["subscriber_id"]).position(),
            )
        if row["kind"] == OutboundEmail.Kind.INVITATION:
            if (
                row["subscriber__status"] != Subscriber.Status.CONFIRMED
                or row["subscriber__invitation__status"] != "invited"
            ):
                return None  # left, or the invitation was used or ended, meanwhile
            return emails.invitation_copy(
                self.template(row["kind"], row),
                outbound_id=row["pk"],
                email=row["subscriber__email"],
                token_key=row["subscriber__token_key"],
                nonce=row["subscriber__invitation__nonce"],
            )
        raise ValueError(f"no email is written for kind {row['kind']!r}")

    def template(self, kind: str, row: dict | None = None) -> messages.Template:
        """`kind`'s email in its current wording (read once a batch), for `row`'s person."""
        if kind not in self.versions:
            self.versions[kind] = wording.current(kind)
        version = self.versions[kind]
        milestone_id = row and row["milestone_id"]
        has_state = bool(row and row["subscriber__state"])
        key = (kind, milestone_id, has_state)
        if kind == OutboundEmail.Kind.INVITATION:
            key = (kind, row["subscriber__invitation__lifetime_days"], True)
        if key not in self.templates:
            if kind == OutboundEmail.Kind.INVITATION:
                self.templates[key] = emails.invitation_template(version, days=key[1])
            elif kind in ASKING:
                self.templates[key] = emails.confirmation_template(version)
            else:
                milestone = milestone_id and Milestone(
                    pk=milestone_id,
                    referrals=row["milestone__referrals"],
                    reward=row["milestone__reward"],
                    details=row["milestone__details"],
                )
                self.templates[key] = emails.personal_template(
                    version, milestone=milestone or None, has_state=has_state
                )
        return self.templates[key]

    def record_wording(self, copies: dict[int, messages.Copy], kinds: dict[int, str]) -> None:
        """Each email about to go records the wording it says."""
        by_kind: dict[str, list[int]] = {}
        for row in copies:
            by_kind.setdefault(kinds[row], []).append(row)
        for kind, rows in by_kind.items():
            OutboundEmail.objects.filter(pk__in=rows).update(wording=self.versions[kind])


def send_due() -> sending.Result:
    """Send batches until nothing is due; what the server asked to wait for is left queued."""
    total = sending.Result()
    while True:
        result = sending.send(Outbox())
        total.add(result)
        if result.claimed < BATCH_SIZE or result.unreachable:
            return total


def sweep() -> int:
    """Run by beat: take back emails whose worker died, and hand the workers what is due and
    was missed. Returns how many emails are due."""
    OutboundEmail.objects.expired(lease()).requeue()
    due = OutboundEmail.objects.filter(created_at__lt=timezone.now() - SWEEP_AFTER).due()
    count = due.count()
    for _ in range(min(SWEEP_TASKS, math.ceil(count / BATCH_SIZE))):
        enqueue()
    return count
