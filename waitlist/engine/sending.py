"""The one sender for all mail. Claim, send, mark: rows are claimed with one conditional UPDATE,
sent outside any transaction over one mail connection, then marked with the server's answer.
Transactional mail (`outbox`) and campaign deliveries (`deliveries`) are each a `Batch`: what
to claim, who still wants it, and each person's copy of a message rendered once per batch."""

import abc
import datetime as dt
import logging
import re
import smtplib
import time
from dataclasses import dataclass

from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.core.cache import caches
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db.models import QuerySet

from ..models.engine import Sendable
from . import messages
from .dbretry import until_written

logger = logging.getLogger(__name__)

# Rows are marked sent this many at a time; a batch checks it is still wanted between groups.
MARK_EVERY = 100
HARD_BOUNCE_CODES = {550, 551, 553}
# A server's "try later" (`asked_to_wait`): the first wait, the longest, and how many such
# answers a message may get before it fails (about 4 hours of trying).
DEFER_FIRST_SECONDS, DEFER_MOST_SECONDS, MAX_DEFERRALS = 15, 900, 20
# Why an address is suppressed, in its row and in the answer of the message it was about.
HARD_BOUNCE, SPAM_COMPLAINT = "hard bounce", "spam complaint"
MAX_BACKOFF_SECONDS = 300
# A receiving server refusing our mail because the sender's domain does not authenticate
# (SPF, DKIM, DMARC): Microsoft's 5.7.515, Gmail's 5.7.26, and 5.7.1 when it names one of them.
SENDER_NOT_AUTHENTICATED = re.compile(r"\b5\.7\.(515|26)\b")
AUTHENTICATION_WORDS = re.compile(r"\b5\.7\.1\b.*\b(dmarc|spf|dkim|authenticat)", re.I | re.S)
# How long transactional mail waits after such a refusal before it is tried again.
SENDER_REFUSED_WAIT = 300


def sender_not_authenticated(answer: str) -> bool:
    """The answer blames our sending domain, not the recipient's address: a configuration fault
    of ours. The address must not be suppressed, and sending more only hurts our reputation."""
    return bool(SENDER_NOT_AUTHENTICATED.search(answer) or AUTHENTICATION_WORDS.search(answer))


class Batch(abc.ABC):
    """What one kind of mail tells the sender. Subclasses set the class attributes and write
    `rows`, `lease`, `copies` and `message_id`."""

    model: type[Sendable]
    # After this many tries the server refused for the message's sake, the row fails.
    max_attempts: int
    # Seconds to wait when the mail server cannot be reached; such a wait uses no attempt.
    unreachable_wait: int
    # At most this many rows per claim; None: every row `rows` names (see `allowance`).
    limit: int | None = None
    skipped_answer = "no longer wanted"
    # After a server refused our sender's authentication, the rows wait this long.
    sender_refused_wait = SENDER_REFUSED_WAIT

    @abc.abstractmethod
    def rows(self) -> QuerySet:
        """The rows this batch may claim, in the order to send them."""

    @abc.abstractmethod
    def lease(self) -> dt.timedelta:
        """How long a claim holds: the sender renews it every quarter of this while it sends, so
        only rows whose worker died are taken back (`take_back`)."""

    def still_wanted(self) -> bool:
        """Asked before each group of MARK_EVERY: False puts the rest back unsent."""
        return True

    @abc.abstractmethod
    def copies(self, claimed: list[tuple[int, int]]) -> dict[int, messages.Copy]:
        """Each claimed (row, subscriber) still to be sent, by row id; a row left out is
        skipped. One query for the group; templates rendered once per batch."""

    @abc.abstractmethod
    def suppress(self, *, subscriber_id: int, reason: str) -> None:
        """The server refused the address for good (a hard bounce): never mail it again."""

    def allowance(self) -> int | None:
        """How many rows to claim now, asked once before the claim: `limit` by default. May
        raise Later: nothing is claimed, and the batch is to run again that much later."""
        return self.limit

    def release(self, unsent: int) -> None:
        """Called once the batch is over, with how many of its allowance it did not send."""
        return None

    def over_cap(self, claimed: list[tuple[int, int]]) -> set[int]:
        """Of the claimed (row, subscriber), the rows the batch put back or left out itself
        (the person had enough email lately): none of them is sent. None by default."""
        return set()

    def take_permit(self) -> None:
        """Called before each message; blocks briefly to keep a sending rate, or raises Later:
        the rest of the batch is put back, to run again that much later. None by default."""
        return None

    def throttled(self, answer: str) -> None:
        """A server asked to try a message later (`asked_to_wait`); nothing by default."""
        return None

    def finished(self, result: "Result") -> None:
        """Called once the batch is sent; nothing by default."""
        return None

    def sender_refused(self, answer: str, *, to: str) -> set[int] | None:
        """A server refused our sender's authentication for a message to `to`. Returns the rows
        held back for it (none of them is sent; the batch goes on with the others), or None:
        the batch stops and its rows wait, with no attempt used, `sender_refused_wait` seconds.
        By default None, logged."""
        logger.error("mail: our sender is not authenticated, nothing more is sent: %s", answer)
        return None


