"""What the signed links in every email lead to: reading a link, preferences, leaving."""

import dataclasses

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from ..models.people import Subscriber
from . import consent, events, tokens


def referral_url(referral_code: str) -> str:
    """The link a person shares: the join page, naming them as the referrer."""
    return f"{settings.SITE_URL}{reverse('waitlist:join')}?ref={referral_code}"


def subscriber_for(purpose: str, token: str) -> tokens.TokenData:
    """Read a signed link and check it still belongs to a living subscriber."""
    data = tokens.read_token(purpose, token)
    people = Subscriber.objects.filter(token_key=data.key)
    if data.subscriber_id is not None:
        people = people.filter(pk=data.subscriber_id)
    subscriber_id = people.values_list("pk", flat=True).first()
    if subscriber_id is None:
        raise tokens.BadToken()
    return dataclasses.replace(data, subscriber_id=subscriber_id)


def unsubscribe(*, subscriber_id: int) -> Subscriber:
    """Idempotent: a second call, or one for someone never confirmed, changes nothing more."""
    now = timezone.now()
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber_id)
        if subscriber.status in (Subscriber.Status.PENDING, Subscriber.Status.CONFIRMED):
            subscriber.status = Subscriber.Status.UNSUBSCRIBED
            subscriber.unsubscribed_at = now
            subscriber.save(update_fields=["status", "unsubscribed_at"])
            events.unsubscribed(subscriber)
        consent.withdraw(subscriber, consent.Purpose.LIST, now=now)
        subscriber.emails.queued().skip()
    return subscriber


def update_preferences(
    *, subscriber_id: int, interests: list[str], interests_consent: bool, state: str,
    ip: str | None = None, user_agent: str = "", gpc: bool = False,
) -> Subscriber:  # fmt: skip
    """Save the person's choices. Their consent to the use of their interests is given or
    withdrawn on its own: withdrawn, the interests are erased and the person stays on the list;
    given, it is recorded as confirmed (the person came through their own signed link)."""
    now = timezone.now()
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber_id)
        had_consent = consent.given(subscriber, consent.Purpose.INTERESTS)
        if interests_consent and not had_consent:
            consent.record(
                subscriber, consent.Purpose.INTERESTS, ip=ip, user_agent=user_agent, gpc=gpc,
                confirmed_at=now,
            )  # fmt: skip
        elif had_consent and not interests_consent:
            consent.withdraw(subscriber, consent.Purpose.INTERESTS, now=now)
        subscriber.interests = interests if interests_consent else []
        subscriber.state = state
        subscriber.gpc = subscriber.gpc or gpc
        subscriber.last_active_at = now
        subscriber.save(update_fields=["interests", "state", "gpc", "last_active_at"])
    return subscriber


def set_state(*, subscriber_id: int, state: str) -> None:
    """The state a person told us on their page; nothing else changes."""
    Subscriber.objects.filter(pk=subscriber_id).update(state=state, last_active_at=timezone.now())
