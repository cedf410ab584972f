"""Referral milestones: a person reaches one when enough friends joined through their link and
confirmed; reaching it is recorded once and announced by email in the same transaction."""

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from ..models.people import Milestone, MilestoneReached, OutboundEmail, Subscriber
from . import outbox


def award(referrer: Subscriber) -> list[Milestone]:
    """Every milestone `referrer` has the referrals for and had not reached: recorded and
    announced. Called with the referrer's row locked, as a referral is credited."""
    if referrer.status != Subscriber.Status.CONFIRMED:
        return []  # left, or erased, meanwhile
    count = referrer.credited_referrals()
    due = Milestone.objects.filter(referrals__lte=count).exclude(reached__subscriber=referrer)
    return [milestone for milestone in due if _reach(referrer, milestone)]


def award_everyone_due(milestone: Milestone) -> int:
    """A milestone new or lowered: everyone on the list who already has its referrals reaches
    it now. Returns how many did."""
    credited = Count("referrals", filter=Q(referrals__referral_credited=True))
    people = (
        Subscriber.objects.filter(status=Subscriber.Status.CONFIRMED)
        .exclude(milestones_reached__milestone=milestone)
        .annotate(credited=credited)
        .filter(credited__gte=milestone.referrals)
    )
    return sum(_reach(person, milestone) for person in people.iterator())


def _reach(subscriber: Subscriber, milestone: Milestone) -> bool:
    """Record it and queue its email; False if it was already recorded (a race with another
    path awarding it)."""
    try:
        with transaction.atomic():
            MilestoneReached.objects.create(
                subscriber=subscriber, milestone=milestone, reached_at=timezone.now()
            )
            outbox.queue(subscriber, kind=OutboundEmail.Kind.MILESTONE, milestone=milestone)
    except IntegrityError:
        return False
    return True


def progress(subscriber: Subscriber) -> list[dict]:
    """Each milestone as the person's referral page shows it: reached (and when) or how many
    confirmed referrals are still to go."""
    count = subscriber.credited_referrals()
    reached = dict(subscriber.milestones_reached.values_list("milestone_id", "reached_at"))
    return [
        {
            "milestone": milestone,
            "reached_at": reached.get(milestone.pk),
            "to_go": max(0, milestone.referrals - count),
        }
        for milestone in Milestone.objects.all()
    ]
