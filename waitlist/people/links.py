"""What the signed links in every email lead to: reading a link, preferences, leaving."""

import dataclasses

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from ..models.people import Subscriber
from . import events, tokens


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
        subscriber.consents.filter(withdrawn_at__isnull=True).update(withdrawn_at=now)
        subscriber.emails.queued().skip()
    return subscriber


def update_preferences(*, subscriber_id: int, interests: list[str], state: str) -> Subscriber:
    subscriber = Subscriber.objects.get(pk=subscriber_id)
    subscriber.interests, subscriber.state = interests, state
    subscriber.last_active_at = timezone.now()
    subscriber.save(update_fields=["interests", "state", "last_active_at"])
    return subscriber