COUNTS = ("claimed", "sent", "failed", "skipped", "released", "deferred", "held", "capped")


@dataclass
class Result:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    released: int = 0
    # Put back because the server asked to try later (`asked_to_wait`).
    deferred: int = 0
    # Held back after a refusal of our sender (`Batch.sender_refused`).
    held: int = 0
    # Put back or left out by the batch: the person had enough email lately (`Batch.over_cap`).
    capped: int = 0
    # Seconds until this batch should run again (rows it put back come due, or its pace allows
    # more); None: no need.
    retry_in: float | None = None
    # The mail server could not be reached.
    unreachable: bool = False

    def retry_after(self, seconds: float) -> None:
        self.retry_in = seconds if self.retry_in is None else min(self.retry_in, seconds)

    def add(self, other: "Result") -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.retry_in is not None:
            self.retry_after(other.retry_in)
        self.unreachable |= other.unreachable

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTS if getattr(self, name)}


class Later(Exception):
    """Nothing more may be sent now: try again in `seconds`."""

    def __init__(self, seconds: float):
        super().__init__(f"try again in {seconds:.2f} s")
        self.seconds = seconds


def send(batch: Batch) -> Result:
    result = Result()
    if not batch.still_wanted():
        return result
    try:
        allowance = batch.allowance()
    except Later as later:
        result.retry_after(later.seconds)
        return result
    try:
        _send(batch, allowance, result)
    finally:
        tried = result.sent + result.failed + result.deferred + result.held
        batch.release((allowance or 0) - tried)
    return result


def _send(batch: Batch, allowance: int | None, result: Result) -> None:
    claimed = batch.rows().claim(limit=allowance)
    result.claimed = len(claimed)
    if not claimed:
        return
    mail = get_connection()
    try:
        mail.open()
    except Exception as exc:
        _put_back(batch, [row for row, _ in claimed], exc, result)
        return
    sent: list[tuple[int, str, str]] = []  # (row, Message-ID, the email service's id)
    held: set[int] = set()  # rows the batch held back after a refusal of our sender
    renew_every = batch.lease().total_seconds() / 4
    renewed = time.monotonic()
    try:
        for start in range(0, len(claimed), MARK_EVERY):
            group = claimed[start : start + MARK_EVERY]
            if start and not batch.still_wanted():
                left = _claimed(batch, [row for row, _ in claimed[start:]])
                result.released += left.requeue(refund=True)  # as if never claimed
                return
            capped = batch.over_cap(group)
            if capped:
                result.capped += len(capped)
                group = [(row, subscriber) for row, subscriber in group if row not in capped]
            copies = batch.copies(group)
            gone = [row for row, _ in group if row not in copies]
            if gone:
                batch.model.objects.filter(pk__in=gone).skip(batch.skipped_answer)
                result.skipped += len(gone)
            for position, (row, subscriber_id) in enumerate(group):
                if row not in copies or row in held:
                    continue
                if time.monotonic() - renewed > renew_every:
                    # Sent but not yet marked, or still to send.
                    _claimed(batch, [r for r, _ in claimed[start:]]).renew()
                    renewed = time.monotonic()
                try:
                    batch.take_permit()
                except Later as later:
                    left = _claimed(batch, [r for r, _ in claimed[start + position :]])
                    result.released += left.requeue(refund=True)  # as if never claimed
                    result.retry_after(later.seconds)
                    return
                try:
                    esp_message_id = _deliver(mail, copies[row])
                except Exception as exc:
                    code, answer = server_answer(exc)
                    if code and code >= 500 and sender_not_authenticated(answer):
                        kept = batch.sender_refused(answer, to=copies[row].to)
                        if kept is not None:
                            held |= kept
                            result.held += len(kept)
                            continue
                        _hold(batch, [r for r, _ in claimed[start + position :]], answer, result)
                        return
                    if asked_to_wait(exc):
                        _defer(batch, row, answer, result)
                        batch.throttled(answer)
                        lost = _reopen_if_closed(mail)
                        if lost is None:
                            continue
                        left = [r for r, _ in claimed[start + position + 1 :]]
                        _put_back(batch, left, lost, result)
                        return
                    if not server_unavailable(exc):
                        _refused(batch, row, subscriber_id, exc, result)
                        continue
                    # The server is gone: put back all that is left.
                    left = [r for r, _ in claimed[start + position :]]
                    _put_back(batch, left, exc, result)
                    return
                sent.append((row, copies[row].headers["Message-ID"], esp_message_id))
                result.sent += 1
            _mark_sent(batch, sent)
    finally:
        _mark_sent(batch, sent)
        mail.close()
    batch.finished(result)


