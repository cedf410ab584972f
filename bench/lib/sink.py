"""An SMTP sink that accepts every message and writes one journal line per recipient before it
answers 250: arrival time, recipient, Message-ID and the sender's port (its connection). Run as
`python bench/lib/sink.py PORT JOURNAL`; `Sink` starts it as a process of its own, so its CPU
is not the benchmark's."""

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


class Arrival(NamedTuple):
    time: float
    recipient: str
    message_id: str
    port: int  # the sender's end of the connection


class Sink:
    def __init__(self, journal: Path, port: int):
        self.journal, self.port = journal, port
        self.process: subprocess.Popen | None = None

    def start(self, *, clear: bool = True) -> "Sink":
        """`clear=False`: a restart on the same port that keeps what arrived before."""
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        if clear or not self.journal.exists():
            self.journal.write_text("")
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(self.port), str(self.journal)],
            stdout=subprocess.DEVNULL,
            stderr=(self.journal.with_suffix(".log")).open("wb"),
        )
        deadline = time.monotonic() + 10
        while "ready" not in self.journal.with_suffix(".log").read_text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the SMTP sink did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def arrivals(self) -> list[Arrival]:
        """Every message so far, in arrival order."""
        rows = []
        for line in self.journal.read_text().splitlines():
            at, recipient, message_id, port = line.split(" ")
            rows.append(Arrival(float(at), recipient, message_id, int(port)))
        return rows

    def count(self) -> int:
        with self.journal.open("rb") as journal:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: journal.read(1 << 20), b""))

    def clear(self) -> None:
        self.journal.write_text("")


def serve(port: int, journal_path: str) -> None:
    from aiosmtpd.controller import Controller

    class Journal:
        def __init__(self):
            self.file = open(journal_path, "a")  # noqa: SIM115

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            found = MESSAGE_ID.search(envelope.content)
            message_id = found.group(1).decode() if found else "-"
            port = session.peer[1]
            for recipient in envelope.rcpt_tos:
                self.file.write(f"{time.time():.6f} {recipient} {message_id} {port}\n")
            self.file.flush()
            return "250 OK"

    handler = Journal()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
        handler.file.flush()


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    serve(int(sys.argv[1]), sys.argv[2])
