"""The answer to a join takes as long whatever the address's history.

A join that writes a signup (a new address, or a pending or unsubscribed one asked again past
the resend guard) takes a look-up and three writes; any other (a confirmed address, whose
links email is one write, or one asked again within the guard, none) takes less. Each web
process keeps the durations of its last signups, and holds every other join until their
median has passed since it started: the time of the answer follows the load of the machine,
not the history of the address. A sleep ends late (about 0.1 ms on
Linux); the holds measure by how much, and set out that much earlier."""

import collections
import statistics
import threading
import time

# Before the process has seen a writing join: about what one takes on a small server.
FIRST_GUESS = 0.008


class Pace:
    def __init__(self, remember: int = 51):
        self._recent: collections.deque[float] = collections.deque(maxlen=remember)
        self._late: collections.deque[float] = collections.deque([0.0], maxlen=remember)
        self._lock = threading.Lock()

    def signed_up(self, started: float) -> None:
        """A join started at `started` (time.perf_counter()) has just written a signup."""
        with self._lock:
            self._recent.append(time.perf_counter() - started)

    def hold(self, started: float) -> None:
        """Wait until a signup started at `started` would typically have finished."""
        with self._lock:
            typical = statistics.median(self._recent) if self._recent else FIRST_GUESS
            late = statistics.median(self._late)
        wake = started + typical - late
        if wake <= time.perf_counter():
            return
        time.sleep(max(0.0, wake - time.perf_counter()))
        with self._lock:
            self._late.append(time.perf_counter() - wake)


joins = Pace()
