"""A local stand-in for what the citation monitor asks: Crossref's /works/<doi> answered from
the fixtures in tests/fixtures/crossref/ (404 for any other DOI), and web pages under /pages/:
`ok`, `gone` (404), `no-head` (405 to HEAD, 200 to GET), `broken` (503). Each request is
recorded as (method, path, monotonic time)."""

import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.mailsink import free_port

FIXTURES = Path(__file__).parent / "fixtures" / "crossref"
PAGES = {"/pages/ok": 200, "/pages/gone": 404, "/pages/no-head": 200, "/pages/broken": 503}


class CiteSite:
    def __init__(self):
        self.requests: list[tuple[str, str, float]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        site = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self, method: str) -> None:
                site.requests.append((method, self.path, time.monotonic()))
                path = urllib.parse.unquote(self.path)
                body, status, kind = b"", 404, "text/plain"
                if path.startswith("/works/"):
                    fixture = FIXTURES / (path.removeprefix("/works/").replace("/", "_") + ".json")
                    if fixture.is_file():
                        body, status, kind = fixture.read_bytes(), 200, "application/json"
                    else:
                        body = b"Resource not found."
                elif path in PAGES:
                    status = PAGES[path]
                    if path == "/pages/no-head" and method == "HEAD":
                        status = 405
                    body = b"<!doctype html><title>A page</title>"
                    kind = "text/html"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if method == "GET":
                    self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                self.answer("GET")

            def do_HEAD(self):  # noqa: N802
                self.answer("HEAD")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "CiteSite":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
