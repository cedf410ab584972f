import contextlib
import json
import logging
import urllib.error
import urllib.request

import pytest

from halftime.logs import ContextFilter, JsonFormatter, email_fingerprint
from tests.conftest import worker_env
from tests.mailsink import free_port
from tests.processes import gunicorn, wait_until


def record(message: str, *args) -> logging.LogRecord:
    return logging.LogRecord("waitlist", logging.INFO, __file__, 1, message, args, None)


def test_email_addresses_never_reach_a_log_line():
    line = record("signup from %s failed", "Jane.Doe+x@example.com")
    ContextFilter().filter(line)
    text = JsonFormatter().format(line)
    assert "Jane.Doe" not in text and "example.com" not in text
    assert email_fingerprint("jane.doe+x@example.com") in text


def test_log_lines_are_json_with_a_request_id():
    line = record("hello")
    ContextFilter().filter(line)
    data = json.loads(JsonFormatter().format(line))
    assert data["message"] == "hello" and data["level"] == "INFO" and data["request_id"] == "-"


@pytest.mark.django_db
def test_every_response_carries_a_request_id_and_a_good_one_is_kept(client):
    made = client.get("/healthz")["X-Request-ID"]
    assert len(made) == 32
    kept = client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234567890")["X-Request-ID"]
    assert kept == "lb-1234567890"
    assert client.get("/healthz", HTTP_X_REQUEST_ID="bad id!")["X-Request-ID"] != "bad id!"


@pytest.mark.django_db
def test_an_oversized_body_is_refused_with_a_400(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = client.post("/waitlist/", {"email": "big@example.com", "referrer": "x" * 20_000})
    assert response.status_code == 400
    assert "That request didn’t make sense" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_gunicorn_s_access_log_keeps_no_token_of_an_emailed_link(smtp_sink):
    port = free_port()
    env = worker_env(smtp_sink, ALLOWED_HOSTS="127.0.0.1", GUNICORN_CMD_ARGS="--access-logfile -")
    server = gunicorn(env, port=port)
    token = "eyJzIjo0Mn0.s3cret-signature_part"
    try:
        wait_until(lambda: "Booting worker" in server.output(), timeout=20, message="no gunicorn")
        for path in (f"/u/{token}/", f"/waitlist/preferences/{token}/export/?from=mail",
                     f"/waitlist/confirm/{token}/"):  # fmt: skip
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}",
                headers={"Referer": f"http://127.0.0.1:{port}/waitlist/welcome/{token}/"},
            )
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=10).close()
        wait_until(lambda: server.output().count('"GET ') >= 3, timeout=10, message="no log")
    finally:
        server.stop()
    log = server.output()
    assert token not in log and "s3cret" not in log
    assert "GET /u/[token]/ HTTP/1.1" in log
    assert "/waitlist/preferences/[token]/export/?from=mail" in log
    assert "/waitlist/welcome/[token]/" in log  # the Referer too


def test_a_worker_s_log_lines_and_tracebacks_carry_no_address_or_link_token():
    """A Celery worker sets its logging up as below: its lines go through the site's filter."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    script = (
        "import django, logging; django.setup()\n"
        "from halftime.celery import app\n"
        "app.log.setup(loglevel='INFO')\n"
        "log = logging.getLogger('waitlist.engine.sending')\n"
        "log.warning('550 refused jane.doe@example.com; see /u/abc123token/')\n"
        "try:\n"
        "    raise RuntimeError('refused <jane.doe@example.com>')\n"
        "except RuntimeError:\n"
        "    log.exception('send failed')\n"
    )
    env = {**os.environ, "LOG_FORMAT": "plain", "DJANGO_SETTINGS_MODULE": "halftime.settings"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=settings.BASE_DIR, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert "send failed" in output and "RuntimeError" in output, output
    assert "jane.doe" not in output and "abc123token" not in output, output
    assert email_fingerprint("jane.doe@example.com") in output and "/u/[token]/" in output