def asked_to_wait(exc: BaseException) -> bool:
    """The server answered for this message "not now": a 4xx reply (`421` busy, `450`/`451`
    try later, `452` too much, `454` SES's throttle) or an email service's HTTP `429`. The
    message waits and is tried again; it uses none of its attempts."""
    if isinstance(exc, AnymailAPIError):
        return getattr(exc, "status_code", None) == 429
    code, _ = server_answer(exc)
    return code is not None and 400 <= code < 500


def _reopen_if_closed(mail) -> Exception | None:
    """After a `421` the server closes the session: open a new one for the rest of the batch.
    The error if it cannot be opened."""
    if not isinstance(mail, SMTPBackend) or (mail.connection and mail.connection.sock):
        return None
    try:
        mail.close()
        mail.open()
    except Exception as exc:
        return exc
    return None


def server_unavailable(exc: BaseException) -> bool:
    """The mail server or email service could not be reached, or dropped the session: nothing
    about the message or the address. Such a failure waits for the server and never uses up a
    message's attempts; any other refusal does, so a message the server keeps refusing ends
    failed, not retried forever."""
    if isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None)
        return status is None or status == 429 or status >= 500
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == 421  # "service not available, closing channel"
    # The socket's own errors (refused, reset, timed out); smtplib's are OSErrors too.
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


def _deliver(mail, copy: messages.Copy) -> str:
    """Send one copy over the open connection; returns the email service's id, if any."""
    if isinstance(mail, SMTPBackend) and copy.to.isascii():
        # Straight to the SMTP session: the same bytes, without the email package's cost.
        mail.connection.sendmail(copy.template.mailto, [copy.to], messages.mime(copy))
        return ""
    message = messages.message(copy, connection=mail)
    mail.send_messages([message])
    status = getattr(message, "anymail_status", None)
    return "" if status is None or status.message_id is None else str(status.message_id)


def server_answer(exc: Exception) -> tuple[int | None, str]:
    """The reply code and text a refusal carries, if it carries one."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, text = exc.smtp_code, exc.smtp_error
    elif isinstance(exc, AnymailRecipientsRefused):
        return 550, repr(exc)
    else:
        return None, repr(exc)
    return code, f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"


def _refused(batch: Batch, row: int, subscriber_id: int, exc: Exception, result: Result) -> None:
    """The server answered for this one message: fail it for good (5xx) or try it later."""
    code, answer = server_answer(exc)
    if code is None and not isinstance(exc, AnymailError):
        logger.exception("mail: sending %s %s failed", batch.model._meta.model_name, row)
    if code is not None and code >= 500:
        batch.model.objects.filter(pk=row).mark_failed(answer)
        if code in HARD_BOUNCE_CODES:
            batch.suppress(subscriber_id=subscriber_id, reason=HARD_BOUNCE)
        result.failed += 1
        return
    result.retry_after(_retry_later(batch, [row], answer))
    result.released += 1


def _mark_sent(batch: Batch, sent: list[tuple[int, str, str]]) -> None:
    """One UPDATE for the group. The messages are already sent: a short database outage is
    waited out rather than leaving them to be sent again."""
    if sent:
        until_written(lambda: batch.model.objects.mark_sent(sent))
        sent.clear()


def _claimed(batch: Batch, rows: list[int]) -> QuerySet:
    """Those of `rows` this batch still holds."""
    return batch.model.objects.filter(pk__in=rows).claimed()


def _put_back(batch: Batch, rows: list[int], exc: Exception, result: Result) -> None:
    """After the connection failed: wait for the server if it is unreachable, else retry
    later."""
    answer = repr(exc)[:500]
    result.released += len(rows)
    if not server_unavailable(exc):
        result.retry_after(_retry_later(batch, rows, answer))
        return
    # Not the message's fault: the attempt does not count, however long the outage lasts.
    result.unreachable = True
    wait = dt.timedelta(seconds=batch.unreachable_wait)
    _claimed(batch, rows).requeue(answer=answer, wait=wait, refund=True)
    logger.warning(
        "mail: server unavailable (%s); %s %s(s) wait %ss",
        answer,
        len(rows),
        batch.model._meta.verbose_name,
        batch.unreachable_wait,
    )
    result.retry_after(batch.unreachable_wait)


def _hold(batch: Batch, rows: list[int], answer: str, result: Result) -> None:
    """Back to the queue with no attempt used: the fault is ours, not the messages'."""
    result.released += len(rows)
    wait = batch.sender_refused_wait
    _claimed(batch, rows).requeue(
        answer=answer, wait=dt.timedelta(seconds=wait) if wait else None, refund=True
    )
    if wait:
        result.retry_after(wait)


