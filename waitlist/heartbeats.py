"""Whether beat and the workers are running, told by the periodic tasks themselves: each writes
when it last finished, and a stale time means nothing sends. The campaign page and the admin
index show what that means and how to start the missing process."""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from .models import Heartbeat

# How long a periodic task may be silent, as a multiple of its interval (never under 3 minutes).
MISSED_RUNS = 5
AT_LEAST = dt.timedelta(minutes=3)


@dataclass(frozen=True)
class Periodic:
    task: str
    queue: str
    interval: float
    stops: str  # what stops while it is silent


def periodic_tasks() -> list[Periodic]:
    return [
        Periodic(
            "dispatch_campaigns",
            "default",
            settings.CAMPAIGN_DISPATCH_SECONDS,
            "campaigns are not sent",
        ),
        Periodic(
            "sweep_outbox",
            "mail",
            settings.OUTBOX_SWEEP_SECONDS,
            "confirmation emails that missed the workers wait in the outbox",
        ),
    ]


def record(task: str) -> None:
    Heartbeat.objects.update_or_create(task=task, defaults={"finished_at": timezone.now()})


def silence(periodic: Periodic) -> dt.timedelta:
    return max(AT_LEAST, dt.timedelta(seconds=periodic.interval * MISSED_RUNS))


def warnings(*, tasks: list[str] | None = None) -> list[str]:
    """One sentence per periodic task that has not finished within its silence allowance."""
    seen = dict(Heartbeat.objects.values_list("task", "finished_at"))
    now = timezone.now()
    found = []
    for periodic in periodic_tasks():
        if tasks is not None and periodic.task not in tasks:
            continue
        last = seen.get(periodic.task)
        if last is not None and now - last <= silence(periodic):
            continue
        when = (
            "has never run"
            if last is None
            else f"last ran {timezone.localtime(last):%b %d, %H:%M} "
            f"({int((now - last).total_seconds() // 60)} minutes ago)"
        )
        found.append(
            f"Celery beat or a worker serving the “{periodic.queue}” queue is not running: "
            f"{periodic.task} {when}, so {periodic.stops}. Start both: `python3 dev.py run` "
            f"locally, or the Procfile's processes (`celery -A halftime beat` and "
            f"`celery -A halftime worker --queues mail,campaigns,default`)."
        )
    return found
