import json
import logging

import pytest

from halftime.logs import ContextFilter, JsonFormatter, email_fingerprint


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
