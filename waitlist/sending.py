"""The campaign engine: the dispatcher that starts campaigns and hands out batches, and the
batch sender. Claim, send, mark: a row is claimed with a conditional UPDATE, sent outside any
transaction over one reused connection, then marked with the server's answer."""

import datetime as dt
import logging
import smtplib
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import connection, transaction
from django.db.models import CharField, F, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from . import emails
from .dbretry import until_written
from .models import Campaign, Delivery, Subscriber

logger = logging.getLogger(__name__)

BATCH_SIZE = 500


def lease() -> dt.timedelta:
    """How long a claimed row may stay unmarked before another worker may take it."""
    return dt.timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS)


MAX_ATTEMPTS = 5
# How soon a batch tries again when the mail server could not be reached.
SERVER_RETRY_SECONDS = 30
MARK_EVERY = 100
HARD_BOUNCE_CODES = {550, 551, 553}


def audience(campaign: Campaign):
    """Who a campaign goes to: the mailable people of its segment."""
    return Subscriber.objects.mailable().in_segment(
        interests=campaign.audience_interests, states=campaign.audience_states
    )


def create_deliveries(campaign: Campaign) -> int:
    """One row per recipient in one statement; running it twice adds nobody twice. SQLite
    needs the `WHERE` to tell the upsert's `ON CONFLICT` from a join's `ON`; PostgreSQL
    takes the same text."""
    select, params = audience(campaign).values_list("id").query.sql_with_params()
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (campaign_id, subscriber_id)"
            f" SELECT %s, audience.id FROM ({select}) AS audience WHERE true"
            " ON CONFLICT (campaign_id, subscriber_id) DO NOTHING",
            [campaign.pk, *params],
        )
        return cursor.rowcount


def batch_ranges(campaign_id: int, *, size: int = BATCH_SIZE) -> list[tuple[int, int]]:
    """Id ranges of at most `size` queued rows each, computed in the database."""
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MIN(id), MAX(id) FROM (SELECT id, (ROW_NUMBER() OVER (ORDER BY id) - 1) / %s"
            f" AS bucket FROM {table} WHERE campaign_id = %s AND status = 'queued') AS numbered"
            " GROUP BY bucket ORDER BY 1",
            [size, campaign_id],
        )
        return [(low, high) for low, high in cursor.fetchall()]


def dispatch(*, enqueue) -> dict:
    """Run by beat every 30 s; safe when two run at once. Starts due campaigns, takes back rows
    whose worker died, hands out batches, and closes campaigns with nothing left to send."""
    now = timezone.now()
    started = []
    for campaign in Campaign.objects.filter(status=Campaign.Status.SCHEDULED, send_at__lte=now):
        # One transaction: no other dispatcher may see the campaign sending before all of its
        # rows exist, or it would find nothing left to send and close it.
        with transaction.atomic():
            won = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SCHEDULED).update(
                status=Campaign.Status.SENDING, started_at=now
            )
            if won:
                create_deliveries(campaign)
                started.append(campaign.pk)
    handed_out = 0
    for campaign in Campaign.objects.filter(status=Campaign.Status.SENDING):
        released = Delivery.objects.filter(
            campaign=campaign, status=Delivery.Status.SENDING, claimed_at__lt=now - lease()
        ).update(status=Delivery.Status.QUEUED)
        # Batches handed out less than a lease ago are still queued or running: wait for them.
        due = not recently_dispatched(campaign.pk)
        if campaign.pk in started or released or due:
            for low, high in batch_ranges(campaign.pk):
                enqueue(campaign.pk, low, high)
                handed_out += 1
        finish_if_done(campaign.pk)
    return {"started": started, "batches": handed_out}


def _dispatched_key(campaign_id: int) -> str:
    return f"campaign:{campaign_id}:dispatched"


def recently_dispatched(campaign_id: int) -> bool:
    """True if batches went out within the lease; marks them as going out now if not."""
    try:
        return not cache.add(_dispatched_key(campaign_id), 1, int(lease().total_seconds()))
    except Exception:
        return False


def forget_dispatch(campaign_id: int) -> None:
    try:
        cache.delete(_dispatched_key(campaign_id))
    except Exception:
        logger.warning("campaign %s: could not reset its dispatch marker", campaign_id)


def finish_if_done(campaign_id: int) -> bool:
    left = Delivery.objects.filter(
        campaign_id=campaign_id, status__in=[Delivery.Status.QUEUED, Delivery.Status.SENDING]
    ).exists()
    if left:
        return False
    return bool(
        Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).update(
            status=Campaign.Status.SENT, finished_at=timezone.now()
        )
    )


