"""The one rate limiter: fixed-window counters through Django's cache API, in the `ratelimit`
cache (Redis in production), so every web process counts together.

What happens while the counters' store is down is the caller's choice: a signup is let through
(no signup is lost to a limiter), an admin sign-in is refused (a password guesser must not get
unlimited tries)."""

import datetime as dt
import hashlib
import logging
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.filebased import FileBasedCache

logger = logging.getLogger(__name__)


class LimiterUnavailable(Exception):
    """The counters' store could not be reached."""


@dataclass(frozen=True)
class Limit:
    """At most `limit` hits per `window` seconds for one `key` (an IP, an address…) in `bucket`."""

    bucket: str
    key: str
    limit: int
    window: int

    def cache_key(self) -> str:
        # " Root", "root\n", "ROOT" and a full-width "ｒｏｏｔ" count as one key, as Django's
        # username field reads them alike: spacing, case and look-alikes never buy more tries.
        normal = " ".join(unicodedata.normalize("NFKC", self.key).split()).casefold()
        digest = hashlib.sha256(normal.encode()).hexdigest()[:24]
        return f"rl:{self.bucket}:{digest}:{int(time.time() // self.window)}"

    def retry_after(self) -> int:
        """Seconds until this window ends and the count starts again."""
        return self.window - int(time.time() % self.window)

    def wait_words(self) -> str:
        """The longest wait, as a person reads it: "up to 10 minutes", "up to an hour"."""
        if self.window < 3600:
            return f"up to {-(-self.window // 60)} minutes"
        hours = -(-self.window // 3600)
        return "up to an hour" if hours == 1 else f"up to {hours} hours"


def hit(*limits: Limit) -> Limit | None:
    """Count a hit in every bucket; the limit it is over, the one ending last if several (None:
    within them all). Raises LimiterUnavailable when the counters cannot be read."""
    try:
        counts = [_count(limit) for limit in limits]
        over = [limit for count, limit in zip(counts, limits, strict=True) if count > limit.limit]
        return max(over, key=Limit.retry_after, default=None)
    except Exception as exc:
        logger.warning("rate limit %s: the counters' store is unavailable", limits[0].bucket)
        raise LimiterUnavailable from exc


def _count(limit: Limit) -> int:
    counters = caches["ratelimit"]
    name = limit.cache_key()
    try:
        return counters.incr(name)
    except ValueError:
        # The window's first hit. Two at once: one adds the counter, the other counts on it.
        if counters.add(name, 1, timeout=limit.window + 1):
            return 1
        return counters.incr(name)


# The longest window is an hour: a counter untouched for a day counts nothing any more.
STALE_COUNTER = dt.timedelta(days=1)


def prune_counter_files(now: dt.datetime) -> int:
    """Delete the counters the file store (the embedded default) keeps past their windows. There
    a counter has no lifetime of its own (see `CACHES` in the settings), while Redis ends each
    with its window. Returns how many were deleted."""
    store = settings.CACHES["ratelimit"]
    if not store["BACKEND"].endswith(f".{FileBasedCache.__name__}"):
        return 0
    before = (now - STALE_COUNTER).timestamp()
    deleted = 0
    for path in Path(store["LOCATION"]).glob(f"*{FileBasedCache.cache_suffix}"):
        try:
            if path.stat().st_mtime < before:
                path.unlink()
                deleted += 1
        except FileNotFoundError:
            continue  # gone meanwhile
    return deleted
