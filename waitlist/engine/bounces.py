"""Bounces and complaints for mail sent over SMTP: a mailbox the bounces go to (the envelope
sender's, or the one a provider forwards feedback reports to), read over IMAP or POP3.

Each message is read as a delivery status notification (RFC 3464) or an abuse feedback report
(RFC 5965), and believed only if it quotes one of our emails to that address. A permanent
failure suppresses its address; one that blames our sender's
authentication suppresses nobody and pauses the campaign; a complaint suppresses the address;
a delay is only noted. Reports read are deleted from the mailbox. Anything else there (a
person's reply, a message that cannot be read) is left and marked seen over IMAP; POP3 has no
such mark, so over POP3 it is deleted too, its sender and subject logged, rather than read again
at every run."""

import email
import email.policy
import imaplib
import logging
import poplib
import re
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from anymail.signals import AnymailTrackingEvent, EventType, tracking
from django.conf import settings

logger = logging.getLogger(__name__)

TIMEOUT = 30
PORTS = {"imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995}
ADDRESS = re.compile(r"[^\s<>;]+@[^\s<>;]+")
# The `esp_name` of the events this module sends, and what a receiver says came of one.
MAILBOX = "bounce mailbox"
UNMATCHED, SENDER_REFUSED, SUPPRESSED = "unmatched", "sender refused", "suppressed"


@dataclass(frozen=True)
class Report:
    """What one message says: `kind` "failed", "delayed" or "complaint"."""

    kind: str
    recipient: str
    answer: str = ""
    message_id: str = ""


@dataclass
class Outcome:
    read: int = 0
    suppressed: int = 0
    sender_refusals: int = 0
    delays: int = 0
    left: int = 0
    # Reports that name no message we sent to that address (forged, or not about our mail).
    unmatched: int = 0
    unreadable: int = 0


def configured() -> bool:
    return bool(settings.BOUNCE_MAILBOX_URL)


def parse(raw: bytes) -> list[Report]:
    """The reports a message carries; none if it is not a bounce or a complaint."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    if message.get_content_type() != "multipart/report":
        return []
    report_type = message.get_param("report-type", "").lower()
    original = _original_message_id(message)
    if report_type == "delivery-status":
        return _delivery_status(message, original)
    if report_type == "feedback-report":
        return _feedback(message, original)
    return []


def _original_message_id(message: EmailMessage) -> str:
    for part in message.walk():
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()[0]
            return str(inner.get("Message-ID", "")).strip()
        if part.get_content_type() == "text/rfc822-headers":
            headers = email.message_from_string(part.get_content(), policy=email.policy.default)
            return str(headers.get("Message-ID", "")).strip()
    return ""


def _delivery_status(message: EmailMessage, original: str) -> list[Report]:
    reports = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        # The first block is about the message, each one after it about a recipient.
        for block in part.get_payload()[1:]:
            action = str(block.get("Action", "")).strip().lower()
            status = str(block.get("Status", "")).strip()
            recipient = _address(block.get("Final-Recipient") or block.get("Original-Recipient"))
            if not recipient:
                continue
            answer = " ".join(f"{status} {block.get('Diagnostic-Code', '')}".split())
            if action == "failed" and status.startswith("5"):
                reports.append(Report("failed", recipient, answer, original))
            elif action in ("delayed", "failed"):
                reports.append(Report("delayed", recipient, answer, original))
    return reports


def _feedback(message: EmailMessage, original: str) -> list[Report]:
    for part in message.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        if part.is_multipart():  # the email package reads its fields as one header block
            fields = part.get_payload()[0]
        else:
            body = part.get_payload(decode=True) or str(part.get_payload()).encode()
            fields = email.message_from_bytes(body, policy=email.policy.default)
        recipient = _address(fields.get("Original-Rcpt-To"))
        if not recipient:
            for inner in message.walk():
                if inner.get_content_type() == "message/rfc822":
                    recipient = _address(inner.get_payload()[0].get("To"))
        if recipient:
            kind = str(fields.get("Feedback-Type", "abuse")).strip().lower()
            return [Report("complaint", recipient, f"feedback report: {kind}", original)]
    return []


def _address(value) -> str:
    found = ADDRESS.search(str(value or ""))
    return found.group(0).strip(".,") if found else ""


def act(report: Report, outcome: Outcome) -> None:
    """Hand the report on as the email services' webhooks do (anymail's `tracking` signal,
    from the bounce mailbox), and count what came of it."""
    if report.kind == "delayed":
        outcome.delays += 1
        return
    event = AnymailTrackingEvent(
        event_type=EventType.COMPLAINED if report.kind == "complaint" else EventType.BOUNCED,
        recipient=report.recipient,
        message_id=report.message_id,
        mta_response=report.answer,
    )
    verdicts = [verdict for _, verdict in tracking.send(Report, event=event, esp_name=MAILBOX)]
    if UNMATCHED in verdicts:
        outcome.unmatched += 1
    elif SENDER_REFUSED in verdicts:
        outcome.sender_refusals += 1
    elif SUPPRESSED in verdicts:
        outcome.suppressed += 1


def read_mailbox() -> Outcome:
    """Read every message waiting in the mailbox and act on each report in it."""
    url = urlsplit(settings.BOUNCE_MAILBOX_URL)
    scheme = url.scheme.lower()
    if scheme not in PORTS:
        raise ValueError(f"BOUNCE_MAILBOX_URL: {scheme!r} is not imap, imaps, pop3 or pop3s")
    user, password = unquote(url.username or ""), unquote(url.password or "")
    host, port = url.hostname or "localhost", url.port or PORTS[scheme]
    reader = _read_imap if scheme.startswith("imap") else _read_pop3
    return reader(scheme, host, port, user, password, unquote(url.path.strip("/")) or "INBOX")


def _handle(raw: bytes, outcome: Outcome) -> bool:
    """Act on one message; True if it was a report (and may be deleted). A message that cannot
    be read is logged and left, and the next one is read."""
    try:
        reports = parse(raw)
    except Exception:
        logger.exception("bounces: a message in the mailbox could not be read; left there")
        outcome.unreadable += 1
        return False
    if not reports:
        outcome.left += 1
        return False
    for report in reports:
        act(report, outcome)
    outcome.read += 1
    return True


def _read_imap(scheme, host, port, user, password, folder) -> Outcome:
    outcome = Outcome()
    kind = imaplib.IMAP4_SSL if scheme == "imaps" else imaplib.IMAP4
    with kind(host, port, timeout=TIMEOUT) as mailbox:
        mailbox.login(user, password)
        selected, detail = mailbox.select(folder)
        if selected != "OK":
            raise imaplib.IMAP4.error(f"cannot open {folder!r}: {detail}")
        _, found = mailbox.uid("SEARCH", None, "UNSEEN")
        for uid in found[0].split():
            _, data = mailbox.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next(item[1] for item in data if isinstance(item, tuple))
            if _handle(raw, outcome):
                mailbox.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
            else:
                mailbox.uid("STORE", uid, "+FLAGS", "(\\Seen)")
        mailbox.expunge()
        mailbox.logout()
    return outcome


def _about(raw: bytes) -> str:
    """A message's sender and subject, for the log."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        return f"from {message.get('From', '?')}, subject {message.get('Subject', '?')!r}"
    except Exception:
        return "a message whose headers cannot be read"


def _read_pop3(scheme, host, port, user, password, folder) -> Outcome:
    outcome = Outcome()
    kind = poplib.POP3_SSL if scheme == "pop3s" else poplib.POP3
    mailbox = kind(host, port, timeout=TIMEOUT)
    try:
        mailbox.user(user)
        mailbox.pass_(password)
        count, _ = mailbox.stat()
        for number in range(1, count + 1):
            _, lines, _ = mailbox.retr(number)
            raw = b"\r\n".join(lines) + b"\r\n"
            if not _handle(raw, outcome):
                logger.warning(
                    "bounces: deleted from the POP3 mailbox, not a report: %s", _about(raw)
                )
            mailbox.dele(number)
    finally:
        mailbox.quit()  # deletions take effect only here
    return outcome
