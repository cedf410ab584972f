"""The one way the rooms reach Celery: by a task's name, so nothing below `waitlist.tasks`
imports it. The rows in the database are the guarantee and a task only a hint: with the broker
down this fails at once (no retry; a 1 s connect timeout), says so in the log, and the periodic
sweep or dispatcher hands the work out later."""

import logging

from celery import current_app

logger = logging.getLogger(__name__)


def enqueue(task: str, *args, countdown: float | None = None) -> bool:
    """Ask a worker to run `task` (its name, e.g. "waitlist.tasks.send_outbox") with `args`;
    False if the broker could not be reached."""
    try:
        current_app.send_task(task, args=args, countdown=countdown, retry=False)
    except Exception:
        logger.warning("could not enqueue %s; the periodic tasks will hand its work out", task)
        return False
    return True
