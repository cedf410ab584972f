"""Hands queued emails to the workers from a background thread, so that a request never waits on
the broker.

A signup's request only appends the new outbox row's id to a list in memory. A thread of the web
process takes whatever has gathered and publishes one task for all of it, at most once per
`interval`: after a quiet spell an id goes out at once, and under load each message carries every
signup of the last interval instead of one (a publish costs a web process more CPU than the rest
of a signup's request). With the broker down the visitor notices nothing. The id is only a hint;
the row is the truth. If the process dies before its thread publishes, or the broker refuses,
the periodic sweep finds the row still queued and sends it (see ``services.due_outbound_ids``).
"""

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Publisher:
    """Collects ids and publishes them in batches from one daemon thread per process."""

    def __init__(
        self,
        publish: Callable[[list[int]], None],
        *,
        interval: float = 0.05,
        linger: float = 0.002,
        batch: int = 100,
    ):
        self._publish = publish
        self._interval = interval
        self._linger = linger
        self._batch = batch
        self._last_publish = -interval
        self._pending: list[int] = []
        self._in_flight = 0
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def submit(self, outbound_id: int) -> None:
        with self._condition:
            self._start_in_this_process()
            self._pending.append(outbound_id)
            self._condition.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far has been handed over (or given up on)."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._pending or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._condition.wait(left)
        return True

    def _start_in_this_process(self) -> None:
        # gunicorn forks its workers after the app is loaded: a thread (and the ids it held)
        # belongs to the process that started it, so each process starts its own.
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return
        if self._pid != os.getpid():
            self._pending, self._in_flight = [], 0
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="outbox-publisher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._pending:
                    self._condition.wait()
            # Publish at most once per interval, but at once when a whole batch is waiting;
            # after a quiet spell, only let the ids of a burst that is arriving gather a moment.
            with self._condition:
                full = len(self._pending) >= self._batch
            if not full:
                wait = self._last_publish + self._interval - time.monotonic()
                time.sleep(max(self._linger, wait))
            self._last_publish = time.monotonic()
            with self._condition:
                ids, self._pending = self._pending[: self._batch], self._pending[self._batch :]
                self._in_flight = len(ids)
            try:
                self._publish(ids)
            except Exception:
                logger.warning("outbox: could not enqueue %s email(s); the sweep will", len(ids))
            finally:
                with self._condition:
                    self._in_flight = 0
                    self._condition.notify_all()


def _publish_to_workers(ids: list[int]) -> None:
    from .tasks import send_outbound_emails

    send_outbound_emails.apply_async(args=[ids], retry=False)


publisher = Publisher(_publish_to_workers)
# A worker that gunicorn stops gracefully hands over what it holds; one that is killed leaves it
# to the sweep.
atexit.register(publisher.flush, 2.0)