class RateLimiter:
    """Messages per second and per hour across every worker, counted in Redis. Permits are
    taken a few at a time so a fast sender does not ask Redis for each message."""

    def __init__(self, *, per_second: int, per_hour: int, chunk: int = 100):
        self.per_second, self.per_hour = per_second, per_hour
        self.chunk = max(1, min(chunk, per_second))
        self.permits = 0

    def take(self) -> None:
        while self.permits == 0:
            self.permits = self._reserve()
            if self.permits == 0:
                time.sleep(1.0 - time.time() % 1.0 + 0.001)
        self.permits -= 1

    def _reserve(self) -> int:
        now = time.time()
        second, hour = f"rate:s:{int(now)}", f"rate:h:{int(now // 3600)}"
        try:
            cache.add(second, 0, 5)
            cache.add(hour, 0, 3700)
            second_before = cache.incr(second, self.chunk) - self.chunk
            hour_before = cache.incr(hour, self.chunk) - self.chunk
        except Exception:
            logger.warning("rate limit: cache unavailable; sending at one message per 10 ms")
            time.sleep(0.01)
            return 1
        allowed = min(self.chunk, self.per_second - second_before, self.per_hour - hour_before)
        return max(0, allowed)


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    released: int = 0
    retry_in: int | None = None
    outcomes: dict = field(default_factory=dict)


def _claim(campaign_id: int, low: int, high: int) -> list[tuple[int, int]]:
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = 'sending', claimed_at = %s, attempts = attempts + 1"
            " WHERE campaign_id = %s AND id BETWEEN %s AND %s AND status = 'queued'"
            " AND (not_before IS NULL OR not_before <= %s) RETURNING id, subscriber_id",
            [timezone.now(), campaign_id, low, high, timezone.now()],
        )
        return sorted(cursor.fetchall())


def _reachable(subscriber_ids: list[int]) -> dict[int, dict]:
    return {
        s["pk"]: s
        for s in Subscriber.objects.mailable()
        .filter(pk__in=subscriber_ids)
        .values("pk", "email", "token_key")
    }


def send_batch(campaign_id: int, low: int, high: int) -> BatchResult:
    """Send one claimed range, MARK_EVERY rows at a time: before each group the campaign must
    still be sending and each person still subscribed; after it, the group is marked sent."""
    result = BatchResult()
    campaign = Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).first()
    if campaign is None:
        return result
    claimed = _claim(campaign_id, low, high)
    if not claimed:
        return result
    template = emails.render_campaign(campaign)
    limiter = RateLimiter(
        per_second=settings.CAMPAIGN_RATE_PER_SECOND, per_hour=settings.CAMPAIGN_RATE_PER_HOUR
    )
    mail = get_connection()
    try:
        mail.open()
    except (smtplib.SMTPException, OSError) as exc:
        result.retry_in = _put_back([d for d, _ in claimed], exc)
        result.released = len(claimed)
        return result
    sent: list[tuple[int, str, str]] = []
    try:
        for start in range(0, len(claimed), MARK_EVERY):
            group = claimed[start : start + MARK_EVERY]
            if start and not _still_sending(campaign_id):
                result.released += _release([d for d, _ in claimed[start:]])
                return result
            people = _reachable([s for _, s in group])
            gone = [d for d, s in group if s not in people]
            if gone:
                Delivery.objects.filter(pk__in=gone).update(
                    status=Delivery.Status.SKIPPED, answer="no longer subscribed"
                )
                result.skipped += len(gone)
            for position, (delivery_id, subscriber_id) in enumerate(group):
                if subscriber_id not in people:
                    continue
                person = people[subscriber_id]
                copy = emails.personal_copy(
                    template,
                    campaign_id=campaign_id,
                    subscriber_id=subscriber_id,
                    email=person["email"],
                    token_key=person["token_key"],
                )
                limiter.take()
                try:
                    esp_id = _send(mail, template, copy)
                except smtplib.SMTPRecipientsRefused as exc:
                    code, answer = next(iter(exc.recipients.values()))
                    if code >= 500:
                        _fail(delivery_id, subscriber_id, code, answer)
                        result.failed += 1
                    else:
                        result.retry_in = _retry_later([delivery_id], f"{code} {answer!r}")
                        result.released += 1
                    continue
                except (smtplib.SMTPException, OSError) as exc:
                    # The server is gone or refused the session: put back all that is left.
                    left = [d for d, _ in group[position:]] + [
                        d for d, _ in claimed[start + len(group) :]
                    ]
                    result.retry_in = _put_back(left, exc)
                    result.released += len(left)
                    return result
                sent.append((delivery_id, copy.headers["Message-ID"], esp_id))
                result.sent += 1
            _mark_sent(sent)
    finally:
        _mark_sent(sent)
        mail.close()
    _pause_past_error_threshold(campaign_id)
    return result


def _send(mail, template: emails.CampaignTemplate, copy: emails.CampaignCopy) -> str:
    """Send one copy over the open connection; returns the email service's id, if any."""
    if isinstance(mail, SMTPBackend) and copy.to.isascii():
        # Straight to the SMTP session: the same bytes, without the email package's cost.
        mail.connection.sendmail(template.mailto, [copy.to], emails.campaign_mime(template, copy))
        return ""
    message = emails.campaign_email(template, copy, connection=mail)
    mail.send_messages([message])
    status = getattr(message, "anymail_status", None)
    return "" if status is None or status.message_id is None else str(status.message_id)


