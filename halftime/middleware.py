import ipaddress
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import parse_header_parameters

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    """While PostgreSQL is unreachable (a restart, a failover) answer 503 with Retry-After, not a
    500: the condition is temporary and clients and load balancers should treat it so."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("database unavailable: %s", exception.__class__.__name__)
        response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = "5"
        return response


class BodySizeLimitMiddleware:
    """Every request body counts against DATA_UPLOAD_MAX_MEMORY_SIZE, files included (Django's
    own check leaves files out), and a body must say its length (no chunked body: no form or
    API of the site sends one). Either refusal is the branded 400, before anything reads it.
    The list import in admin takes files up to LIST_UPLOAD_MAX_BYTES (streamed to a temporary
    file); a larger one is a 413 that says so."""

    FORM = 64 * 1024  # the import form's other fields and the multipart framing

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        upload = request.path_info == reverse("admin:waitlist_import")
        if upload:
            limit = settings.LIST_UPLOAD_MAX_BYTES + self.FORM
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            raise RequestDataTooBig("A request body without a Content-Length.")
        length = request.META.get("CONTENT_LENGTH") or "0"
        if limit is None or (length.isdigit() and int(length) <= limit):
            return self.get_response(request)
        if upload and length.isdigit():
            context = {
                "limit": filesizeformat(settings.LIST_UPLOAD_MAX_BYTES),
                "back": request.path,
            }
            return HttpResponse(render_to_string("413.html", context), status=413)
        raise RequestDataTooBig(f"A request body over {limit} bytes.")


class FormEncodingMiddleware:
    """A request body is read as UTF-8 (or a single-byte charset): every form and API of the
    site sends UTF-8. Another charset named in its Content-Type (UTF-7, say, which decodes to
    text no database stores) is the branded 400, before anything reads the body."""

    READABLE = {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "windows-1252"}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        _, params = parse_header_parameters(request.META.get("CONTENT_TYPE", ""))
        charset = params.get("charset", "utf-8").strip().lower()
        if charset not in self.READABLE:
            raise SuspiciousOperation(f"A request body in {charset!r}, not UTF-8.")
        return self.get_response(request)


class ClientAddressMiddleware:
    """REMOTE_ADDR becomes the visitor's address when TRUSTED_PROXIES reverse proxies (a load
    balancer, nginx) stand in front of gunicorn: each appends the address it was reached from to
    X-Forwarded-For, so the entry TRUSTED_PROXIES from the right is the one the outermost proxy
    saw. Entries further left are whatever the client sent and are never believed. With 0 (the
    default) the header is ignored. Every limit, the consent ledger and the referral checks read
    REMOTE_ADDR."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        trusted = settings.TRUSTED_PROXIES
        if trusted > 0:
            hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
            hops = [h for h in hops if h]
            if len(hops) >= trusted:
                try:
                    request.META["REMOTE_ADDR"] = str(ipaddress.ip_address(hops[-trusted]))
                except ValueError:
                    logger.warning("X-Forwarded-For holds no address where the proxy writes one")
        return self.get_response(request)
