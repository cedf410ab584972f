"""A real SMTP server for the tests (aiosmtpd), run in a thread on a free local port.

It keeps every message it accepts. Recipients whose local part ends in ``+tempfail`` get a
``451`` (try later) and those ending in ``+reject`` a ``550`` (no such user), so tests can see
how the code handles a server's refusals.
"""

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cached_property

from aiosmtpd.controller import Controller


@dataclass
class Received:
    envelope_to: list[str]
    content: bytes
    session: tuple = ()  # the sender's address and port: one per SMTP connection

    @cached_property
    def message(self) -> EmailMessage:
        """Parsed when first read: a test that only counts tens of thousands of messages does
        not pay for parsing them while they arrive."""
        return email.message_from_bytes(self.content, policy=email.policy.default)

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part else ""


class _Handler:
    def __init__(self, sink: "MailSink"):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        with self.sink.lock:
            self.sink.offered[address] += 1
            offered = self.sink.offered[address]
        if self.sink.answer_rcpt is not None:
            answer = self.sink.answer_rcpt(address, offered)
            if answer:
                if answer.startswith("421"):
                    # "Closing transmission channel", as servers do: once the reply is out.
                    asyncio.get_running_loop().call_soon(server.transport.close)
                return answer
        local = address.split("@")[0]
        if local.endswith("+tempfail"):
            return "451 4.3.0 Mailbox busy, try again later"
        if local.endswith("+reject"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.sink.refuse_data:
            return self.sink.refuse_data
        received = Received(list(envelope.rcpt_tos), envelope.content, session.peer)
        with self.sink.lock:
            self.sink.messages.append(received)
        if self.sink.on_accept is not None:
            self.sink.on_accept()
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MailSink:
    def __init__(self):
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        # Called as each message is accepted, before the sender hears "250": what a test wants
        # to happen between a server accepting a message and the sender recording it.
        self.on_accept = None
        # An answer to every message's DATA instead of "250" (a server refusing our sender).
        self.refuse_data: str | None = None
        # Answers RCPT instead of "250": a function of the address and how many times it has
        # been offered (1 the first time) returning a reply, or None to accept it.
        self.answer_rcpt = None
        self.offered: Counter[str] = Counter()
        self.port = free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> "MailSink":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.offered.clear()
        self.on_accept = None
        self.refuse_data = None
        self.answer_rcpt = None

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if address in m.envelope_to]

    def wait_for(self, count: int, *, timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")
