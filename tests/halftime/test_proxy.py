"""The documented production shape: nginx with the repo's deploy/nginx.conf in front of a real
gunicorn."""

import contextlib
import http.client
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.conftest import worker_env
from tests.factories import SubscriberFactory
from tests.http import status_of
from tests.mailsink import free_port
from tests.processes import gunicorn, nginx, wait_until
from waitlist.people import tokens

pytestmark = pytest.mark.django_db(transaction=True)


def answers(url: str) -> bool:
    try:
        return status_of(urllib.request.Request(url)) == 200
    except urllib.error.URLError:
        return False


@contextlib.contextmanager
def proxied(tmp_path, smtp_sink, **settings: str):
    """gunicorn with these settings behind nginx with the repo's config: (base URL, access log)."""
    web_port, proxy_port = free_port(), free_port()
    env = worker_env(smtp_sink, TRUSTED_PROXIES="1", ALLOWED_HOSTS="127.0.0.1", **settings)
    web = gunicorn(env, port=web_port)
    proxy = nginx(tmp_path, port=proxy_port, upstream=web_port)
    base = f"http://127.0.0.1:{proxy_port}"
    try:
        wait_until(
            lambda: answers(f"{base}/healthz"),
            timeout=20,
            message=f"nginx or gunicorn did not answer\n{proxy.output()}\n{web.output()}",
        )
        yield base, tmp_path / "halftime.access.log"
    finally:
        proxy.stop()
        web.stop()


@pytest.fixture
def behind_nginx(tmp_path, smtp_sink):
    with proxied(tmp_path, smtp_sink) as running:
        yield running


def test_behind_a_tls_load_balancer_the_proxy_keeps_its_forwarded_proto(tmp_path, smtp_sink):
    """The balancer terminates TLS and talks http to nginx: the page must not redirect to
    itself, as it would if nginx replaced the balancer's X-Forwarded-Proto with its own scheme."""
    tls = {"BEHIND_TLS_PROXY": "true", "HTTPS": "true", "SITE_URL": "https://127.0.0.1"}
    with proxied(tmp_path, smtp_sink, **tls) as (base, _):
        port = int(base.rsplit(":", 1)[1])

        def answer(**headers: str) -> tuple[int, str]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/learn/", headers=headers)
            response = connection.getresponse()
            connection.close()
            return response.status, response.getheader("Location", "")

        assert answer(**{"X-Forwarded-Proto": "https"}) == (200, "")
        # Without the balancer's word, plain http is sent to https.
        assert answer() == (301, "https://127.0.0.1/learn/")


def test_the_proxy_s_access_log_keeps_no_token_of_an_emailed_link(behind_nginx):
    base, log = behind_nginx
    key = SubscriberFactory().token_key
    leave, settings = (
        tokens.make_token(p, key=key) for p in (tokens.UNSUBSCRIBE, tokens.PREFERENCES)
    )
    previous = f"{base}/waitlist/preferences/{settings}/"
    for path in (f"/u/{leave}/", f"/waitlist/preferences/{settings}/?saved=1", "/learn/"):
        request = urllib.request.Request(base + path, headers={"Referer": previous})
        assert status_of(request) == 200, path
    wait_until(lambda: log.read_text().count("\n") >= 3, timeout=5, message="no access log")
    lines = log.read_text()
    assert leave not in lines and settings not in lines
    assert '"GET /u/[token]/ HTTP/1.1" 200' in lines
    assert '"GET /waitlist/preferences/[token]/?saved=1 HTTP/1.1" 200' in lines
    assert f'"{base}/waitlist/preferences/[token]/"' in lines  # the Referer


def test_a_search_pasted_5000_characters_long_is_answered_by_the_site(behind_nginx):
    base, _ = behind_nginx
    query = urllib.parse.quote("testosterone " * 385)  # 5,005 characters
    with urllib.request.urlopen(f"{base}/learn/search/?q={query}", timeout=10) as response:
        assert response.status == 200
        assert "Search" in response.read().decode()
