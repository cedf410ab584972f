"""What comes back about our mail, through django-anymail's `tracking` signal: an email
service's webhook sends it, and so does the bounce mailbox (`engine.bounces`)."""

from anymail.signals import tracking
from django.dispatch import receiver

from . import feedback
from .engine import bounces


@receiver(tracking)
def email_service_event(sender, event, esp_name, **kwargs) -> str:
    return feedback.record(event, from_mailbox=esp_name == bounces.MAILBOX)
