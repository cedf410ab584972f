"""Enrol a staff member for two-factor sign-in: make their authenticator-app secret and show it
as a QR code and as text, once. Admin asks for a code from it when ADMIN_OTP_REQUIRED is on."""

import io
from base64 import b32encode

import segno
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

DEVICE_NAME = "Authenticator app"


class Command(BaseCommand):
    help = "Create a TOTP authenticator for a staff user and print how to add it to their app."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Remove the user's existing authenticators first (a lost phone).",
        )

    def handle(self, username: str, replace: bool, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user called {username!r}.")
        if not user.is_staff:
            raise CommandError(f"{username} is not staff: only staff sign in to admin.")
        with transaction.atomic():
            existing = TOTPDevice.objects.devices_for_user(user, confirmed=None)
            if existing.exists() and not replace:
                raise CommandError(
                    f"{username} already has an authenticator. To give them a new one (the old "
                    "one stops working), run again with --replace."
                )
            existing.delete()
            device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=True)
        url = device.config_url
        qr = io.StringIO()
        segno.make(url, error="m").terminal(out=qr, compact=True)
        self.stdout.write(qr.getvalue())
        self.stdout.write("Scan the code above with an authenticator app, or enter this key:")
        self.stdout.write(f"  {b32encode(device.bin_key).decode()}")
        self.stdout.write(f"Link: {url}")
        self.stdout.write(
            self.style.SUCCESS(f"{username} now signs in to admin with a code from that app.")
        )
