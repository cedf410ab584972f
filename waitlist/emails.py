"""Build email messages. Nothing here writes to the database or sends."""

import base64
import secrets
import smtplib
from dataclasses import dataclass
from email.header import Header
from email.utils import formatdate, parseaddr
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


def message_id_domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def message_id(kind: str, number: int) -> str:
    """Deterministic, so a message sent twice after a crash carries the same id both times."""
    return f"<{kind}.{number}@{message_id_domain()}>"


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


def server_unavailable(exc: BaseException) -> bool:
    """The mail server could not be reached or dropped the session: nothing about the message or
    the address. Such a failure waits for the server and never uses up a message's attempts; any
    other refusal does, so a message the server keeps refusing ends failed, not retried forever."""
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == 421  # "service not available, closing channel"
    # The socket's own errors (refused, reset, timed out); smtplib's are OSErrors too.
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


@dataclass(frozen=True)
class CampaignTemplate:
    """A campaign rendered once, with a slot for each person's own links."""

    subject: str
    text: str
    html: str
    list_id: str
    from_email: str
    mailto: str
    encoded_subject: str
    boundary: str
    unsubscribe_url: str
    preferences_url: str


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
    subject = " ".join(campaign.subject.split())
    return CampaignTemplate(
        subject=subject,
        text=render_to_string("waitlist/email/campaign.txt", context),
        html=render_to_string("waitlist/email/campaign.html", context),
        list_id=f"{settings.SITE_NAME} launch updates <launch.{domain}>",
        from_email=settings.DEFAULT_FROM_EMAIL,
        mailto=parseaddr(settings.DEFAULT_FROM_EMAIL)[1],
        encoded_subject=Header(subject, "utf-8").encode() if not subject.isascii() else subject,
        boundary=f"==halftime-{campaign.pk}-{secrets.token_hex(8)}==",
        # Reversed once per campaign; each person's token goes in place of the "{}".
        unsubscribe_url=absolute(reverse("waitlist:unsubscribe", args=["TOKEN"])).replace(
            "TOKEN", "{}"
        ),
        preferences_url=absolute(reverse("waitlist:preferences", args=["TOKEN"])).replace(
            "TOKEN", "{}"
        ),
    )


def campaign_message_id(campaign_id: int, subscriber_id: int) -> str:
    return message_id(f"campaign.{campaign_id}", subscriber_id)


@dataclass(frozen=True)
class CampaignCopy:
    """One person's copy: their address, their links, the headers every campaign carries."""

    to: str
    headers: dict[str, str]
    text: str
    html: str


def personal_copy(
    template: CampaignTemplate, *, campaign_id: int, subscriber_id: int, email: str, token_key: str
) -> CampaignCopy:
    ids = {"subscriber_id": subscriber_id, "key": token_key}
    unsubscribe = template.unsubscribe_url.format(tokens.make_token(tokens.UNSUBSCRIBE, **ids))
    preferences = template.preferences_url.format(tokens.make_token(tokens.PREFERENCES, **ids))

    def personal(body: str) -> str:
        return body.replace(UNSUBSCRIBE_SLOT, unsubscribe).replace(PREFERENCES_SLOT, preferences)

    return CampaignCopy(
        to=email,
        headers={
            "Message-ID": campaign_message_id(campaign_id, subscriber_id),
            "List-Unsubscribe": f"<{unsubscribe}>, <mailto:{template.mailto}?subject=unsubscribe>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": template.list_id,
        },
        text=personal(template.text),
        html=personal(template.html),
    )


def campaign_email(
    template: CampaignTemplate, copy: CampaignCopy, *, connection=None
) -> EmailMultiAlternatives:
    """The copy as a Django email, for any backend (SMTP or an email service's API)."""
    message = EmailMultiAlternatives(
        subject=template.subject,
        body=copy.text,
        from_email=template.from_email,
        to=[copy.to],
        connection=connection,
        headers=dict(copy.headers),
    )
    message.attach_alternative(copy.html, "text/html")
    return message


def _base64_part(content_type: str, body: str) -> str:
    encoded = base64.encodebytes(body.encode()).decode("ascii").replace("\n", "\r\n")
    return (
        f'Content-Type: {content_type}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + encoded
    )


def campaign_mime(template: CampaignTemplate, copy: CampaignCopy) -> bytes:
    """The same message as `campaign_email` builds, written directly: Python's email package
    spends most of a send folding headers it need not fold. Only for plain-ASCII addresses."""
    headers = {
        "From": template.from_email,
        "To": copy.to,
        "Subject": template.encoded_subject,
        "Date": formatdate(localtime=False),
        "MIME-Version": "1.0",
        **copy.headers,
        "Content-Type": f'multipart/alternative; boundary="{template.boundary}"',
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    parts = (
        f"--{template.boundary}\r\n{_base64_part('text/plain', copy.text)}"
        f"--{template.boundary}\r\n{_base64_part('text/html', copy.html)}"
        f"--{template.boundary}--\r\n"
    )
    return (head + "\r\n" + parts).encode("ascii")
