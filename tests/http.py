"""Requests to a running server (pytest-django's live_server), as a browser or a client sends
them: the answer's status, whatever it is."""

import json
import urllib.error
import urllib.request


def status_of(request: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def join(base: str, email: str, **headers: str) -> int:
    """A signup through the JSON API; `headers` as X_Forwarded_For="…" (underscores for dashes)."""
    sent = {"Content-Type": "application/json", "Accept": "application/json"}
    sent |= {name.replace("_", "-"): value for name, value in headers.items()}
    body = json.dumps({"email": email}).encode()
    return status_of(urllib.request.Request(f"{base}/api/waitlist/", body, sent))
