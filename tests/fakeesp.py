"""An email service's HTTP API, on this machine: what lives outside it in production, and so the
one thing the tests stand in for. It answers Postmark's sending and suppressions endpoints,
SendGrid's global unsubscribes and Mailgun's unsubscribes as those services document them,
keeps every request, and can be told to fail its first requests to a path."""

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from tests.mailsink import free_port


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


@dataclass
class EmailService:
    # path fragment → how many of its first requests answer 503
    fail_first: dict[str, int] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def start(self) -> "EmailService":
        service = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = Request(self.path, dict(self.headers), body)
                with lock:
                    service.requests.append(request)
                    failing = any(
                        part in self.path and len(service.to(part)) <= times
                        for part, times in service.fail_first.items()
                    )
                status, answer = (
                    (503, {"Message": "unavailable"}) if failing else service.answer(request)
                )
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def to(self, part: str) -> list[Request]:
        return [request for request in self.requests if part in request.path]

    def answer(self, request: Request) -> tuple[int, dict]:
        if request.path.endswith("/suppressions"):  # Postmark
            return 200, {
                "Suppressions": [
                    {"EmailAddress": each["EmailAddress"], "Status": "Suppressed", "Message": None}
                    for each in request.json["Suppressions"]
                ]
            }
        if request.path.endswith("/email"):  # Postmark's send
            return 200, {
                "To": request.json["To"], "SubmittedAt": "2026-12-06T10:00:00Z",
                "MessageID": str(uuid.uuid4()), "ErrorCode": 0, "Message": "OK",
            }  # fmt: skip
        if request.path.endswith("/asm/suppressions/global"):  # SendGrid
            return 201, {"recipient_emails": request.json["recipient_emails"]}
        if request.path.endswith("/unsubscribes"):  # Mailgun
            return 200, {"message": "Address has been added to the unsubscribes table"}
        return 404, {"Message": f"no such endpoint: {request.path}"}