def _mark_sent(sent: list) -> None:
    """One UPDATE for the group; only an email service's own ids need a row each. The messages
    are already sent: a short database outage is waited out rather than leaving them to be sent
    again."""
    if sent:
        until_written(lambda: _write_sent(sent))
        sent.clear()


def _write_sent(sent: list) -> None:
    now = timezone.now()
    domain = emails.message_id_domain()
    with transaction.atomic():
        for delivery_id, _, esp_message_id in sent:
            if esp_message_id:
                Delivery.objects.filter(pk=delivery_id).update(esp_message_id=esp_message_id)
        # The Message-ID is made from the row itself (see emails.campaign_message_id).
        Delivery.objects.filter(pk__in=[delivery_id for delivery_id, _, _ in sent]).update(
            status=Delivery.Status.SENT,
            sent_at=now,
            answer="accepted",
            message_id=Concat(
                Value("<campaign."),
                Cast("campaign_id", CharField()),
                Value("."),
                Cast("subscriber_id", CharField()),
                Value(f"@{domain}>"),
            ),
        )


def _still_sending(campaign_id: int) -> bool:
    return Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).exists()


def _release(delivery_ids: list[int]) -> int:
    return Delivery.objects.filter(pk__in=delivery_ids, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.QUEUED, attempts=F("attempts") - 1
    )


def _put_back(delivery_ids: list[int], exc: Exception) -> int:
    """After the session failed: wait for the server if it is unreachable, else retry later."""
    answer = repr(exc)[:500]
    if not emails.server_unavailable(exc):
        return _retry_later(delivery_ids, answer)
    # Not the message's fault: the attempt does not count, however long the outage lasts.
    Delivery.objects.filter(pk__in=delivery_ids, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.QUEUED,
        attempts=F("attempts") - 1,
        not_before=timezone.now() + dt.timedelta(seconds=SERVER_RETRY_SECONDS),
        answer=answer,
    )
    logger.warning(
        "campaign: mail server unavailable (%s); %s deliveries wait %ss",
        answer,
        len(delivery_ids),
        SERVER_RETRY_SECONDS,
    )
    return SERVER_RETRY_SECONDS


def _retry_later(delivery_ids: list[int], answer: str) -> int:
    """Back to the queue after a backoff; a row out of attempts fails instead."""
    rows = Delivery.objects.filter(pk__in=delivery_ids, status=Delivery.Status.SENDING)
    attempts = max(rows.values_list("attempts", flat=True), default=1)
    delay = min(300, 10 * 2 ** (attempts - 1))
    rows.filter(attempts__gte=MAX_ATTEMPTS).update(status=Delivery.Status.FAILED, answer=answer)
    rows.filter(attempts__lt=MAX_ATTEMPTS).update(
        status=Delivery.Status.QUEUED,
        not_before=timezone.now() + dt.timedelta(seconds=delay),
        answer=answer,
    )
    return delay


def _fail(delivery_id: int, subscriber_id: int, code: int, answer: bytes) -> None:
    text = f"{code} {answer.decode(errors='replace') if isinstance(answer, bytes) else answer}"
    Delivery.objects.filter(pk=delivery_id).update(status=Delivery.Status.FAILED, answer=text[:500])
    if code in HARD_BOUNCE_CODES:
        suppress(subscriber_id=subscriber_id, reason="hard bounce")


def suppress(*, subscriber_id: int, reason: str) -> None:
    Subscriber.objects.filter(pk=subscriber_id, suppressed_at__isnull=True).update(
        suppressed_at=timezone.now(), suppression_reason=reason
    )


def _pause_past_error_threshold(campaign_id: int) -> bool:
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
    paused = Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).update(
        status=Campaign.Status.PAUSED
    )
    if paused:
        logger.warning("campaign %s paused: %s of %s failed", campaign_id, counts["failed"], tried)
    return bool(paused)


SUPPRESSING_EVENTS = {"bounced": "hard bounce", "complained": "spam complaint"}


def record_tracking_event(*, event_type: str, recipient: str, message_id: str | None) -> bool:
    """A bounce or complaint reported by the email service suppresses the address for good and
    marks the delivery failed. Other events (delivered, opened…) are not recorded."""
    reason = SUPPRESSING_EVENTS.get(event_type)
    if not reason or not recipient:
        return False
    subscriber = Subscriber.objects.filter(email__iexact=recipient.strip()).first()
    if subscriber is None:
        return False
    suppress(subscriber_id=subscriber.pk, reason=reason)
    deliveries = Delivery.objects.filter(subscriber=subscriber)
    if message_id:
        bare = message_id.strip("<>")
        deliveries = deliveries.filter(
            Q(esp_message_id=message_id) | Q(message_id__in=[message_id, f"<{bare}>"])
        )
    else:
        deliveries = deliveries.filter(status=Delivery.Status.SENT).order_by("-sent_at")[:1]
    Delivery.objects.filter(pk__in=list(deliveries.values_list("pk", flat=True))).update(
        status=Delivery.Status.FAILED, answer=reason
    )
    return True
