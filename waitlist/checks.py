import sqlite3

from django.conf import settings
from django.core import checks

from .dbretry import RECORD_WITHIN

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
def outbox_lease_outlasts_a_send(app_configs, **kwargs) -> list[checks.CheckMessage]:
    needed = settings.EMAIL_TIMEOUT + RECORD_WITHIN
    if needed < settings.OUTBOX_LEASE_SECONDS:
        return []
    return [
        checks.Error(
            f"OUTBOX_LEASE_SECONDS={settings.OUTBOX_LEASE_SECONDS} is too short: a live worker "
            f"may take EMAIL_TIMEOUT ({settings.EMAIL_TIMEOUT}) + {RECORD_WITHIN} seconds to send "
            "and record an email, and another would send it again.",
            hint=f"Set OUTBOX_LEASE_SECONDS above {needed}, or lower EMAIL_TIMEOUT.",
            id="waitlist.E002",
        )
    ]
