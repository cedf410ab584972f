import logging
from collections import Counter

from celery import shared_task
from django.core.mail import get_connection

from . import heartbeats, sending, services

logger = logging.getLogger(__name__)

# Seconds before an email the server deferred is tried again (then send_outbound_email backs off).
RETRY_AFTER = 5
SWEEP_BATCH = 100


@shared_task(
    acks_late=True,
    autoretry_for=(services.TransientSendError,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=8,
)
def send_outbound_email(outbound_id: int) -> str:
    outcome = services.send_outbound(outbound_id)
    logger.info("outbox: email %s %s", outbound_id, outcome)
    return outcome


@shared_task(acks_late=True)
def send_outbound_emails(outbound_ids: list[int]) -> dict[str, int]:
    """Several queued emails in one task (what the web processes publish). One that the server
    asks to try later goes back on the queue alone, with `send_outbound_email`'s backoff."""
    outcomes: Counter[str] = Counter()
    mail = get_connection()
    _open(mail)  # one session for the batch
    try:
        for outbound_id in outbound_ids:
            try:
                outcome = services.send_outbound(outbound_id, mail=mail)
            except services.TransientSendError:
                outcome = "retrying"
                mail.close()  # the session may be broken: start a new one for the next
                _open(mail)
                try:
                    send_outbound_email.apply_async(args=[outbound_id], countdown=RETRY_AFTER)
                except Exception:
                    logger.warning(
                        "outbox: could not requeue email %s; the sweep will", outbound_id
                    )
            outcomes[outcome] += 1
    finally:
        mail.close()
    logger.info("outbox: %s", ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())))
    return dict(outcomes)


def _open(mail) -> None:
    """Open the session if the server answers; if not, each send tries (and fails) on its own,
    which puts its email back without using up an attempt."""
    try:
        mail.open()
    except OSError:  # smtplib's errors included
        mail.close()


@shared_task
def sweep_outbox() -> int:
    ids = services.due_outbound_ids()
    for start in range(0, len(ids), SWEEP_BATCH):
        send_outbound_emails.apply_async(args=[ids[start : start + SWEEP_BATCH]], retry=False)
    if ids:
        logger.info("outbox: re-enqueued %s email(s)", len(ids))
    heartbeats.record("sweep_outbox")
    return len(ids)


@shared_task(acks_late=True)
def dispatch_campaigns() -> dict:
    outcome = sending.dispatch(enqueue=enqueue_batch)
    if outcome["started"] or outcome["batches"]:
        logger.info("campaigns: started %s, handed out %s batch(es)", *outcome.values())
    heartbeats.record("dispatch_campaigns")
    return outcome


def enqueue_batch(campaign_id: int, low: int, high: int, countdown: int | None = None) -> None:
    send_campaign_batch.apply_async(args=[campaign_id, low, high], countdown=countdown)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_campaign_batch(campaign_id: int, low: int, high: int) -> dict:
    result = sending.send_batch(campaign_id, low, high)
    if result.retry_in:
        # Rows put back after a transient failure: try this range again after the backoff.
        enqueue_batch(campaign_id, low, high, countdown=result.retry_in)
    else:
        sending.finish_if_done(campaign_id)  # the last batch closes it, not the next dispatch
    logger.info(
        "campaign %s batch %s-%s: sent %s, failed %s, skipped %s, released %s",
        campaign_id, low, high, result.sent, result.failed, result.skipped, result.released,
    )  # fmt: skip
    return {"sent": result.sent, "failed": result.failed, "released": result.released}
