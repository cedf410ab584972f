import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the local superuser that `dev.py run` prints, with an email address for test "
        "sends. Its password is made once and kept in VAR_DIR/admin-password.txt; running again "
        "never changes a password."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@localhost")

    def handle(self, *args, username: str, email: str, **options):
        saved = Path(settings.VAR_DIR) / "admin-password.txt"
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            password = saved.read_text().strip() if saved.is_file() else secrets.token_urlsafe(12)
            saved.parent.mkdir(parents=True, exist_ok=True)
            # Written before the user exists, readable by its owner alone from the start.
            with os.fdopen(os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                f.write(password)
            user = get_user_model().objects.create_superuser(username, email, password)
        elif not user.email:
            user.email = email
            user.save(update_fields=["email"])
        known = saved.is_file() and user.check_password(saved.read_text().strip())
        shown = f"{saved.read_text().strip()} (kept in {saved})" if known else "(the one you set)"
        self.stdout.write(
            f"  Admin: {settings.SITE_URL}/{settings.ADMIN_PATH}   user: {username}   "
            f"password: {shown}   email: {user.email}"
        )
        if settings.EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend":
            self.stdout.write(
                f"  Mail, tests to {user.email} included, goes to {settings.EMAIL_FILE_PATH}"
            )
