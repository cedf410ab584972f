"""Journeys run: every JOURNEY_SECONDS each switched-on step hands the engine the people whose
trigger, plus the step's delay, came since it last looked (an indexed range on the trigger's
moment, never a scan of the list). Each becomes a row of the step's campaign, at most once a
person (the ledger's unique row), and leaves at once, or when quiet hours end in their zone.

Who is due: the mailable people of the step's segment who have not accepted an invitation (a
journey ends where the clinic starts). At sending, the campaign's batch looks again: whoever
unsubscribed, was erased or activated meanwhile is skipped, and a switched-off journey's steps
are paused."""

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Case, DateTimeField, Value, When
from django.db.models.functions import Cast
from django.utils import timezone

from ..models import Campaign, Invitation, Journey, JourneyStep, OpenState, Subscriber
from . import actions, dispatch, timezones
from .lifecycle import CampaignError, move

Trigger = Journey.Trigger
EXPIRY_NOTICE = dt.timedelta(hours=48)


def triggered(trigger: str, after: dt.datetime, until: dt.datetime):
    """The confirmed people whose trigger's moment is in (after, until]: each a range on an
    index that leads with the status."""
    people = Subscriber.objects.filter(status=Subscriber.Status.CONFIRMED)
    match trigger:
        case Trigger.CONFIRMED:
            return people.filter(confirmed_at__gt=after, confirmed_at__lte=until)
        case Trigger.MILESTONE:
            return people.filter(
                milestones_reached__reached_at__gt=after, milestones_reached__reached_at__lte=until
            ).distinct()
        case Trigger.STATE_OPENED:
            zone = timezone.get_current_timezone()
            opened = [
                state
                for state, day in OpenState.objects.values_list("state", "opened_on")
                if after < dt.datetime.combine(day, dt.time(), tzinfo=zone) <= until
            ]
            return people.filter(state__in=opened)
        case Trigger.INVITED:
            return people.filter(
                invitation__status=Invitation.Status.INVITED,
                invitation__invited_at__gt=after, invitation__invited_at__lte=until,
            )  # fmt: skip
        case Trigger.EXPIRING:
            return people.filter(
                invitation__status=Invitation.Status.INVITED,
                invitation__expires_at__gt=after + EXPIRY_NOTICE,
                invitation__expires_at__lte=until + EXPIRY_NOTICE,
            )
        case Trigger.INACTIVE:
            return people.filter(last_active_at__gt=after, last_active_at__lte=until)
    raise ValueError(f"no trigger {trigger!r}")


def due(step: JourneyStep, after: dt.datetime, until: dt.datetime):
    """Whom the step mails between `after` and `until`: triggers in (after − delay,
    until − delay], and none from before the journey was switched on."""
    campaign = step.campaign
    since = max(after - step.delay, step.journey.switched_on_at or after)
    people = triggered(step.journey.trigger, since, until - step.delay)
    return (
        people.filter(pk__in=Subscriber.objects.mailable().in_segment(
            interests=campaign.audience_interests, states=campaign.audience_states,
            milestone=campaign.audience_milestone,
        ).values("pk"))
        .exclude(invitation__status=Invitation.Status.ACTIVATED)
    )  # fmt: skip


def after_quiet_hours(now: dt.datetime):
    """When a row made now may leave, by the person's state: at once, or when quiet hours end
    in their zone."""
    moment = DateTimeField()
    zones: dict[str, list[str]] = {}
    for state, zone in timezones.STATE_ZONES.items():
        zones.setdefault(zone, []).append(state)
    cases = [
        When(state__in=states, then=Value(until, output_field=moment))
        for zone, states in zones.items()
        if (until := timezones.quiet_until(now, zone)) is not None
    ]
    default = timezones.quiet_until(now, settings.TIME_ZONE)
    fallback = Cast(Value(default), moment) if default else Cast(Value(None), moment)
    return Case(*cases, default=fallback, output_field=moment) if cases else fallback


def run(now: dt.datetime | None = None) -> int:
    """Hand every switched-on step its people due now; returns how many rows were made."""
    now = now or timezone.now()
    made = 0
    steps = JourneyStep.objects.filter(
        journey__active=True, campaign__status=Campaign.Status.SENDING
    ).values_list("pk", flat=True)
    for pk in steps:
        with transaction.atomic():
            step = (
                JourneyStep.objects.select_for_update(of=("self",))
                .select_related("journey", "campaign").get(pk=pk)
            )  # fmt: skip
            after = step.scheduled_through or step.journey.switched_on_at
            if after is None or after >= now:
                continue
            made += dispatch.create_deliveries(
                step.campaign, people=due(step, after, now), leaves=after_quiet_hours(now)
            )
            step.scheduled_through = now
            step.save(update_fields=["scheduled_through"])
    return made


