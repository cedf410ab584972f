from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


def local_dirs() -> list[Path]:
    """VAR_DIR (beat keeps its schedule there) and the folders the embedded default writes to;
    none of the latter when a server holds that data."""
    dirs = [Path(settings.VAR_DIR)]
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        dirs.append(Path(database["NAME"]).parent)
    if settings.CELERY_BROKER_URL == "filesystem://":
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        dirs += [Path(options[key]) for key in ("data_folder_in", "processed_folder")]
        dirs.append(Path(options["control_folder"]))
    if settings.EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend":
        dirs.append(Path(settings.EMAIL_FILE_PATH))
    for cache in settings.CACHES.values():
        if cache["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache":
            dirs.append(Path(cache["LOCATION"]))
    return dirs


class Command(BaseCommand):
    help = (
        "Create the folders the embedded default writes to (the SQLite database's, the Celery "
        "broker's, the outbox, the cache); `dev.py run` calls it before anything starts."
    )

    def handle(self, *args, **options):
        for folder in local_dirs():
            folder.mkdir(parents=True, exist_ok=True)
            if options["verbosity"] > 1:
                self.stdout.write(str(folder))