def _defer(batch: Batch, row: int, answer: str, result: Result) -> None:
    """Back to the queue after a wait that grows with each deferral: 15 s, 30 s, 1 min … at
    most DEFER_MOST_SECONDS. After MAX_DEFERRALS the message fails, with the answer, for an
    operator to retry."""
    claimed = _claimed(batch, [row])
    deferrals = claimed.values_list("deferrals", flat=True).first()
    if deferrals is None:
        return
    if deferrals + 1 >= MAX_DEFERRALS:
        claimed.mark_failed(f"{answer} (still refused after {MAX_DEFERRALS} tries)")
        result.failed += 1
        return
    wait = min(DEFER_MOST_SECONDS, DEFER_FIRST_SECONDS * 2**deferrals)
    claimed.defer(answer=answer, wait=dt.timedelta(seconds=wait))
    result.deferred += 1
    result.retry_after(wait)


def _retry_later(batch: Batch, rows: list[int], answer: str) -> int:
    """Back to the queue after a backoff; a row out of attempts fails instead."""
    claimed = _claimed(batch, rows)
    attempts = max(claimed.values_list("attempts", flat=True), default=1)
    delay = min(MAX_BACKOFF_SECONDS, 10 * 2 ** (attempts - 1))
    claimed.filter(attempts__gte=batch.max_attempts).mark_failed(answer)
    claimed.filter(attempts__lt=batch.max_attempts).requeue(
        answer=answer, wait=dt.timedelta(seconds=delay)
    )
    return delay


# How long a sender waits before asking again once the hour's messages are all sent.
HOUR_SPENT_WAIT = 60


class RateLimiter:
    """Messages per second and per hour across every worker, counted with the rate limits'
    counters. Permits are taken a few at a time so a fast sender does not ask for each message;
    what a sender took and did not use it gives back (`give_back`), and the counters only ever
    hold what was granted."""

    def __init__(self, *, per_second: int, per_hour: int, chunk: int = 100):
        self.per_second, self.per_hour = per_second, per_hour
        self.chunk = max(1, min(chunk, per_second))
        self.permits = 0
        self._keys: tuple[str, str] | None = None  # the counters the permits came from

    def take(self) -> None:
        """A permit for one message: waits for the next second when this second's are taken;
        raises Later when this hour's are, so the sender puts its rows back and frees its
        worker rather than holding both until the hour turns."""
        while self.permits == 0:
            self.permits = self._reserve()
            if self.permits == 0:
                time.sleep(1.0 - time.time() % 1.0 + 0.001)
        self.permits -= 1

    def give_back(self) -> None:
        if self.permits and self._keys:
            self._return(self._keys, self.permits)
        self.permits = 0

    def _return(self, keys: tuple[str, str], count: int) -> None:
        counters = caches["ratelimit"]
        try:
            for key in keys:
                counters.decr(key, count)
        except Exception:
            logger.warning("rate limit: counters unavailable; %s permit(s) not given back", count)

    def _reserve(self) -> int:
        now = time.time()
        second, hour = f"rate:s:{int(now)}", f"rate:h:{int(now // 3600)}"
        counters = caches["ratelimit"]
        try:
            counters.add(second, 0, 5)
            counters.add(hour, 0, 3700)
            second_before = counters.incr(second, self.chunk) - self.chunk
            hour_before = counters.incr(hour, self.chunk) - self.chunk
        except Exception:
            logger.warning("rate limit: counters unavailable; sending at one message per 10 ms")
            time.sleep(0.01)
            return 1
        allowed = max(0, min(self.chunk, self.per_second - second_before,
                             self.per_hour - hour_before))  # fmt: skip
        if allowed < self.chunk:
            self._return((second, hour), self.chunk - allowed)
        if not allowed and hour_before >= self.per_hour:
            # Looked at again each HOUR_SPENT_WAIT at most: an operator may raise the limit.
            raise Later(min(HOUR_SPENT_WAIT, 3600 - now % 3600))
        self._keys = (second, hour)
        return allowed
