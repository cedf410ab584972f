"""Build email messages. Nothing here writes to the database or sends."""

from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe

from . import tokens
from .models import Campaign, OutboundEmail, Subscriber


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


# --- campaigns ---------------------------------------------------------------------------------

UNSUBSCRIBE_SLOT = "\ue000unsubscribe\ue000"
PREFERENCES_SLOT = "\ue000preferences\ue000"


@dataclass(frozen=True)
class CampaignTemplate:
    """A campaign rendered once, with a slot for each person's own links."""

    subject: str
    text: str
    html: str
    list_id: str


def render_campaign(campaign: Campaign) -> CampaignTemplate:
    context = {
        "SITE_NAME": settings.SITE_NAME,
        "SITE_URL": settings.SITE_URL,
        "POSTAL_ADDRESS": settings.POSTAL_ADDRESS,
        "campaign": campaign,
        "body_html": mark_safe(campaign.body_html),
        "body_text": campaign.body.strip(),
        "unsubscribe_url": UNSUBSCRIBE_SLOT,
        "preferences_url": PREFERENCES_SLOT,
    }
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    return CampaignTemplate(
        subject=" ".join(campaign.subject.split()),
        text=render_to_string("waitlist/email/campaign.txt", context),
        html=render_to_string("waitlist/email/campaign.html", context),
        list_id=f"{settings.SITE_NAME} launch updates <launch.{domain}>",
    )


def campaign_message_id(campaign_id: int, subscriber_id: int) -> str:
    return message_id(f"campaign.{campaign_id}", subscriber_id)


def campaign_email(
    template: CampaignTemplate,
    *,
    campaign_id: int,
    subscriber_id: int,
    email: str,
    token_key: str,
    connection=None,
) -> EmailMultiAlternatives:
    ids = {"subscriber_id": subscriber_id, "key": token_key}
    unsubscribe_token = tokens.make_token(tokens.UNSUBSCRIBE, **ids)
    unsubscribe = absolute(reverse("waitlist:unsubscribe", args=[unsubscribe_token]))
    preferences = absolute(
        reverse("waitlist:preferences", args=[tokens.make_token(tokens.PREFERENCES, **ids)])
    )
    mailto = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]

    def personal(body: str) -> str:
        return body.replace(UNSUBSCRIBE_SLOT, unsubscribe).replace(PREFERENCES_SLOT, preferences)

    message = EmailMultiAlternatives(
        subject=template.subject,
        body=personal(template.text),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email],
        connection=connection,
        headers={
            "Message-ID": campaign_message_id(campaign_id, subscriber_id),
            "List-Unsubscribe": f"<{unsubscribe}>, <mailto:{mailto}?subject=unsubscribe>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": template.list_id,
        },
    )
    message.attach_alternative(personal(template.html), "text/html")
    return message
