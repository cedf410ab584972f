import sqlite3

from django.conf import settings
from django.core import checks

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
