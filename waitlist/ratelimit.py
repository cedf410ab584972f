"""Fixed-window counters in the shared cache (Redis in production), so every web process counts
together. When the cache is down the limit is not enforced: a signup matters more."""

import hashlib
import logging
import time
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    """At most `limit` hits per `window` seconds for one `key` (an IP, an address…) in `bucket`."""

    bucket: str
    key: str
    limit: int
    window: int

    def cache_key(self) -> str:
        digest = hashlib.sha256(self.key.lower().encode()).hexdigest()[:24]
        return f"rl:{self.bucket}:{digest}:{int(time.time() // self.window)}"


def allow(bucket: str, key: str, *, limit: int, window: int) -> bool:
    return allow_all(Limit(bucket, key, limit, window))


def allow_all(*limits: Limit) -> bool:
    """Count a hit in every bucket (one round trip on Redis); True if none is over its limit."""
    try:
        if hasattr(cache, "incr_many_with_expiry"):
            counts = cache.incr_many_with_expiry(
                {limit.cache_key(): limit.window + 1 for limit in limits}
            )
        else:
            counts = [_incr(limit.cache_key(), limit.window + 1) for limit in limits]
    except Exception:
        logger.warning("rate limit %s: cache unavailable, allowing", limits[0].bucket)
        return True
    return all(count <= limit.limit for count, limit in zip(counts, limits, strict=True))


def _incr(name: str, timeout: int) -> int:
    if cache.add(name, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(name)
    except ValueError:
        # The key expired between add and incr: this is the first hit of a new window.
        return 1
