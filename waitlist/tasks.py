import logging

from celery import shared_task

from . import heartbeats
from .campaigns import dispatch
from .engine import bounces, workers
from .people import importing, outbox, pending

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def send_outbox() -> dict[str, int]:
    """Send every transactional email that is due, a batch at a time over one session each.
    Whichever signup enqueued it, the task takes the oldest emails first."""
    outbox.starting()
    result = outbox.send_due()
    if result.retry_in is not None:
        # Emails the server asked to wait for: look again once they are due.
        outbox.enqueue(countdown=result.retry_in)
    if result.claimed:
        logger.info("outbox: %s", ", ".join(f"{n} {o}" for o, n in result.counts().items()))
    return result.counts()


@shared_task
def sweep_outbox() -> int:
    due = outbox.sweep()
    if due:
        logger.info("outbox: %s email(s) due were handed to the workers again", due)
    heartbeats.record("sweep_outbox")
    return due


@shared_task(acks_late=True)
def import_lists() -> int:
    """Import the lists operators asked for in admin; periodic too, for one whose task was lost."""
    done = importing.run_uploads()
    if done:
        logger.info("imports: %s list(s) imported or refused", done)
    return done


@shared_task
def tend_pending() -> dict[str, int]:
    """One reminder to confirm, then erasure, for signups never confirmed."""
    outcome = pending.tend()
    if any(outcome.values()):
        logger.info("pending signups: %(reminded)s reminded, %(expired)s erased", outcome)
    return outcome


@shared_task(acks_late=True)
def dispatch_campaigns() -> dict:
    outcome = dispatch.dispatch()
    if outcome["started"] or outcome["batches"]:
        logger.info("campaigns: started %s, handed out %s batch(es)", *outcome.values())
    heartbeats.record("dispatch_campaigns")
    return outcome


@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_campaign_batch(campaign_id: int, low: int, high: int) -> dict:
    result = dispatch.send_batch(campaign_id, low, high)
    if result.retry_in:
        # Rows put back after a transient failure: try this range again after the backoff.
        workers.enqueue(dispatch.BATCH_TASK, campaign_id, low, high, countdown=result.retry_in)
    else:
        dispatch.finish_if_done(campaign_id)  # the last batch closes it, not the next dispatch
    counts = ", ".join(f"{what} {n}" for what, n in result.counts().items())
    logger.info("campaign %s batch %s-%s: %s", campaign_id, low, high, counts or "nothing due")
    return result.counts()


@shared_task
def read_bounces() -> dict[str, int]:
    """The bounce mailbox (BOUNCE_MAILBOX_URL): suppress what bounced for good or complained."""
    outcome = bounces.read_mailbox()
    if outcome.read:
        logger.info("bounces: %s", vars(outcome))
    return vars(outcome)
