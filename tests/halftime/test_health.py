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
def test_readyz_is_ready_when_database_and_redis_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": True, "redis": True}}


@pytest.mark.django_db
def test_readyz_is_503_when_redis_is_unreachable(client):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "redis": False}


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
        '503 {"status": "unavailable", "checks": {"database": false, "redis": true}}'
    ), result.stderr
