"""Events from the email service (through django-anymail's tracking webhook)."""

from anymail.signals import tracking
from django.dispatch import receiver

from . import feedback


@receiver(tracking)
def email_service_event(sender, event, esp_name, **kwargs) -> None:
    feedback.record_tracking_event(
        event_type=event.event_type,
        recipient=event.recipient or "",
        message_id=event.message_id,
        answer=event.mta_response or event.description or "",
    )
