"""What the transactional emails say, as operators write it: a subject and Markdown wording per
kind of email, versioned (`EmailWording`), with {placeholders} filled in for each email. The
templates around the wording (the button, the links, the footer) stay in code. Until an
operator saves one, each kind's first version is the wording below."""

import re
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from articles.rendering import render_markdown, render_text

from ..models.people import EmailWording, OutboundEmail

Kind = OutboundEmail.Kind
ASKING_FIELDS = ("site_name", "valid_days")
PERSONAL_FIELDS = ("site_name", "position", "places")
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    Kind.CONFIRMATION: ASKING_FIELDS,
    Kind.REMINDER: ASKING_FIELDS,
    Kind.RECONFIRM: ASKING_FIELDS,
    Kind.WELCOME: PERSONAL_FIELDS,
    Kind.LINKS: PERSONAL_FIELDS,
    Kind.MOVED_UP: PERSONAL_FIELDS,
    # {friends}: "1 friend", "3 friends".
    Kind.MILESTONE: (*PERSONAL_FIELDS, "reward", "referrals", "friends", "details"),
    Kind.INVITATION: ASKING_FIELDS,
}
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

DEFAULTS: dict[str, tuple[str, str]] = {
    Kind.CONFIRMATION: (
        "Confirm your email for {site_name} updates",
        "## Please confirm your email address\n\n"
        "Someone, hopefully you, asked to hear from {site_name} when we launch. To confirm, "
        "open the link below and press the button.\n\n"
        "The link works for {valid_days} days. If you did not ask for this, ignore this email "
        "and you will hear nothing more from us.",
    ),
    Kind.REMINDER: (
        "Still want {site_name} updates? Confirm your email",
        "## One reminder: please confirm your email address\n\n"
        "A couple of days ago someone, hopefully you, asked to hear from {site_name} when we "
        "launch, and the address is not confirmed yet. To confirm, open the link below and "
        "press the button.\n\n"
        "The link works for {valid_days} days. This is the only reminder we send: if you do "
        "nothing, we will delete this address and everything we hold with it.",
    ),
    Kind.RECONFIRM: (
        "Do you still want {site_name} updates? Please confirm",
        "## Do you still want to hear from {site_name}?\n\n"
        "You signed up for news about {site_name} on a list we kept elsewhere, and we have "
        "moved it. We only email people who have confirmed they want our updates, so please "
        "confirm: open the link below and press the button.\n\n"
        "The link works for {valid_days} days. If you do nothing, you will hear nothing more "
        "from us, and we will delete your address.",
    ),
    Kind.WELCOME: (
        "You’re on the {site_name} waitlist",
        "## You’re on the list\n\n"
        "Thanks for confirming. You’re number **{position}** on the {site_name} waitlist.",
    ),
    Kind.LINKS: (
        "Your {site_name} waitlist links",
        "## Here are your links\n\n"
        "Someone, hopefully you, entered this address on the {site_name} waitlist. You’re "
        "already on it: number **{position}**. Nothing has changed, and there is nothing to "
        "confirm.",
    ),
    Kind.MILESTONE: (
        "You reached a reward on the {site_name} waitlist: {reward}",
        "## You reached a reward: {reward}\n\n"
        "{friends} joined through your link and confirmed their email. Thank you.\n\n"
        "{details}\n\n"
        "You’re number **{position}** on the {site_name} waitlist. Keep sharing your link.",
    ),
    Kind.MOVED_UP: (
        "A friend joined through your link: you moved up the {site_name} waitlist",
        "## You moved up to number {position}.\n\n"
        "A friend joined the {site_name} waitlist through your link and confirmed their "
        "email, so you moved up {places} places. Who it was stays private; your page lists "
        "each friend masked, and whether they counted.\n\n"
        "We send at most one of these a day.",
    ),
    Kind.INVITATION: (
        "Your invitation to {site_name}",
        "## You’re invited\n\n"
        "{site_name} is open in your state, and your code has let you in.\n\n"
        "**What happens next:** accept your invitation with the button below. Our care team "
        "then helps you set up your patient account and book a first visit with a clinician "
        "licensed in your state. The link is yours alone, works once and stays valid for "
        "{valid_days} days.",
    ),
}


def current(kind: str) -> EmailWording:
    """The latest version of `kind`'s wording; the built-in one becomes version 1 the first
    time it is asked for."""
    latest = EmailWording.objects.filter(kind=kind).order_by("-version").first()
    if latest is not None:
        return latest
    subject, body = DEFAULTS[kind]
    try:
        with transaction.atomic():
            return EmailWording.objects.create(kind=kind, version=1, subject=subject, body=body)
    except IntegrityError:  # made at the same moment by another process
        return EmailWording.objects.get(kind=kind, version=1)


def unknown_placeholders(kind: str, *texts: str) -> list[str]:
    """The {names} in `texts` that `kind`'s emails have no value for."""
    known = set(PLACEHOLDERS[kind])
    found = {name for text in texts for name in PLACEHOLDER.findall(text)}
    return sorted(found - known)


def fill(text: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)


@dataclass(frozen=True)
class Written:
    """A version's wording with its placeholders filled: the subject, and the body as HTML and
    as plain text."""

    version: EmailWording
    subject: str
    html: str
    text: str


def write(version: EmailWording, values: dict[str, str]) -> Written:
    """`values` for the kind's placeholders (a person's own, such as their place, as slots)."""
    values = {"site_name": settings.SITE_NAME, **values}
    body = fill(version.body, values)
    return Written(
        version=version,
        subject=" ".join(fill(version.subject, values).split()),
        html=render_markdown(body, breaks=True).html,
        text=render_text(body),
    )
