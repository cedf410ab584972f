"""No signup is lost while Redis is down: a real gunicorn, Celery worker and beat use a Redis
server of the test's own, which the test really stops and starts."""

import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.conftest import worker_env
from tests.mailsink import free_port
from tests.processes import RedisServer, celery_beat, celery_worker, gunicorn, wait_until
from waitlist.models import OutboundEmail, Subscriber

pytestmark = pytest.mark.django_db(transaction=True)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def post_signup(port: int, email: str) -> int:
    data = urllib.parse.urlencode({"email": email}).encode()
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(f"http://127.0.0.1:{port}/waitlist/", data=data, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def site_on_private_redis(smtp_sink, django_db_setup):
    redis_server = RedisServer(free_port())
    redis_server.start()
    port = free_port()
    env = worker_env(
        smtp_sink,
        REDIS_URL=redis_server.url,
        CELERY_BROKER_URL=redis_server.url,
        OUTBOX_SWEEP_SECONDS="1",
        ALLOWED_HOSTS="127.0.0.1",
    )
    web = gunicorn(env, port=port, workers=2)
    processes = [web]
    try:
        wait_until(
            lambda: "Booting worker" in web.output(), timeout=20, message="gunicorn did not start"
        )
        processes.append(celery_worker(env))
        processes.append(celery_beat(env))
        yield port, redis_server
    finally:
        for process in processes:
            process.stop()
        redis_server.stop()


def test_signups_succeed_while_redis_is_down_and_their_mail_goes_out_when_it_returns(
    site_on_private_redis, smtp_sink
):
    port, redis_server = site_on_private_redis
    smtp_sink.clear()
    redis_server.stop()

    addresses = [f"during.outage{i}@example.com" for i in range(5)]
    answers = [post_signup(port, address) for address in addresses]
    assert answers == [302] * 5
    assert Subscriber.objects.filter(email__in=addresses, status="pending").count() == 5
    assert OutboundEmail.objects.filter(status="queued").count() == 5
    assert smtp_sink.messages == []

    redis_server.start()
    smtp_sink.wait_for(5, timeout=60)
    wait_until(
        lambda: OutboundEmail.objects.filter(status="sent").count() == 5,
        timeout=10,
        message="the outbox rows were not all marked sent",
    )
    for address in addresses:
        assert len(smtp_sink.to(address)) == 1, address
