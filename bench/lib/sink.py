"""An SMTP sink that accepts every message and writes one journal line per recipient before it
answers 250: arrival time, recipient, Message-ID and the sender's port (its connection). Run as
`python bench/lib/sink.py PORT JOURNAL [RULES]`; `Sink` starts it as a process of its own, so
its CPU is not the benchmark's.

RULES (JSON), for a drill of mailbox providers, by the recipient's domain: `first_421`
{domain: share} answers `421` (and closes) to that share of addresses' first attempt;
`limit_454` {domain: n} answers `454` to a recipient beyond n accepted in the last minute;
`refuse` {domain: answer} answers every recipient so. Each such answer is written to
JOURNAL.refused: time, recipient, code."""

import json
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


class Refusal(NamedTuple):
    time: float
    recipient: str
    code: int


class Sink:
    def __init__(self, journal: Path, port: int):
        self.journal, self.port = journal, port
        self.process: subprocess.Popen | None = None
        self.rules: dict | None = None

    def start(self, *, clear: bool = True) -> "Sink":
        """`clear=False`: a restart on the same port that keeps what arrived before."""
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        if clear or not self.journal.exists():
            self.journal.write_text("")
            self.refused_journal.write_text("")
        rules = [json.dumps(self.rules)] if self.rules else []
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(self.port), str(self.journal), *rules],
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

    @property
    def refused_journal(self) -> Path:
        return self.journal.with_suffix(".refused")

    def refusals(self) -> list[Refusal]:
        """Every answer a rule gave, in order."""
        if not self.refused_journal.exists():
            return []
        rows = []
        for line in self.refused_journal.read_text().splitlines():
            at, recipient, code = line.split(" ")
            rows.append(Refusal(float(at), recipient, int(code)))
        return rows

    def count(self) -> int:
        with self.journal.open("rb") as journal:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: journal.read(1 << 20), b""))

    def clear(self) -> None:
        self.journal.write_text("")
        self.refused_journal.write_text("")


def serve(port: int, journal_path: str, rules: dict | None = None) -> None:
    import asyncio
    import collections
    import hashlib

    from aiosmtpd.controller import Controller

    rules = rules or {}

    class Journal:
        def __init__(self):
            self.file = open(journal_path, "a")  # noqa: SIM115
            self.refused = open(Path(journal_path).with_suffix(".refused"), "a")  # noqa: SIM115
            self.offered: collections.Counter[str] = collections.Counter()
            self.accepted: dict[str, collections.deque] = collections.defaultdict(collections.deque)

        def answer(self, address: str) -> str | None:
            domain = address.rpartition("@")[2].lower()
            self.offered[address] += 1
            if domain in rules.get("refuse", {}):
                return rules["refuse"][domain]
            share = rules.get("first_421", {}).get(domain, 0)
            drawn = int(hashlib.sha256(address.encode()).hexdigest()[:8], 16) % 1000
            if self.offered[address] == 1 and drawn < share * 1000:
                return "421 4.7.0 Try again later, closing connection."
            limit = rules.get("limit_454", {}).get(domain)
            if limit:
                recent, now = self.accepted[domain], time.time()
                while recent and recent[0] < now - 60:
                    recent.popleft()
                if len(recent) >= limit:
                    return "454 4.7.0 Throttling failure: Maximum sending rate exceeded."
                recent.append(now)
            return None

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
            answer = self.answer(address)
            if answer:
                self.refused.write(f"{time.time():.6f} {address} {answer[:3]}\n")
                self.refused.flush()
                if answer.startswith("421"):
                    asyncio.get_running_loop().call_soon(server.transport.close)
                return answer
            envelope.rcpt_tos.append(address)
            return "250 OK"

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
    serve(int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]) if len(sys.argv) > 3 else None)
