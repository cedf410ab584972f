"""A clinic's webhook receiver, as the README tells one to write it: it checks each delivery's
signature with its own code (HMAC-SHA256 of "<t>.<body>" with the shared secret), keeps each
event once by its id, and can be told to fail its first requests."""

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.mailsink import free_port


@dataclass
class Request:
    headers: dict[str, str]
    body: bytes
    signed: bool  # the signature matched the body and the secret

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    secret: str
    fail_first: int = 0
    requests: list[Request] = field(default_factory=list)
    events: dict[str, dict] = field(default_factory=dict)  # by id: each event once

    def start(self) -> "Receiver":
        receiver = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = Request(dict(self.headers), body, receiver.check(self.headers, body))
                with lock:
                    receiver.requests.append(request)
                    failing = len(receiver.requests) <= receiver.fail_first
                    if request.signed and not failing:
                        receiver.events.setdefault(request.event["id"], request.event)
                self.send_response(500 if failing else 200 if request.signed else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def check(self, headers, body: bytes) -> bool:
        try:
            fields = dict(part.split("=", 1) for part in headers["Halftime-Signature"].split(","))
        except (KeyError, ValueError, AttributeError):
            return False
        signed = fields.get("t", "").encode() + b"." + body
        expected = hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, fields.get("v1", ""))
