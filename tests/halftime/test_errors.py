import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_a_missing_page_gets_the_branded_404(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "We couldn’t find that page" in page and "Traceback" not in page


def test_a_database_outage_is_a_503_page_not_a_500():
    script = (
        "import django; django.setup();"
        "from django.test import Client;"
        "r = Client(HTTP_HOST='localhost', raise_request_exception=False).get('/learn/');"
        "print(r.status_code, r.get('Retry-After'), 'We’ll be right back' in r.content.decode())"
    )
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere",
        "DJANGO_SETTINGS_MODULE": "halftime.settings",
        "PAGE_CACHE_SECONDS": "0",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.stdout.strip().splitlines()[-1] == "503 5 True", result.stderr[-2000:]


@pytest.mark.django_db
def test_every_page_carries_the_security_headers(client):
    response = client.get("/learn/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "style-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
