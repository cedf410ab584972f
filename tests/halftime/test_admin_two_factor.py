"""Two-factor sign-in to admin (django-otp, TOTP), enforced when ADMIN_OTP_REQUIRED is on."""

import re
import time
from base64 import b32decode
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import ArticleFactory, CampaignFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a long staff password 42"


@pytest.fixture
def required(settings):
    settings.ADMIN_OTP_REQUIRED = True


def staff_with_authenticator(username="ops") -> tuple[object, bytes]:
    user = StaffFactory(username=username, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    out = StringIO()
    call_command("totp_device", username, stdout=out)
    key = re.search(r"secret=([A-Z2-7]+)", out.getvalue()).group(1)
    return user, b32decode(key + "=" * (-len(key) % 8))


def code(key: bytes, *, steps_ago: int = 0) -> str:
    """What the person's authenticator app shows now, or `steps_ago` 30-second steps ago."""
    generator = TOTP(key, step=30, t0=0, digits=6)
    generator.time = time.time() - 30 * steps_ago
    return f"{generator.token():06d}"


def sign_in(client: Client, username: str, token: str = ""):
    data = {"username": username, "password": PASSWORD, "next": "/admin/"}
    if token:
        data["otp_token"] = token
    return client.post("/admin/login/", data)


def test_with_two_factor_on_a_password_alone_does_not_open_admin(required):
    staff_with_authenticator()
    client = Client(HTTP_HOST="localhost")
    response = sign_in(client, "ops")
    assert response.status_code == 200
    assert "authenticator" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_the_code_from_the_authenticator_opens_admin(required):
    _, key = staff_with_authenticator()
    client = Client(HTTP_HOST="localhost")
    response = sign_in(client, "ops", code(key))
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_wrong_an_old_or_a_reused_code_is_refused(required):
    _, key = staff_with_authenticator()
    client = Client(HTTP_HOST="localhost")
    right = code(key)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    assert sign_in(client, "ops", wrong).status_code == 200
    assert sign_in(client, "ops", code(key, steps_ago=10)).status_code == 200
    TOTPDevice.objects.update(throttling_failure_count=0, throttling_failure_timestamp=None)
    assert sign_in(client, "ops", right).status_code == 302
    client.logout()
    assert sign_in(Client(HTTP_HOST="localhost"), "ops", right).status_code == 200


def test_a_session_signed_in_without_the_code_is_not_let_in(required):
    user, _ = staff_with_authenticator()
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_a_draft_is_previewed_only_in_a_session_admin_would_let_in(required):
    user, key = staff_with_authenticator()
    draft = ArticleFactory(draft=True, title="Not out yet")
    password_only = Client(HTTP_HOST="localhost")
    password_only.force_login(user)
    assert password_only.get(draft.get_absolute_url()).status_code == 404
    with_code = Client(HTTP_HOST="localhost")
    sign_in(with_code, "ops", code(key))
    page = with_code.get(draft.get_absolute_url())
    assert page.status_code == 200 and "Not out yet" in page.content.decode()


def test_staff_without_an_authenticator_cannot_sign_in_when_it_is_required(required):
    user = StaffFactory(username="nodevice")
    user.set_password(PASSWORD)
    user.save()
    client = Client(HTTP_HOST="localhost")
    response = sign_in(client, "nodevice", "123456")
    assert response.status_code == 200
    assert "you have no authenticator yet" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_with_two_factor_off_the_password_is_enough(settings):
    settings.ADMIN_OTP_REQUIRED = False
    staff_with_authenticator()
    client = Client(HTTP_HOST="localhost")
    assert sign_in(client, "ops").status_code == 302
    assert client.get("/admin/").status_code == 200


def test_enrolling_refuses_unknown_people_non_staff_and_a_second_device_by_accident():
    UserFactory(username="visitor")
    with pytest.raises(CommandError, match="No user called"):
        call_command("totp_device", "ghost", stdout=StringIO())
    with pytest.raises(CommandError, match="not staff"):
        call_command("totp_device", "visitor", stdout=StringIO())
    user, old_key = staff_with_authenticator()
    with pytest.raises(CommandError, match="--replace"):
        call_command("totp_device", "ops", stdout=StringIO())
    call_command("totp_device", "ops", "--replace", stdout=StringIO())
    (device,) = TOTPDevice.objects.devices_for_user(user)
    assert device.bin_key != old_key


def test_a_draft_campaign_s_web_version_needs_a_session_admin_would_let_in(required):

    user, key = staff_with_authenticator()
    draft = CampaignFactory(name="Soon", subject="Not sent yet", body="Hello.")
    password_only = Client(HTTP_HOST="localhost")
    password_only.force_login(user)
    assert password_only.get(f"/updates/{draft.pk}/").status_code == 404
    with_code = Client(HTTP_HOST="localhost")
    sign_in(with_code, "ops", code(key))
    page = with_code.get(f"/updates/{draft.pk}/")
    assert page.status_code == 200 and "Not sent yet" in page.content.decode()


def test_admin_shows_nobody_an_authenticator_s_secret():
    staff_with_authenticator("ops")
    other = StaffFactory(username="root", is_superuser=True)
    client = Client()
    client.force_login(other)
    device = TOTPDevice.objects.get(user__username="ops")
    page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").content.decode()
    assert device.key not in page
    for view in ("config", "qrcode"):
        assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/{view}/").status_code == 403
        assert client.get(f"/admin/otp_totp/totpdevice/999999/{view}/").status_code == 403
