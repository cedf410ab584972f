"""The one rate limiter, for signups and admin sign-in, on the real counters' store; and what
each does while that store is down."""

import time

import pytest
from django.test import Client

from tests.factories import StaffFactory
from waitlist.models import Subscriber

pytestmark = pytest.mark.django_db

UNREACHABLE = {
    "BACKEND": "django_redis.cache.RedisCache",
    "LOCATION": "redis://127.0.0.1:1/0",
    "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
}


@pytest.fixture
def counters_down(settings):
    settings.CACHES = {**settings.CACHES, "ratelimit": UNREACHABLE}


def sign_in(username: str, password: str, *, ip: str) -> int:
    client = Client(HTTP_HOST="localhost", REMOTE_ADDR=ip)
    return client.post("/admin/login/", {"username": username, "password": password}).status_code


def in_one_window(seconds: int = 900, margin: float = 30) -> None:
    """Start where the limiter's fixed window has `margin` seconds left at least: a test that
    crosses into the next window starts counting again, as the limiter does."""
    left = seconds - time.time() % seconds
    if left < margin:
        time.sleep(left + 0.1)


def test_spacing_and_case_of_a_username_buy_no_more_attempts(settings):
    settings.ADMIN_LOGIN_ATTEMPTS = 3
    in_one_window()
    StaffFactory(username="root", password="the right one")
    codes = [sign_in("root", f"guess{i}", ip=f"198.51.100.{i}") for i in range(3)]
    assert codes == [200, 200, 200]
    variants = (" root", "root ", "\troot", "root\n", "ROOT", "\uff52\uff4f\uff4f\uff54")
    for number, variant in enumerate(variants):  # each from an address of its own
        assert sign_in(variant, "the right one", ip=f"203.0.113.{number}") == 429, repr(variant)
    assert sign_in("rooted", "guess", ip="203.0.113.99") == 200, "another name has its own tries"


def test_a_signup_goes_through_while_the_counters_are_down(client, counters_down):
    response = client.post("/waitlist/", {"email": "still.joins@example.com"})
    assert response.status_code == 302
    assert Subscriber.objects.filter(email="still.joins@example.com").exists()


def test_admin_sign_in_is_refused_while_attempts_cannot_be_counted(counters_down):
    StaffFactory(username="boss", password="the right one")
    client = Client(HTTP_HOST="localhost")
    response = client.post("/admin/login/", {"username": "boss", "password": "the right one"})
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert "Sign-in is unavailable for a moment" in response.content.decode()
    assert "_auth_user_id" not in client.session
