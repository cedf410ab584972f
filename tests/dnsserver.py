"""A real DNS server for the tests and drills (dnslib), on a free local port, answering from
zone text: what a recipient's or our own domain publishes, without the internet.

A name it has no record of, of any type, does not exist (NXDOMAIN); a name with records of other
types answers with none (NOERROR, empty)."""

import threading

from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class _Zones(BaseResolver):
    def __init__(self, server: "ZoneServer"):
        self.server = server

    def resolve(self, request, handler):
        reply = request.reply()
        name, qtype = request.q.qname, QTYPE[request.q.qtype]
        with self.server.lock:
            records = list(self.server.records)
        named = [record for record in records if record.rname == name]
        if not named:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for record in named:
            if QTYPE[record.rtype] == qtype:
                reply.add_answer(record)
        return reply


class ZoneServer:
    """`ZoneServer("example.com. 300 IN MX 10 mx.example.com.").start()`; `address` is what
    DNS_RESOLVER takes."""

    def __init__(self, zone: str = ""):
        self.lock = threading.Lock()
        self.records: list[RR] = RR.fromZone(zone) if zone.strip() else []
        quiet = DNSLogger(logf=lambda line: None)
        self._server = DNSServer(_Zones(self), address="127.0.0.1", port=0, logger=quiet)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server.server_address[1]}"

    def serve(self, zone: str) -> None:
        """Answer from this zone text from now on, instead of the last."""
        records = RR.fromZone(zone) if zone.strip() else []
        with self.lock:
            self.records = records

    def start(self) -> "ZoneServer":
        self._server.start_thread()
        return self

    def stop(self) -> None:
        self._server.stop()
        self._server.server.server_close()
