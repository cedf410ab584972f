"""Whether beat and the workers are running, told by the periodic tasks themselves: each writes
when it last finished, and a stale time means nothing sends. The campaign page and the admin
index show what that means and how to start the missing process."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from .models import Campaign, Heartbeat, OutboundEmail

# How long a periodic task may be silent, as a multiple of its interval (never under 3 minutes).
MISSED_RUNS = 5
AT_LEAST = dt.timedelta(minutes=3)


@dataclass(frozen=True)
class Periodic:
    task: str
    queue: str
    interval: float
    stops: str  # what stops while it is silent
    waiting: Callable[[dt.datetime], bool]  # is work older than this time waiting for it?


def _campaign_due(before: dt.datetime) -> bool:
    return Campaign.objects.filter(status=Campaign.Status.SCHEDULED, send_at__lt=before).exists()


def _email_queued(before: dt.datetime) -> bool:
    return OutboundEmail.objects.filter(
        status=OutboundEmail.Status.QUEUED, created_at__lt=before
    ).exists()


def periodic_tasks() -> list[Periodic]:
    return [
        Periodic(
            "dispatch_campaigns",
            "default",
            settings.CAMPAIGN_DISPATCH_SECONDS,
            "Campaigns are not being sent",
            _campaign_due,
        ),
        Periodic(
            "sweep_outbox",
            "mail",
            settings.OUTBOX_SWEEP_SECONDS,
            "Confirmation emails that missed the workers wait in the outbox",
            _email_queued,
        ),
    ]


def record(task: str) -> None:
    Heartbeat.objects.update_or_create(task=task, defaults={"finished_at": timezone.now()})


def silence(periodic: Periodic) -> dt.timedelta:
    return max(AT_LEAST, dt.timedelta(seconds=periodic.interval * MISSED_RUNS))


def warnings(*, tasks: list[str] | None = None) -> list[str]:
    """One sentence per periodic task silent for longer than its allowance. One that never ran
    is told only once work has waited that long for it: a site that has just started is not
    stalled."""
    seen = dict(Heartbeat.objects.values_list("task", "finished_at"))
    now = timezone.now()
    found = []
    for periodic in periodic_tasks():
        if tasks is not None and periodic.task not in tasks:
            continue
        last, allowed = seen.get(periodic.task), silence(periodic)
        if last is None:
            if not periodic.waiting(now - allowed):
                continue
            when = "has never run"
        elif now - last <= allowed:
            continue
        else:
            minutes = int((now - last).total_seconds() // 60)
            when = f"last ran {timezone.localtime(last):%b %d, %H:%M} ({minutes} minutes ago)"
        found.append(
            f"{periodic.stops}: {periodic.task} {when}. Celery beat or a worker serving the "
            f"“{periodic.queue}” queue is not running. Start them with python3 dev.py run "
            f"locally, or with the Procfile's beat and worker processes (celery -A halftime "
            f"beat, celery -A halftime worker --queues mail,campaigns,default)."
        )
    return found
