"""Each mailbox provider's pace, kept by every worker together through the limits' counters.

A pace of r messages a minute lets the k-th message of a minute leave from k·60/r seconds into
it: never more than r in a minute, spread over it. A sender takes up to BURST_SECONDS' worth at
once, and permits left unused for longer are gone: a lane that was idle does not burst. A
sender asks for permits before it claims rows, so it claims only what it may send now; when
none is free it is told how long to wait (`sending.Later`) and leaves its worker to other work
meanwhile.

A message a provider asks us to try later is deferred by the sender; a few such answers are
about those messages (greylisting, a busy mailbox). When they are a share of what we sent it
recently (SLOW_DOWN_SHARE, over this minute and the last) the provider is telling us to slow
down (`throttled`): it gets half its pace for COOL_DOWN, halved again at most every CUT_EVERY
while the answers keep coming, never below SLOWEST."""

import contextlib
import logging
import math
import time

from django.core.cache import caches

from ..models.engine import Pace, Provider
from .sending import Later

logger = logging.getLogger(__name__)

BURST_SECONDS = 2
# A share of at least this many messages: fewer say nothing of the provider's mood.
SLOW_DOWN_SHARE, SLOW_DOWN_LEAST = 0.25, 100
COOL_DOWN, CUT_EVERY = 120, 30
SLOWEST = 6  # a minute
# A provider with no pace row (the table was emptied) has no limit of its own.
DEFAULT_SESSIONS = 2


def pace_of(provider: str) -> Pace:
    return Pace.objects.filter(provider=provider).first() or Pace(
        provider=provider, per_minute=None, sessions=DEFAULT_SESSIONS
    )


def _counters():
    return caches["ratelimit"]


def _sent_key(provider: str, minute: int) -> str:
    return f"pace:{provider}:{minute}"


def _cut_key(provider: str) -> str:
    return f"pace:{provider}:cut"


def current(pace: Pace) -> int | None:
    """Messages a minute it may have now: its setting, or less while a refusal cools down."""
    try:
        cut = _counters().get(_cut_key(pace.provider))
    except Exception:
        cut = None
    limits = [rate for rate in (pace.per_minute, cut) if rate]
    return min(limits) if limits else None


def sent_last_minute(provider: str, *, now: float | None = None) -> int:
    """Permits taken in the last whole minute and this one so far, as a rate a minute."""
    now = time.time() if now is None else now
    minute = int(now // 60)
    try:
        counts = _counters().get_many(
            [_sent_key(provider, minute - 1), _sent_key(provider, minute)]
        )
    except Exception:
        return 0
    this = counts.get(_sent_key(provider, minute), 0)
    return max(counts.get(_sent_key(provider, minute - 1), 0), round(this * 60 / max(now % 60, 1)))


def reserve(pace: Pace, most: int, *, now: float | None = None) -> int:
    """Up to `most` permits to send to `pace`'s provider now; raises Later with the seconds
    until a burst's worth is free when none is. Unlimited, it grants `most` and counts them."""
    now = time.time() if now is None else now
    minute, into = int(now // 60), now % 60
    key = _sent_key(pace.provider, minute)
    rate = current(pace)
    burst = most if rate is None else max(1, math.ceil(rate * BURST_SECONDS / 60))
    want = min(most, burst)
    counters = _counters()
    try:
        counters.add(key, 0, 180)
        after = counters.incr(key, want)
    except Exception:
        logger.warning("paces: counters unavailable; sending one message at a time")
        time.sleep(0.01)
        return 1
    if rate is None:
        return want
    free = min(rate, math.floor(into * rate / 60) + 1)  # permits of this minute so far
    taken = after - want
    lag = free - burst - taken
    if lag > 0:  # permits left unused more than a burst ago are gone
        after = counters.incr(key, lag)
        taken += lag
    over = min(want, after - free)
    if over > 0:
        counters.decr(key, over)
    granted = want - max(0, over)
    if granted:
        return granted
    if taken + want > rate:
        raise Later(60 - into + 0.01)
    return _wait(seconds=(taken + want - 1) * 60 / rate - into)


def _wait(*, seconds: float):
    raise Later(max(0.05, seconds + 0.01))


def give_back(pace: Pace, unused: int, *, now: float | None = None) -> None:
    """Permits reserved and not used (the rows were gone, or the batch stopped)."""
    if unused <= 0:
        return
    now = time.time() if now is None else now
    with contextlib.suppress(Exception):
        _counters().decr(_sent_key(pace.provider, int(now // 60)), unused)


def _deferred_key(provider: str, minute: int) -> str:
    return f"pace:{provider}:deferred:{minute}"


def _recent(key, provider: str, minute: int) -> int:
    counts = _counters().get_many([key(provider, minute - 1), key(provider, minute)])
    return sum(counts.values())


def throttled(pace: Pace, *, now: float | None = None) -> int | None:
    """A server asked us to try a message later. Returns the pace it cut to, or None when the
    answers are still too few to cut it (or it was cut less than CUT_EVERY ago)."""
    now = time.time() if now is None else now
    minute, provider = int(now // 60), pace.provider
    counters = _counters()
    try:
        counters.add(_deferred_key(provider, minute), 0, 180)
        counters.incr(_deferred_key(provider, minute))
        deferred = _recent(_deferred_key, provider, minute)
        tried = _recent(_sent_key, provider, minute)
        if tried < SLOW_DOWN_LEAST or deferred < SLOW_DOWN_SHARE * tried:
            return None
        if not counters.add(f"pace:{provider}:cut-recently", 1, CUT_EVERY):
            return None
        rate = current(pace) or sent_last_minute(provider, now=now)
        slower = max(SLOWEST, rate // 2)
        counters.set(_cut_key(provider), slower, COOL_DOWN)
    except Exception:
        return None
    logger.warning(
        "paces: %s deferred %s of %s messages; %s a minute for %s s",
        Provider(provider).label, deferred, tried, slower, COOL_DOWN,
    )  # fmt: skip
    return slower
