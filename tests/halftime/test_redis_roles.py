"""The cache on a Redis server of its own, as production's should be: a real gunicorn whose
cache is a small redis-server of the test's own that evicts, beside the session's Redis for the
rate limits and the broker, and a real Celery worker."""

import json
import time
import urllib.request

import pytest
import redis
from django.conf import settings

from tests.conftest import worker_env
from tests.http import join, status_of
from tests.mailsink import free_port
from tests.processes import RedisServer, gunicorn, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site_with_a_cache_of_its_own(smtp_sink, worker):
    cache = RedisServer(free_port(), "--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru")
    cache.start()
    port = free_port()
    env = worker_env(
        smtp_sink, REDIS_CACHE_URL=cache.url, WAITLIST_IP_LIMIT="3", ALLOWED_HOSTS="127.0.0.1"
    )
    web = gunicorn(env, port=port)
    try:
        wait_until(
            lambda: "Booting worker" in web.output(), timeout=20, message="gunicorn did not start"
        )
        yield f"http://127.0.0.1:{port}", cache
    finally:
        web.stop()
        cache.stop()


def test_a_flooded_cache_evicts_only_its_own_keys(site_with_a_cache_of_its_own, smtp_sink):
    base, cache = site_with_a_cache_of_its_own
    smtp_sink.clear()
    store = redis.Redis.from_url(cache.url)
    assert status_of(urllib.request.Request(f"{base}/learn/")) == 200
    assert store.keys("*learn:page:*"), "the page is kept on the cache's own server"

    # A flood of 8 MB into a server that holds 2 MB: it evicts and keeps answering.
    for number in range(2000):
        store.set(f"flood:{number}", b"x" * 4096)
    assert store.info("stats")["evicted_keys"] > 0

    # The counters and the broker are elsewhere: the limit still counts, the mail still goes.
    # It counts in fixed 10-minute windows: the four joins go in one.
    if (left := 600 - time.time() % 600) < 30:
        time.sleep(left + 0.1)
    answers = [join(base, f"roles{number}@example.com") for number in range(4)]
    assert answers == [202, 202, 202, 429]
    smtp_sink.wait_for(3, timeout=30)
    assert sorted(m.envelope_to[0] for m in smtp_sink.messages) == [
        f"roles{number}@example.com" for number in range(3)
    ]
    assert not store.keys("*rl:*") and not store.keys("*kombu*") and not store.keys("mail")
    assert redis.Redis.from_url(settings.REDIS_URL).keys("*rl:join-ip:*")

    # Without its cache the site serves, and says so.
    cache.stop()
    assert status_of(urllib.request.Request(f"{base}/learn/")) == 200
    with urllib.request.urlopen(f"{base}/readyz", timeout=10) as ready:
        assert ready.status == 200
        checks = json.loads(ready.read())["checks"]
    assert checks == {
        "database": True,
        "broker": True,
        "ratelimit": True,
        "cache": False,
    }
