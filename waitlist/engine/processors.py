"""Erasures told to the email service. A service keeps addresses in lists of its own (sent,
bounced, suppressed); an erasure here is passed to its suppression API so the address is never
mailed from there either. Each erasure is a row written in the erasure's transaction (`erased`);
a worker sends it (`send_due`) and retries with the webhooks' backoff until the service answers
2xx, then forgets the address; beat's sweep takes back rows whose worker died. Over SMTP there is
no such list: the row records that, without the address.

A service's API is reached at its own address, or at the one in its ANYMAIL_*_API_URL setting
(the same one django-anymail sends through)."""

import logging
from collections.abc import Callable
from email.utils import parseaddr

import requests
from django.conf import settings
from django.db import transaction

from ..models.engine import SendStatus
from ..models.privacy import ProcessorErasure
from . import hooks, workers

logger = logging.getLogger(__name__)

SEND_TASK = "waitlist.tasks.tell_processors"
BATCH_SIZE = 50
MAX_ATTEMPTS = hooks.MAX_ATTEMPTS
OVER_SMTP = "Sent over SMTP: no email service keeps a list of this address."


class Refused(Exception):
    """The service answered, but did not suppress the address."""


def _anymail(name: str, default: str = "") -> str:
    return str(settings.ANYMAIL.get(name, default))


def _postmark(session: requests.Session, email: str) -> str:
    """Postmark's suppressions API, for each message stream mail goes out on."""
    api = _anymail("POSTMARK_API_URL", "https://api.postmarkapp.com/").rstrip("/")
    answers = []
    for stream in settings.POSTMARK_MESSAGE_STREAMS:
        response = session.post(
            f"{api}/message-streams/{stream}/suppressions",
            json={"Suppressions": [{"EmailAddress": email}]},
            headers={
                "Accept": "application/json",
                "X-Postmark-Server-Token": _anymail("POSTMARK_SERVER_TOKEN"),
            },
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        )
        response.raise_for_status()
        outcome = (response.json().get("Suppressions") or [{}])[0]
        if outcome.get("Status") != "Suppressed":
            raise Refused(f"Postmark, stream {stream}: {outcome.get('Message') or outcome}")
        answers.append(f"suppressed on stream {stream}")
    return "Postmark: " + ", ".join(answers)


def _sendgrid(session: requests.Session, email: str) -> str:
    """SendGrid's global unsubscribes: no mail from the account reaches the address."""
    api = _anymail("SENDGRID_API_URL", "https://api.sendgrid.com/v3/").rstrip("/")
    response = session.post(
        f"{api}/asm/suppressions/global",
        json={"recipient_emails": [email]},
        headers={"Authorization": f"Bearer {_anymail('SENDGRID_API_KEY')}"},
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
    )
    response.raise_for_status()
    return f"SendGrid: added to global unsubscribes (HTTP {response.status_code})"


def _mailgun(session: requests.Session, email: str) -> str:
    """Mailgun's unsubscribes for the sending domain, every tag."""
    api = _anymail("MAILGUN_API_URL", "https://api.mailgun.net/v3").rstrip("/")
    sender = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    domain = _anymail("MAILGUN_SENDER_DOMAIN") or sender.rpartition("@")[2]
    response = session.post(
        f"{api}/{domain}/unsubscribes",
        data={"address": email, "tag": "*"},
        auth=("api", _anymail("MAILGUN_API_KEY")),
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
    )
    response.raise_for_status()
    return f"Mailgun: unsubscribed from {domain} (HTTP {response.status_code})"


# EMAIL_ESP → how to tell it. `checks` refuses a deploy whose service is not here.
SERVICES: dict[str, Callable[[requests.Session, str], str]] = {
    "postmark": _postmark,
    "sendgrid": _sendgrid,
    "mailgun": _mailgun,
}


def erased(subscriber_id: int, email: str | None) -> ProcessorErasure:
    """Record, in the erasure's transaction, that the service must hear of it."""
    service = settings.EMAIL_ESP
    if not service:
        return ProcessorErasure.objects.create(
            subscriber_id=subscriber_id, status=SendStatus.SKIPPED, answer=OVER_SMTP
        )
    if not email:
        return ProcessorErasure.objects.create(
            subscriber_id=subscriber_id, processor=service, status=SendStatus.SKIPPED,
            answer="No address was left to tell.",
        )  # fmt: skip
    row = ProcessorErasure.objects.create(
        subscriber_id=subscriber_id, processor=service, email=email
    )
    transaction.on_commit(lambda: workers.enqueue(SEND_TASK))
    return row


def lease():
    return hooks.lease()


def send_due() -> int:
    """Tell the service of every erasure that is due, a batch at a time; returns how many it
    confirmed."""
    session = requests.Session()
    return sum(_tell(session, row) for row in ProcessorErasure.objects.each_claimed(BATCH_SIZE))


def _tell(session: requests.Session, row: ProcessorErasure) -> bool:
    rows = ProcessorErasure.objects.filter(pk=row.pk)
    service = SERVICES.get(row.processor)
    if service is None:
        rows.mark_failed(f"No suppression API is known for {row.processor}.")
        return False
    try:
        answer = service(session, row.email)
    except (requests.RequestException, ValueError, Refused) as exc:
        answer = f"not confirmed: {type(exc).__name__}: {exc}"
        if row.attempts >= MAX_ATTEMPTS:
            rows.mark_failed(f"{answer}; gave up after {row.attempts} attempts")
            logger.error("erasure #%s at %s failed for good: %s", row.pk, row.processor, answer)
        else:
            wait = hooks.backoff(row.attempts)
            rows.requeue(answer=f"{answer}; tried again in {wait}", wait=wait)
            logger.warning("erasure #%s at %s: %s", row.pk, row.processor, answer)
        return False
    with transaction.atomic():
        rows.mark_sent([(row.pk, "", "")], answer=answer)
        rows.update(email=None)  # told: the address is forgotten here too
    return True


def sweep() -> int:
    """Run by beat: take back rows whose worker died, and hand out what is due."""
    ProcessorErasure.objects.expired(lease()).requeue()
    due = ProcessorErasure.objects.due().count()
    if due:
        workers.enqueue(SEND_TASK)
    return due
