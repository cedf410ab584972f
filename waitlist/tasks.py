import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


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


@shared_task
def sweep_outbox() -> int:
    ids = services.due_outbound_ids()
    for outbound_id in ids:
        services.enqueue_outbound(outbound_id)
    if ids:
        logger.info("outbox: re-enqueued %s email(s)", len(ids))
    return len(ids)
