import math
import sqlite3
from urllib.parse import urlsplit

from anymail.exceptions import AnymailConfigurationError
from django.conf import settings
from django.core import checks
from django.db import DatabaseError

from .engine.dbretry import RECORD_WITHIN
from .engine.webhooks import TRACKING_VIEWS, secret_set

# The campaign engine claims rows with UPDATE … RETURNING, which SQLite has since 3.35.
SQLITE_NEEDED = (3, 35)


@checks.register(checks.Tags.compatibility)
def sqlite_is_new_enough(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return []
    if sqlite3.sqlite_version_info >= SQLITE_NEEDED:
        return []
    return [
        checks.Error(
            f"SQLite {sqlite3.sqlite_version} is too old: campaigns need 3.35 or newer.",
            hint="Use a Python built with a newer SQLite, or PostgreSQL (DATABASE_URL).",
            id="waitlist.E001",
        )
    ]


@checks.register()
def leases_outlast_a_send(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """A sender renews its claim every quarter lease; between two renewals it may wait for one
    send (EMAIL_TIMEOUT) and one recording through a database outage (RECORD_WITHIN). A lease
    shorter than that lets another worker send a live worker's email again."""
    between_renewals = settings.EMAIL_TIMEOUT + RECORD_WITHIN
    needed = math.floor(between_renewals * 4 / 3) + 1
    return [
        checks.Error(
            f"{name}={seconds} is too short: a live worker may take EMAIL_TIMEOUT "
            f"({settings.EMAIL_TIMEOUT}) + {RECORD_WITHIN} seconds to send and record an email "
            "between two renewals of its claim, and another would send it again.",
            hint=f"Set {name} to {needed} or more, or lower EMAIL_TIMEOUT.",
            id="waitlist.E002",
        )
        for name in ("OUTBOX_LEASE_SECONDS", "CAMPAIGN_LEASE_SECONDS")
        if (seconds := getattr(settings, name)) < needed
    ]


@checks.register(checks.Tags.security, deploy=True)
def the_webhook_is_guarded(app_configs, **kwargs) -> list[checks.CheckMessage]:
    esp = settings.EMAIL_ESP
    if not esp:
        return []
    if esp not in TRACKING_VIEWS:
        return [
            checks.Error(
                f"EMAIL_ESP={esp} is not an email service django-anymail has a webhook for.",
                hint=f"One of: {', '.join(sorted(TRACKING_VIEWS))}.",
                id="waitlist.E003",
            )
        ]
    if not secret_set():
        return [
            checks.Error(
                f"EMAIL_ESP={esp} and no ANYMAIL_WEBHOOK_SECRET: bounces and complaints would "
                "not reach the site, so it would keep mailing addresses that bounce.",
                hint=f"Set ANYMAIL_WEBHOOK_SECRET=user:password and point the service's webhook "
                f"at https://user:password@<your host>/anymail/{esp}/tracking/.",
                id="waitlist.E004",
            )
        ]
    view = TRACKING_VIEWS[esp]
    try:
        view.view_class(**view.view_initkwargs)
    except AnymailConfigurationError as exc:
        return [checks.Error(str(exc).strip(), id="waitlist.E005")]
    return []


@checks.register(checks.Tags.security, deploy=True)
def bounces_come_back(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Mail over SMTP needs the bounce mailbox, or an address that bounces later (not at once)
    is mailed for ever; and its password never travels in clear to another host."""
    url = urlsplit(settings.BOUNCE_MAILBOX_URL)
    smtp = settings.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend"
    if smtp and not settings.BOUNCE_MAILBOX_URL:
        return [
            checks.Warning(
                "Mail goes over SMTP and BOUNCE_MAILBOX_URL is not set: a bounce that comes "
                "back as an email never suppresses its address, so it is mailed again and again.",
                hint="Set BOUNCE_MAILBOX_URL=imaps://user:password@host/INBOX (or pop3s://…), "
                "the mailbox of the envelope sender the SMTP server returns bounces to.",
                id="waitlist.W006",
            )
        ]
    loopback = url.hostname in ("localhost", "127.0.0.1", "::1")
    if url.scheme in ("imap", "pop3") and not loopback:
        return [
            checks.Error(
                f"BOUNCE_MAILBOX_URL reads {url.hostname} over {url.scheme} without TLS: its "
                "password would cross the network in clear.",
                hint=f"Use {url.scheme}s://.",
                id="waitlist.E007",
            )
        ]
    return []


@checks.register(deploy=True)
def providers_are_known(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Without a resolver every recipient is "other": Gmail's, Microsoft's, Yahoo's and
    Apple's paces are never applied, and the From domain's DNS is never checked."""
    if settings.DNS_RESOLVER:
        return []
    return [
        checks.Warning(
            "DNS_RESOLVER is not set: no recipient's mailbox provider is known, so campaigns go "
            "to Gmail, Outlook, Yahoo and iCloud at one shared pace instead of each one's own, "
            "and the From domain's SPF, DKIM and DMARC are not checked before a campaign.",
            hint="Set DNS_RESOLVER=system (the machine's resolver) or DNS_RESOLVER=host[:port].",
            id="waitlist.W008",
        )
    ]


@checks.register(checks.Tags.security, checks.Tags.database, deploy=True)
def webhooks_go_over_https(app_configs, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """A webhook carries people's addresses: never in the clear. The endpoints are rows, so
    this runs when the check is given a database (`check --deploy --database default`)."""
    from .models import WebhookEndpoint  # the app registry is ready once checks run

    found = []
    for alias in databases or []:
        try:
            endpoints = list(WebhookEndpoint.objects.using(alias).filter(active=True))
        except DatabaseError as exc:
            return [
                checks.Error(
                    f"The webhook endpoints could not be read ({exc}): whether each is https "
                    "is unchecked.",
                    hint="Run the check where the database is reachable and migrated.",
                    id="waitlist.E009",
                )
            ]
        found += [
            checks.Error(
                f"The webhook endpoint {endpoint.url} is not https: the people's data it "
                "carries would cross the network in the clear.",
                hint="Change it to an https URL in admin (Webhook endpoints), or untick Active.",
                id="waitlist.E008",
            )
            for endpoint in endpoints
            if urlsplit(endpoint.url).scheme != "https"
        ]
    return found


@checks.register(checks.Tags.security, deploy=True)
def erasures_reach_the_email_service(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """An erasure must reach the email service's own lists (`engine.processors`)."""
    from .engine.processors import SERVICES

    if settings.EMAIL_ESP and settings.EMAIL_ESP not in SERVICES:
        return [
            checks.Error(
                f"Erasures cannot be passed to {settings.EMAIL_ESP}: its suppression API is not "
                "known here, so an erased person's address would stay in its lists.",
                hint=f"Send through one of {', '.join(sorted(SERVICES))}, or over SMTP.",
                id="waitlist.E010",
            )
        ]
    return []


@checks.register(checks.Tags.security, checks.Tags.database, deploy=True)
def the_sender_is_discreet(app_configs, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """The sender's name and the list's name travel with every email, outside its body: they
    must not name a condition (`engine.discreet`). Run with a database, like E008."""
    from .engine import discreet

    for alias in databases or []:
        try:
            found = discreet.findings(discreet.sender_fields(), using=alias)
        except DatabaseError as exc:
            return [
                checks.Error(
                    f"The discreet words could not be read ({exc}).",
                    hint="Run the check where the database is reachable and migrated.",
                    id="waitlist.E011",
                )
            ]
        return [
            checks.Error(
                finding,
                hint="Change DEFAULT_FROM_EMAIL or SITE_NAME, or the discreet words in admin.",
                id="waitlist.E012",
            )
            for finding in found
        ]
    return []