# --- switching a journey on and off: its steps' campaigns follow ------------------------------


def switch_on(journey: Journey, *, by=None) -> None:
    """From now on, its triggers send its steps: each step's campaign starts (a draft is sent
    at once, a paused one resumes); only triggers from now count. Refused while a step's email
    breaks discreet mode."""
    now = timezone.now()
    steps = list(journey.steps.select_related("campaign"))
    if problems := [
        f"{step.campaign.name}: {problem}"
        for step in steps
        for problem in actions.discreet_problems(step.campaign)
    ]:
        raise CampaignError(" ".join(problems))
    with transaction.atomic():
        for step in journey.steps.select_related("campaign"):
            campaign = step.campaign
            why = f"The journey “{journey.name}” was switched on."
            if campaign.status == Campaign.Status.DRAFT:
                move(campaign, "send_now", by=by, why=why, now=now)
            elif campaign.status == Campaign.Status.PAUSED:
                move(campaign, "resume", by=by, why=why)
            step.scheduled_through = now
            step.save(update_fields=["scheduled_through"])
        journey.active, journey.switched_on_at = True, now
        journey.save(update_fields=["active", "switched_on_at"])


def switch_off(journey: Journey, *, by=None) -> None:
    """Nothing more goes out: its steps pause, their waiting emails with them."""
    with transaction.atomic():
        for step in journey.steps.select_related("campaign"):
            campaign = step.campaign
            why = f"The journey “{journey.name}” was switched off."
            try:
                if campaign.status == Campaign.Status.SENDING:
                    move(campaign, "pause", by=by, why=why, reason="Its journey is switched off.")
                elif campaign.status == Campaign.Status.SCHEDULED:
                    move(campaign, "unschedule", by=by, why=why)
            except CampaignError:
                continue  # it moved on meanwhile; the journey's switch still holds
        journey.active = False
        journey.save(update_fields=["active"])


# --- the journey the site comes with --------------------------------------------------------

# (days after confirming, the campaign's name, its subject, its Markdown)
WELCOME_STEPS = [
    (
        0,
        "Welcome journey, day 0",
        "What happens between now and launch",
        "## Thanks for joining\n\n"
        "Here is what to expect from us until we open in your state:\n\n"
        "- **The day we open**, an email with your invitation, in the order of the list.\n"
        "- **Now and then**, a short update on what we are building. Never more than two "
        "emails a week.\n"
        "- **Nothing else.** We never share your address, and the link at the bottom of each "
        "email takes you off the list in one click.",
    ),
    (
        3,
        "Welcome journey, day 3",
        "How the Learning Center can help while you wait",
        "## Read before your first visit\n\n"
        "Our clinicians write the Learning Center for people weighing a treatment: what the "
        "evidence says, what a first visit covers, which labs matter and why. Every article is "
        "medically reviewed and lists its sources.\n\n"
        "[Browse the Learning Center](/learn/)",
    ),
    (
        10,
        "Welcome journey, day 10",
        "Move up the list: share your link",
        "## Bring a friend, move up\n\n"
        "Each friend who joins through your personal link and confirms their email moves you "
        "up the list. Your link is on your page, with the friends who have joined so far.",
    ),
]


def ensure_welcome() -> Journey | None:
    """The welcome journey, switched off and ready to edit: made the first time the journeys
    are listed, unless a journey's email was ever written (an operator's journeys stay
    theirs, deleted ones included)."""
    if Campaign.objects.filter(kind=Campaign.Kind.JOURNEY).exists():
        return None
    with transaction.atomic():
        journey = Journey.objects.create(name="Welcome", trigger=Trigger.CONFIRMED)
        for days, name, subject, body in WELCOME_STEPS:
            campaign = Campaign.objects.create(
                kind=Campaign.Kind.JOURNEY, name=name, subject=subject, body=body,
                in_archive=False,
            )  # fmt: skip
            JourneyStep.objects.create(
                journey=journey, delay=dt.timedelta(days=days), campaign=campaign
            )
    return journey
