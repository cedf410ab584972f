"""Logging for operations: a request id on every line, email addresses and the tokens of
emailed links never written out, and JSON lines in production (LOG_FORMAT=json)."""

import contextvars
import hashlib
import json
import logging
import re
import uuid

from django.http import HttpRequest, HttpResponse

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# An unsubscribe or preferences link never expires: its token in a log is a key to the person's
# settings.
_TOKEN_IN_PATH = re.compile(r"(/(?:u|waitlist/(?:confirm|welcome|preferences))/)[^/?#\s\"']+")


def without_tokens(text: str) -> str:
    return _TOKEN_IN_PATH.sub(r"\1[token]", text)


def email_fingerprint(email: str) -> str:
    return "email:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:12]


def cleaned(text: str) -> str:
    """`text` with every email address replaced by its fingerprint and every link token by
    [token]."""
    return without_tokens(_EMAIL.sub(lambda m: email_fingerprint(m.group(0)), text))


class RequestIdMiddleware:
    """Take the load balancer's X-Request-ID when it is well formed, else make one; echo it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        token = request_id.set(given if _REQUEST_ID.match(given) else uuid.uuid4().hex)
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id.get()
            return response
        finally:
            request_id.reset(token)


class ContextFilter(logging.Filter):
    """Adds the request id, replaces every email address in the message by a hash and every
    link token by [token]."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        message = record.getMessage()
        if (clean := cleaned(message)) != message:
            record.msg, record.args = clean, None
        return True


class PlainFormatter(logging.Formatter):
    """Lines for a terminal; a traceback cleaned as the message is (an SMTP refusal's names
    the address)."""

    def formatException(self, ei) -> str:  # noqa: N802
        return cleaned(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            line["exception"] = cleaned(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)
