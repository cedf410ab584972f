"""Build email messages. Nothing here writes to the database or sends."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from . import tokens
from .models import OutboundEmail, Subscriber


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def message_id(kind: str, number: int) -> str:
    """Deterministic, so a message sent twice after a crash carries the same id both times."""
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"<{kind}.{number}@{domain}>"


def links(subscriber: Subscriber) -> dict[str, str]:
    ids = {"subscriber_id": subscriber.pk, "key": subscriber.token_key}
    return {
        "unsubscribe_url": absolute(
            reverse("waitlist:unsubscribe", args=[tokens.make_token(tokens.UNSUBSCRIBE, **ids)])
        ),
        "preferences_url": absolute(
            reverse("waitlist:preferences", args=[tokens.make_token(tokens.PREFERENCES, **ids)])
        ),
    }


def render_email(
    template: str, context: dict, *, to: str, headers: dict[str, str]
) -> EmailMultiAlternatives:
    context = {
        "SITE_NAME": settings.SITE_NAME,
        "POSTAL_ADDRESS": settings.POSTAL_ADDRESS,
        **context,
    }
    subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=headers,
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    return message


def confirmation_email(outbound: OutboundEmail) -> EmailMultiAlternatives:
    subscriber = outbound.subscriber
    token = tokens.make_token(
        tokens.CONFIRM,
        subscriber_id=subscriber.pk,
        key=subscriber.token_key,
        consent_id=outbound.consent_id,
    )
    context = {
        "confirm_url": absolute(reverse("waitlist:confirm", args=[token])),
        "valid_days": tokens.CONFIRM_MAX_AGE.days,
    }
    return render_email(
        "waitlist/email/confirm",
        context,
        to=subscriber.email,
        headers={"Message-ID": message_id("confirmation", outbound.pk)},
    )
