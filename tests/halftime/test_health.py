import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]


def test_healthz_answers_ok_without_touching_anything(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"


@pytest.mark.django_db
def test_readyz_is_ready_when_every_store_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": ALL_UP}


ALL_UP = {"database": True, "broker": True, "ratelimit": True, "cache": True}
NOWHERE = "redis://127.0.0.1:1/0"


def unreachable(settings, alias: str) -> dict:
    return {**settings.CACHES, alias: {**settings.CACHES[alias], "LOCATION": NOWHERE}}


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_or_the_rate_limits_are_unreachable(client, settings):
    with override_settings(CELERY_BROKER_URL=NOWHERE):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {**ALL_UP, "broker": False}
    with override_settings(CACHES=unreachable(settings, "ratelimit")):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {**ALL_UP, "ratelimit": False}


@pytest.mark.django_db
def test_readyz_tells_the_cache_is_down_and_stays_ready(client, settings):
    with override_settings(CACHES=unreachable(settings, "default")):
        response = client.get("/readyz")
        assert client.get("/").status_code == 200
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {**ALL_UP, "cache": False}}


def test_the_test_redis_is_real(settings):
    assert redis.Redis.from_url(settings.REDIS_URL).ping()


def test_readyz_is_503_when_the_database_is_unreachable():
    # A separate process, so this one's connection settings stay untouched.
    script = (
        "import django; django.setup();"
        "from django.test import Client;"
        "r = Client(HTTP_HOST='localhost').get('/readyz');"
        "print(r.status_code, r.content.decode())"
    )
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere"}
    env["DJANGO_SETTINGS_MODULE"] = "halftime.settings"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.stdout.strip().splitlines()[-1] == (
        '503 {"status": "unavailable", "checks": {"database": false, "broker": true, '
        '"ratelimit": true, "cache": true}}'
    ), result.stderr
