"""Webhooks to other systems (the clinic's): an event is a row per endpoint that wants it,
written in the transaction of what happened (`emit`); a worker POSTs it (`send_due`), signed,
and retries with backoff until the receiver answers 2xx; beat's sweep takes back rows whose
worker died and hands out what is due.

Each delivery carries:
- `Halftime-Event-Id`: the event's id, the same on every attempt and every replay;
- `Halftime-Signature: t=<unix time>,v1=<hex>`: HMAC-SHA256, with the endpoint's secret, of
  "<t>.<body>". A receiver checks it with `verify` (or its own code: the README shows how),
  and refuses a `t` too far from its clock, so a captured request cannot be replayed later."""

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import uuid

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models.engine import SendStatus, WebhookDelivery, WebhookEndpoint
from . import workers

logger = logging.getLogger(__name__)

SEND_TASK = "waitlist.tasks.send_webhooks"
BATCH_SIZE = 50
# Attempts before a delivery is failed for an operator to replay: with the backoff below, about
# two days of trying.
MAX_ATTEMPTS = 12
SIGNATURE_HEADER = "Halftime-Signature"
EVENT_ID_HEADER = "Halftime-Event-Id"
EVENT_HEADER = "Halftime-Event"
# A signature older (or newer) than this is refused by `verify`.
TOLERANCE = dt.timedelta(minutes=5)


class BadSignature(Exception):
    """The delivery was not signed with the secret, was altered, or is too old."""


def sign(secret: str, body: bytes, *, at: int | None = None) -> str:
    """The signature header's value for `body` sent at unix time `at` (now)."""
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def verify(secret: str, body: bytes, header: str, *, now: float | None = None) -> None:
    """What a receiver does: raise BadSignature unless `header` signs `body` with `secret`
    within TOLERANCE of `now`."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        at, given = int(fields["t"]), fields["v1"]
    except (KeyError, ValueError) as exc:
        raise BadSignature("no signature in the header") from exc
    expected = sign(secret, body, at=at).partition(",v1=")[2]
    if not hmac.compare_digest(expected, given):
        raise BadSignature("the signature does not match the body")
    if abs((time.time() if now is None else now) - at) > TOLERANCE.total_seconds():
        raise BadSignature("the signature is too old")


def emit(event: str, *, subscriber_id: int, data: dict) -> str | None:
    """Write the event for each active endpoint that wants it, in the caller's transaction;
    sent once that commits. Returns the event's id (None: no endpoint wants it)."""
    return emit_many(event, [(subscriber_id, data)])[0]


def emit_many(event: str, items: list[tuple[int, dict]]) -> list[str | None]:
    """`emit` for each (subscriber id, data) of `items`, in few statements."""
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(active=True)
        if event in endpoint.events
    ]
    if not endpoints:
        return [None] * len(items)
    now = timezone.now()
    ids, rows = [], []
    for subscriber_id, data in items:
        event_id = f"evt_{uuid.uuid4().hex}"
        body = json.dumps(
            {"id": event_id, "type": event, "created": now.isoformat(), "data": data},
            separators=(",", ":"),
            sort_keys=True,
        )
        ids.append(event_id)
        rows.extend(
            WebhookDelivery(
                endpoint=endpoint,
                subscriber_id=subscriber_id,
                event_id=event_id,
                event=event,
                body=body,
                created_at=now,
            )  # fmt: skip
            for endpoint in endpoints
        )
    WebhookDelivery.objects.bulk_create(rows, batch_size=1000)
    transaction.on_commit(lambda: workers.enqueue(SEND_TASK))
    return ids


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the `attempts`th failed try: doubling from the base, at most
    six hours."""
    base = settings.WEBHOOK_RETRY_SECONDS
    return dt.timedelta(seconds=min(base * 2 ** (attempts - 1), 6 * 3600))


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS * BATCH_SIZE + 60)


def send_due() -> int:
    """Deliver what is due, a batch at a time, until nothing is; returns how many were
    delivered."""
    session = requests.Session()
    due = WebhookDelivery.objects.each_claimed(
        BATCH_SIZE, order_by=("created_at", "pk"), related=["endpoint"]
    )
    return sum(_deliver(session, delivery) for delivery in due)


def _deliver(session: requests.Session, delivery: WebhookDelivery) -> bool:
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"{settings.SITE_NAME} webhooks",
        EVENT_ID_HEADER: delivery.event_id,
        EVENT_HEADER: delivery.event,
        SIGNATURE_HEADER: sign(delivery.endpoint.secret, body),
    }
    started = time.monotonic()
    try:
        response = session.post(
            delivery.endpoint.url, data=body, headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS, allow_redirects=False,
        )  # fmt: skip
        answer = f"HTTP {response.status_code} in {(time.monotonic() - started) * 1000:.0f} ms"
        ok = 200 <= response.status_code < 300
    except requests.RequestException as exc:
        answer, ok = f"not delivered: {type(exc).__name__}: {exc}", False
    row = WebhookDelivery.objects.filter(pk=delivery.pk)
    if ok:
        row.mark_sent([(delivery.pk, "", "")], answer=answer)
    elif delivery.attempts >= MAX_ATTEMPTS:
        row.mark_failed(f"{answer}; gave up after {delivery.attempts} attempts")
        logger.error("webhook %s to %s failed for good: %s", delivery.event_id,
                     delivery.endpoint.url, answer)  # fmt: skip
    else:
        wait = backoff(delivery.attempts)
        row.requeue(answer=f"{answer}; tried again in {wait}", wait=wait)
        logger.warning("webhook %s to %s: %s", delivery.event_id, delivery.endpoint.url, answer)
    return ok


def sweep() -> int:
    """Run by beat: take back rows whose worker died, and hand out what is due (a retry's
    time came, or the task enqueued on commit was lost)."""
    WebhookDelivery.objects.expired(lease()).requeue()
    due = WebhookDelivery.objects.due().count()
    if due:
        workers.enqueue(SEND_TASK)
    return due


def replay(deliveries) -> int:
    """Send these deliveries again, as they were (the same event id), from the first attempt."""
    count = deliveries.exclude(status=SendStatus.SENDING).retry()
    transaction.on_commit(lambda: workers.enqueue(SEND_TASK))
    return count
