"""A campaign's lifecycle, run: the one way its status changes (`move`), why a step is not
possible now (`refusal`), what a person may do now (`offered`) and what was done (`log`).
The states and transitions themselves are declared on `Campaign`."""

from django.db import transaction
from django_fsm import ConcurrentTransition, can_proceed, has_transition_perm
from django_fsm_log.models import StateLog

from ..models import Campaign


class CampaignError(Exception):
    """An operator asked for something the campaign's state does not allow."""


# Why a step is not possible in a state, in the operator's words: first for the step, then
# for the state.
REFUSALS = {
    ("unschedule", Campaign.Status.DRAFT): "It is already a draft.",
    ("unschedule", Campaign.Status.SENDING): "It has started sending: pause it instead.",
    ("unschedule", Campaign.Status.PAUSED): "It has started sending: cancel it instead.",
    ("schedule", Campaign.Status.SCHEDULED): "It is already scheduled.",
    ("send_now", Campaign.Status.SCHEDULED): (
        "It is scheduled: take it back to draft first to send it now."
    ),
    ("pause", Campaign.Status.SCHEDULED): "It has not started sending: take it back to draft.",
    ("pause", Campaign.Status.PAUSED): "It is already paused.",
    ("cancel", Campaign.Status.DRAFT): "A draft sends nothing: there is nothing to cancel.",
    ("retry_failed", Campaign.Status.CANCELLED): (
        "It was cancelled: nothing more goes out, so its failed messages stay failed."
    ),
}
IN_STATE = {
    Campaign.Status.DRAFT: "It has not started sending.",
    Campaign.Status.SCHEDULED: "It has not started sending.",
    Campaign.Status.SENDING: "It is already sending.",
    Campaign.Status.PAUSED: "It has started sending: resume it or cancel it.",
    Campaign.Status.SENT: "It has finished sending.",
    Campaign.Status.CANCELLED: "It was cancelled.",
}
ENDED = {status: IN_STATE[status] for status in (Campaign.Status.SENT, Campaign.Status.CANCELLED)}


def refusal(campaign: Campaign, name: str) -> str:
    """Why the step `name` cannot be taken now, as the operator reads it."""
    status = Campaign.Status(campaign.status)
    if (name, status) in REFUSALS:
        return REFUSALS[name, status]
    step = getattr(campaign, name)
    if can_proceed(step, check_conditions=False) and name == "retry_failed":
        return "No message has failed."
    return IN_STATE[status]


def move(campaign: Campaign, name: str, *, by=None, why: str = "", **arguments) -> Campaign:
    """Take the transition `name` and save it, recorded with `by` (a person; None: the
    workers) and `why`. Refused with the reason (CampaignError) when it is not possible in the
    campaign's state, when `by` may not take it, or when the row moved meanwhile (a worker or
    another operator got there first): nothing is written then."""
    step = getattr(campaign, name)
    if not can_proceed(step):
        raise CampaignError(refusal(campaign, name))
    if by is not None and not has_transition_perm(step, by):
        raise CampaignError("You may not do that: it takes the “send campaigns” permission.")
    before = {f.attname: getattr(campaign, f.attname) for f in Campaign._meta.concrete_fields}
    try:
        with transaction.atomic():
            step(by=by, description=why, **arguments)
            changed = [f for f, value in before.items() if getattr(campaign, f) != value]
            campaign.save(update_fields={"status", *changed})
    except ConcurrentTransition:
        campaign.refresh_from_db()
        raise CampaignError(refusal(campaign, name)) from None
    return campaign


def move_if_sending(campaign_id: int, name: str, **arguments) -> bool:
    """The workers' transitions: taken only on a campaign that is sending, and quietly not
    taken when an operator or another worker moved it first."""
    campaign = Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).first()
    if campaign is None:
        return False
    try:
        move(campaign, name, **arguments)
    except CampaignError:
        return False
    return True


def pause_by_workers(campaign_id: int, reason: str) -> bool:
    """The workers pause a sending campaign, saying why; False if it was not sending."""
    return move_if_sending(campaign_id, "pause", reason=reason, why=reason)


def offered(campaign: Campaign, user) -> list[dict]:
    """The steps `user` may take now, in order: what the campaign page shows as buttons.
    Schedule and Send now lead to their confirmation page, which runs the preflight and says
    what is missing; every other step is offered only when it would be taken."""
    steps = []
    for each in campaign.get_all_status_transitions():
        step = getattr(campaign, each.name)
        confirmed = each.custom.get("confirm", False)
        if "label" not in each.custom or not can_proceed(step, check_conditions=not confirmed):
            continue
        if not each.has_perm(campaign, user) or each.name in {s["name"] for s in steps}:
            continue
        steps.append({"name": each.name, "label": each.custom["label"], "confirm": confirmed})
    return steps


def log(campaign: Campaign):
    """The campaign's recorded transitions, newest first: who or what, when, from, to, why."""
    return StateLog.objects.for_(campaign).select_related("by").order_by("-timestamp", "-pk")
