from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks


def _server(url: str) -> tuple[str, int] | None:
    """The Redis server a URL names (its databases share one memory and one eviction policy)."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return None
    return (parts.hostname or "localhost", parts.port or 6379)


@checks.register(checks.Tags.caches, deploy=True)
def the_cache_has_a_redis_of_its_own(app_configs, **kwargs) -> list[checks.CheckMessage]:
    cache = _server(settings.REDIS_CACHE_URL)
    sharing = [
        name
        for name, url in (
            ("the rate limits' counters", settings.REDIS_RATELIMIT_URL),
            ("the Celery broker", settings.CELERY_BROKER_URL),
        )
        if cache and _server(url) == cache
    ]
    if not sharing:
        return []
    return [
        checks.Warning(
            f"The cache shares a Redis server with {' and '.join(sharing)}: a full cache would "
            "evict their keys, or under noeviction refuse their writes.",
            hint="Give the cache a server of its own (REDIS_CACHE_URL, maxmemory-policy "
            "allkeys-lru) and keep noeviction where REDIS_RATELIMIT_URL and CELERY_BROKER_URL "
            "point; README, 'Production'.",
            id="halftime.W001",
        )
    ]
