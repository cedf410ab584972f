"""The local admin that `dev.py run` makes and prints."""

import io

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def ensure_admin() -> str:
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    return out.getvalue()


def test_the_first_run_makes_an_admin_with_an_email_and_prints_its_password(var_dir):
    printed = ensure_admin()
    password = (var_dir / "admin-password.txt").read_text()
    kept = var_dir / "admin-password.txt"
    assert (
        f"user: admin   password: {password} (kept in {kept})   email: admin@localhost" in printed
    )
    admin = authenticate(username="admin", password=password)
    assert admin is not None and admin.is_superuser and admin.email == "admin@localhost"
    assert (var_dir / "admin-password.txt").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("password", ["-mHcVo1okUZ1bTh3", "--help", "plain_Pass-word0"])
def test_any_generated_password_is_taken_as_it_is(var_dir, password):
    (var_dir / "admin-password.txt").write_text(password)
    assert f"password: {password} " in ensure_admin()
    assert authenticate(username="admin", password=password) is not None


def test_running_again_keeps_the_password_and_says_which_when_it_was_changed(var_dir):
    ensure_admin()
    first = (var_dir / "admin-password.txt").read_text()
    assert f"password: {first} " in ensure_admin()
    assert authenticate(username="admin", password=first) is not None

    admin = get_user_model().objects.get(username="admin")
    admin.set_password("chosen in admin, kept")
    admin.save()
    assert "password: (the one you set)" in ensure_admin()
    assert authenticate(username="admin", password="chosen in admin, kept") is not None


def test_an_existing_admin_without_an_email_gets_one(var_dir):
    get_user_model().objects.create_superuser("admin", "", "whatever-it-was")
    assert "email: admin@localhost" in ensure_admin()
    assert get_user_model().objects.get(username="admin").email == "admin@localhost"
