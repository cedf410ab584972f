import http.client
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import include, path

from waitlist.models import Subscriber

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


def fails(request):
    raise RuntimeError("SECRET_KEY=leaked stack detail")


def forbidden(request):
    raise PermissionDenied


urlpatterns = [
    path("boom/", fails),
    path("forbidden/", forbidden),
    path("", include("halftime.urls")),
]


def assert_branded(response, status: int, heading: str) -> None:
    page = response.content.decode()
    assert response.status_code == status
    assert heading in page and "Halftime Health" in page
    for leak in ("Traceback", "SECRET_KEY", "leaked", "settings.py", "DEBUG"):
        assert leak not in page


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_a_crash_is_a_branded_500_that_leaks_nothing():
    client = Client(HTTP_HOST="localhost", raise_request_exception=False)
    assert_branded(client.get("/boom/"), 500, "Something went wrong")


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_a_refusal_is_a_branded_403(client):
    assert_branded(client.get("/forbidden/"), 403, "You can’t open this page")


@pytest.mark.django_db
def test_an_oversized_body_is_a_branded_400(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/waitlist/", {"email": "a@example.com", "website": "x" * 5000})
    assert_branded(response, 400, "That request didn’t make sense")


@pytest.mark.django_db
@pytest.mark.parametrize("charset", ["utf-7", "unicode_escape", "utf-16"])
def test_a_form_in_a_charset_that_is_not_utf_8_is_a_branded_400_and_saves_nothing(
    staff_client, charset
):
    """UTF-7 decodes "+2AA-" to a lone surrogate, which no database stores: it would be a 500."""
    content_type = f"multipart/form-data; boundary=b; charset={charset}"
    for url, field in (("/waitlist/", "email"), ("/admin/articles/glossaryterm/add/", "term")):
        body = f"--b\r\nContent-Disposition: form-data; name={field}\r\n\r\nA +2AA- b\r\n--b--\r\n"
        response = staff_client.generic("POST", url, body.encode(), content_type=content_type)
        assert_branded(response, 400, "That request didn’t make sense")
    assert not Subscriber.objects.exists()
    assert staff_client.post("/waitlist/", {"email": "ok@example.com"}).status_code != 400


@pytest.mark.django_db
def test_a_nul_character_in_an_admin_list_s_query_is_a_branded_400(staff_client):
    for url, query in [
        ("/admin/waitlist/subscriber/", {"status": "\x00"}),
        ("/admin/articles/finding/", {"kind": "\x00"}),
        ("/admin/waitlist/campaign/", {"q": "a\x00b"}),
    ]:
        response = staff_client.get(url, query)
        assert_branded(response, 400, "That request didn’t make sense")
        assert staff_client.get(url).status_code == 200


def raw_post(url: str, headers: dict, body: bytes) -> tuple[int, str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.putrequest("POST", "/api/waitlist/")
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(body)
    response = connection.getresponse()
    return response.status, response.read().decode()


@pytest.mark.django_db(transaction=True)
def test_a_file_counts_against_the_body_size_limit(live_server, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000_000
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="email"\r\n\r\n'
        "big@example.com\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="cv"; filename="cv.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    body = head.encode() + b"x" * 3_000_000 + f"\r\n--{boundary}--\r\n".encode()
    status, page = raw_post(live_server.url, {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(body)),
    }, body)  # fmt: skip
    assert status == 400 and "That request didn’t make sense" in page
    assert not Subscriber.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_body_of_no_declared_length_is_refused(live_server):
    chunk = b'{"email": "chunked@example.com"}'
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk)
    status, page = raw_post(live_server.url, {
        "Content-Type": "application/json", "Transfer-Encoding": "chunked",
    }, body)  # fmt: skip
    assert status == 400 and "That request didn’t make sense" in page
    assert not Subscriber.objects.exists()


@pytest.mark.django_db
def test_too_many_signups_get_a_branded_429_with_retry_after(client, settings):
    settings.WAITLIST_IP_LIMIT = 1
    client.post("/waitlist/", {"email": "first@example.com"})
    response = client.post("/waitlist/", {"email": "second@example.com"})
    assert response.status_code == 429 and 0 < int(response["Retry-After"]) <= 600
    page = response.content.decode()
    assert "Please wait up to 10 minutes and try again." in page
    assert "Halftime Health" in page and "Traceback" not in page
    assert 'name="email"' in page  # the form again, to try later
