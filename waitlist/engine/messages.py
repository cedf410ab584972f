"""Build email messages. Nothing here writes to the database or sends."""

import base64
import secrets
from dataclasses import dataclass
from email.header import Header
from email.utils import formatdate, parseaddr
from functools import cached_property
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.crypto import salted_hmac


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def message_id_domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def list_id() -> str:
    """The List-Id of the launch updates: the site's name and domain, nothing about anyone."""
    return f"{settings.SITE_NAME} launch updates <launch.{message_id_domain()}>"


def message_id(kind: str, number: int) -> str:
    """Deterministic, so a message sent twice after a crash carries the same id both times; a
    keyed hash of the row's number, so it tells nothing of how many there are."""
    digest = salted_hmac("waitlist.message-id", f"{kind}.{number}", algorithm="sha256")
    return f"<{kind}.{digest.hexdigest()[:24]}@{message_id_domain()}>"


# --- rendered once, filled in for each person ---------------------------------------------------


def slot(name: str) -> str:
    """A mark in a rendered template where each person's own link goes."""
    return f"\ue000{name}\ue000"


def link_pattern(view_name: str) -> str:
    """A view's absolute URL with "{}" where its token goes: reversed once per batch."""
    return absolute(reverse(view_name, args=["TOKEN"])).replace("TOKEN", "{}")


@dataclass(frozen=True)
class Template:
    """An email rendered once for everyone it goes to, with a slot for each person's links."""

    subject: str
    text: str
    html: str
    from_email: str
    boundary: str
    links: dict[str, str]  # slot name → link_pattern
    headers: dict[str, str]  # the same for every copy

    @cached_property
    def mailto(self) -> str:
        return parseaddr(self.from_email)[1]

    @cached_property
    def encoded_subject(self) -> str:
        return self.subject if self.subject.isascii() else Header(self.subject, "utf-8").encode()

    def link(self, name: str, token: str) -> str:
        return self.links[name].format(token)

    def fill(self, *, to: str, headers: dict[str, str], links: dict[str, str]) -> "Copy":
        text, html = self.text, self.html
        for name, url in links.items():
            text, html = text.replace(slot(name), url), html.replace(slot(name), url)
        return Copy(self, to=to, headers={**headers, **self.headers}, text=text, html=html)


@dataclass(frozen=True)
class Copy:
    """One person's copy of a template: their address, their links, their headers."""

    template: Template
    to: str
    headers: dict[str, str]
    text: str
    html: str


def render(
    template: str,
    context: dict,
    *,
    key: str,
    links: dict[str, str],
    subject: str | None = None,
    headers: dict[str, str] | None = None,
) -> Template:
    """Render `template`.txt, .html and (unless `subject` is given) _subject.txt once, with a
    slot for each of `links`: {slot name: view name}."""
    context = {
        "SITE_NAME": settings.SITE_NAME,
        "SITE_URL": settings.SITE_URL,
        "POSTAL_ADDRESS": settings.POSTAL_ADDRESS,
        **{f"{name}_url": slot(name) for name in links},
        **context,
    }
    if subject is None:
        subject = render_to_string(f"{template}_subject.txt", context)
    return Template(
        subject=" ".join(subject.split()),
        text=render_to_string(f"{template}.txt", context),
        html=render_to_string(f"{template}.html", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        boundary=f"==halftime-{key}-{secrets.token_hex(8)}==",
        links={name: link_pattern(view_name) for name, view_name in links.items()},
        headers=headers or {},
    )


def message(copy: Copy, *, connection=None) -> EmailMultiAlternatives:
    """The copy as a Django email, for any backend (SMTP or an email service's API). An email
    service is told nothing beyond the message: no tags, no metadata, and no open or click
    tracking (an open, or a click's address, says what a person read)."""
    email = EmailMultiAlternatives(
        subject=copy.template.subject,
        body=copy.text,
        from_email=copy.template.from_email,
        to=[copy.to],
        connection=connection,
        headers=dict(copy.headers),
    )
    email.attach_alternative(copy.html, "text/html")
    # django-anymail's attributes; other backends ignore them.
    email.tags, email.metadata = [], {}
    email.track_opens = email.track_clicks = False
    return email


def _base64_part(content_type: str, body: str) -> str:
    encoded = base64.encodebytes(body.encode()).decode("ascii").replace("\n", "\r\n")
    return (
        f'Content-Type: {content_type}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + encoded
    )


def mime(copy: Copy) -> bytes:
    """The same message as `message` builds, written directly: Python's email package spends
    most of a send folding headers it need not fold. Only for plain-ASCII addresses."""
    template = copy.template
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
