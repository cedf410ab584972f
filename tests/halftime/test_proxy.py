"""The documented production shape: nginx with the repo's deploy/nginx.conf in front of a real
gunicorn."""

import urllib.error
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


@pytest.fixture
def behind_nginx(tmp_path, smtp_sink):
    web_port, proxy_port = free_port(), free_port()
    env = worker_env(smtp_sink, TRUSTED_PROXIES="1", ALLOWED_HOSTS="127.0.0.1")
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
