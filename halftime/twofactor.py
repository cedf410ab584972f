"""The admin sign-in form when two-factor sign-in is on. Imported only once apps are loaded."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django_otp.admin import OTPAdminAuthenticationForm
from django_otp.plugins.otp_totp.models import TOTPDevice


class TwoFactorLoginForm(OTPAdminAuthenticationForm):
    """Username, password and the code from the person's authenticator app, in one step.

    django-otp asks which device a code is from rather than trying each; staff here have one
    authenticator (`manage.py totp_device`), so it is chosen for them."""

    otp_error_messages = {
        **OTPAdminAuthenticationForm.otp_error_messages,
        "device_required": (
            "Two-factor sign-in is on and you have no authenticator yet: ask an administrator "
            "to enrol you (manage.py totp_device)."
        ),
    }

    def clean(self):
        self.cleaned_data = AdminAuthenticationForm.clean(self)
        user = self.get_user()
        if not self.cleaned_data.get("otp_device"):
            device = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
            if device is not None:
                self.cleaned_data["otp_device"] = device.persistent_id
        self.clean_otp(user)
        return self.cleaned_data
