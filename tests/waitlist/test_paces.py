"""Each provider's pace, kept through the shared counters (Redis in production, here too): a
clock the test sets (`now=`) walks through minutes."""

import contextlib
import threading

import pytest

from waitlist.engine import paces
from waitlist.engine.sending import Later
from waitlist.models import Pace

START = 29_000_000 * 60.0  # a minute's start, in seconds since the epoch


def take_all(pace: Pace, *, seconds: float, step: float = 0.05, most: int = 500) -> list[float]:
    """Reserve as a sender would, as often as `step`, for `seconds`: the time of each permit."""
    granted = []
    for tick in range(round(seconds / step)):
        now = START + tick * step
        with contextlib.suppress(Later):
            granted += [now] * paces.reserve(pace, most, now=now)
    return granted


def test_a_pace_lets_out_its_rate_a_minute_spread_over_the_minute():
    pace = Pace(provider="google", per_minute=600)
    granted = take_all(pace, seconds=120)
    assert len([t for t in granted if t < START + 60]) == 600
    assert len(granted) == 1200
    for second in range(120):
        in_it = [t for t in granted if START + second <= t < START + second + 1]
        assert len(in_it) <= 10 + 1, f"second {second}: {len(in_it)}"


@pytest.mark.parametrize("per_minute", [6, 90, 1000, 3000])
def test_no_minute_gets_more_than_its_pace(per_minute):
    pace = Pace(provider="yahoo", per_minute=per_minute)
    granted = take_all(pace, seconds=180, step=0.1)
    for minute in range(3):
        in_it = [t for t in granted if START + 60 * minute <= t < START + 60 * (minute + 1)]
        assert per_minute * 0.97 <= len(in_it) <= per_minute


def test_when_none_is_free_the_sender_is_told_how_long_to_wait():
    pace = Pace(provider="apple", per_minute=60)  # one a second, two at once at most
    assert paces.reserve(pace, 100, now=START + 10.0) == 2
    with pytest.raises(Later) as later:
        paces.reserve(pace, 100, now=START + 10.0)
    assert later.value.seconds == pytest.approx(2.0, abs=0.05), "until two more are free"
    assert paces.reserve(pace, 100, now=START + 12.0) == 2


def test_a_minute_used_up_waits_for_the_next():
    pace = Pace(provider="apple", per_minute=2)
    assert paces.reserve(pace, 10, now=START + 59.0) == 1
    with pytest.raises(Later) as later:
        paces.reserve(pace, 10, now=START + 59.5)
    assert later.value.seconds == pytest.approx(0.5, abs=0.05)


def test_permits_not_used_are_given_back():
    pace = Pace(provider="apple", per_minute=60)
    assert paces.reserve(pace, 100, now=START + 10.0) == 2
    paces.give_back(pace, 2, now=START + 10.0)
    assert paces.reserve(pace, 100, now=START + 10.0) == 2


def test_an_unlimited_provider_is_granted_what_it_asks_and_counted():
    pace = Pace(provider="other", per_minute=None)
    assert paces.reserve(pace, 500, now=START + 30.0) == 500
    assert paces.sent_last_minute("other", now=START + 30.0) == 1000  # 500 in half a minute


def test_a_few_deferred_messages_leave_the_pace_as_it_is():
    pace = Pace(provider="google", per_minute=600)
    take_all(pace, seconds=30)  # 300 sent
    for _ in range(60):  # a fifth of them deferred
        assert paces.throttled(pace, now=START + 30) is None
    assert paces.current(pace) == 600


def test_a_provider_deferring_a_share_of_what_it_gets_is_slowed_for_a_while():
    pace = Pace(provider="google", per_minute=600)
    take_all(pace, seconds=30)  # 300 sent
    cuts = [paces.throttled(pace, now=START + 30) for _ in range(100)]
    assert [cut for cut in cuts if cut] == [300], "cut once: at most every CUT_EVERY"
    assert paces.current(pace) == 300
    assert paces.throttled(Pace(provider="microsoft", per_minute=10)) is None, "too few"


def test_an_unlimited_provider_that_throttles_gets_half_of_what_it_was_sent():
    unlimited = Pace(provider="other", per_minute=None)
    paces.reserve(unlimited, 400, now=START - 30.0)  # 400 in the minute before
    for _ in range(paces.SLOW_DOWN_LEAST + 100):
        paces.throttled(unlimited, now=START + 1.0)
    assert paces.current(unlimited) == 200, "no longer unlimited while it cools down"


def test_workers_reserving_at_once_never_share_out_more_than_the_pace():
    pace = Pace(provider="microsoft", per_minute=1200)
    granted, lock, go = [], threading.Lock(), threading.Barrier(8)

    def worker():
        go.wait()
        mine = 0
        for tick in range(600):  # the same minute, a tenth of a second at a time
            with contextlib.suppress(Later):
                mine += paces.reserve(pace, 500, now=START + tick / 10)
        with lock:
            granted.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1200 * 0.97 <= sum(granted) <= 1200
    assert sum(1 for mine in granted if mine) > 1, "shared between them"
