"""Writing down what already happened outside the database, through a short database outage."""

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)
T = TypeVar("T")
# Seconds a write is tried again through an outage before giving up.
RECORD_WITHIN = 60


def until_written(write: Callable[[], T], *, within: float = RECORD_WITHIN, pause: float = 1) -> T:
    """Run `write` (one transaction), again and again while the database cannot be reached, for
    up to `within` seconds. For recording that a mail server accepted a message: giving up would
    leave the row claimed, and the message would be sent a second time once its lease expires.
    A restart or a failover of PostgreSQL takes seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() >= deadline:
                raise
            logger.warning("database unavailable (%s); trying the write again", exc)
            connection.close()  # the next query opens a new one
            time.sleep(pause)
