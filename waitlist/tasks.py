import logging

from celery import shared_task

from . import heartbeats
from .campaigns import actions, dispatch, figures, journeys
from .engine import bounces, hooks, processors
from .invites import sweep as invitations
from .people import dashboard, domains, importing, outbox, pending, retention

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


@shared_task
def apply_retention() -> dict[str, int]:
    """Delete, or erase down to the address's hash, what is kept past its time (retention.py)."""
    outcome = retention.apply()
    if any(outcome.values()):
        logger.info("retention: %(emails)s email(s), %(webhooks)s webhook(s), %(comments)s "
                    "reader comment(s) and %(counters)s counter file(s) deleted, "
                    "%(unsubscribed)s unsubscribed person(s) erased", outcome)  # fmt: skip
    return outcome


@shared_task
def recount_dashboard() -> float:
    """Count the dashboard's figures again, the campaigns' results among them; the seconds it
    took."""
    return dashboard.recount(more_tables={"campaigns": actions.results_table}).seconds


@shared_task
def count_campaign(campaign_id: int) -> None:
    """Count a started campaign's figures again: its page asked."""
    figures.count(campaign_id)


@shared_task(acks_late=True)
def dispatch_campaigns() -> dict:
    outcome = dispatch.dispatch()
    if outcome["started"] or outcome["lanes"]:
        logger.info("campaigns: started %(started)s, opened %(lanes)s lane(s)", outcome)
    heartbeats.record("dispatch_campaigns")
    return outcome


@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_campaign_lane(campaign_id: int, provider: str, lane: int) -> dict:
    result = dispatch.run_lane(campaign_id, provider, lane)
    if result.claimed:
        counts = ", ".join(f"{what} {n}" for what, n in result.counts().items())
        logger.info("campaign %s, %s lane %s: %s", campaign_id, provider, lane, counts)
    return result.counts()


@shared_task
def look_up_domains() -> int:
    """The mailbox provider of the domains of everyone who may be mailed (DNS_RESOLVER)."""
    looked_up = domains.refresh()
    if looked_up:
        logger.info("mail domains: %s looked up", looked_up)
    return looked_up


@shared_task
def read_bounces() -> dict[str, int]:
    """The bounce mailbox (BOUNCE_MAILBOX_URL): suppress what bounced for good or complained."""
    outcome = bounces.read_mailbox()
    if outcome.read:
        logger.info("bounces: %s", vars(outcome))
    return vars(outcome)


@shared_task(acks_late=True)
def send_webhooks() -> int:
    """Deliver the webhooks that are due (engine/hooks.py)."""
    return hooks.send_due()


@shared_task
def sweep_webhooks() -> int:
    return hooks.sweep()


@shared_task(acks_late=True)
def tell_processors() -> int:
    """Pass erasures on to the email service (engine/processors.py)."""
    return processors.send_due()


@shared_task
def sweep_erasures() -> int:
    return processors.sweep()


@shared_task(acks_late=True)
def tend_invitations() -> dict[str, int]:
    """Invitations: their lifetimes start when their email is sent, and end unused."""
    outcome = invitations.tend()
    if any(outcome.values()):
        logger.info("invitations: %(started)s sent, %(unsent)s never sent, %(expired)s expired, "
                    "%(by_code)s let in by a code", outcome)  # fmt: skip
    return outcome


@shared_task(acks_late=True)
def run_journeys() -> int:
    """Hand each switched-on journey step the people now due (campaigns/journeys.py)."""
    made = journeys.run()
    if made:
        logger.info("journeys: %s email(s) handed to the engine", made)
    return made
