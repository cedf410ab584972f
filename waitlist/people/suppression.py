"""Who is never mailed again: an address that bounced for good or complained of spam."""

from django.utils import timezone

from ..models.people import Subscriber


def suppress(*, subscriber_id: int, reason: str) -> None:
    """Once: the first reason stays."""
    Subscriber.objects.filter(pk=subscriber_id, suppressed_at__isnull=True).update(
        suppressed_at=timezone.now(), suppression_reason=reason
    )
