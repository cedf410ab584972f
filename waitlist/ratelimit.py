"""Fixed-window counters in the shared cache (Redis in production), so every web process counts
together. When the cache is down the limit is not enforced: a signup matters more."""

import hashlib
import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)


def allow(bucket: str, key: str, *, limit: int, window: int) -> bool:
    digest = hashlib.sha256(key.lower().encode()).hexdigest()[:24]
    slot = int(time.time() // window)
    name = f"rl:{bucket}:{digest}:{slot}"
    try:
        if hasattr(cache, "incr_with_expiry"):
            return cache.incr_with_expiry(name, timeout=window + 1) <= limit
        if cache.add(name, 1, timeout=window + 1):
            return True
        return cache.incr(name) <= limit
    except ValueError:
        # The key expired between add and incr: this is the first hit of a new window.
        return True
    except Exception:
        logger.warning("rate limit %s: cache unavailable, allowing", bucket)
        return True
