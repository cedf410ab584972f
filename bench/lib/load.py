"""Load generators over raw HTTP/1.1 (gunicorn's sync workers close every connection, so each
request opens one). `closed_loop`: C clients, each sending its next request as soon as the last
one answered. `open_loop` offers a fixed rate whatever the
answers: request i is due at i / rate, and its latency counts from when it was due, so a slow
server cannot slow the load down and hide its own queue (coordinated omission)."""

import asyncio
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Answer:
    key: str  # what the request was for (the address signed up)
    due: float  # time.time() when it was due (open loop) or sent (burst)
    done: float
    status: int  # 0: no answer (refused, reset, timed out)

    @property
    def latency(self) -> float:
        return self.done - self.due


def json_post(url: str, body: dict) -> bytes:
    parts = urlsplit(url)
    data = json.dumps(body).encode()
    return (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/json\r\nAccept: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    ).encode() + data


def form_post(url: str, body: str, *, cookie: str = "", headers: str = "") -> bytes:
    parts = urlsplit(url)
    data = body.encode()
    return (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        + (f"Cookie: {cookie}\r\n" if cookie else "")
        + headers
        + f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    ).encode() + data


async def send(host: str, port: int, raw: bytes, timeout: float) -> int:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.write(raw)
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        await asyncio.wait_for(reader.read(), timeout)
        writer.close()
        return int(status_line.split()[1])
    except (TimeoutError, OSError, IndexError, ValueError):
        return 0


def closed_loop(
    url: str, request_for, *, connections: int, count=None, seconds=None, timeout=60.0
) -> list[Answer]:
    """`connections` clients, each sending its next request as soon as the last one answered,
    until `count` requests were sent or `seconds` passed. `request_for(i)` gives (key, raw)."""
    parts = urlsplit(url)
    answers: list[Answer] = []
    sent = 0
    deadline = None if seconds is None else time.time() + seconds

    async def client() -> None:
        nonlocal sent
        while (count is None or sent < count) and (deadline is None or time.time() < deadline):
            key, raw = request_for(sent)
            sent += 1
            started = time.time()
            status = await send(parts.hostname, parts.port, raw, timeout)
            answers.append(Answer(key, started, time.time(), status))

    async def main() -> None:
        await asyncio.gather(*(client() for _ in range(connections)))

    asyncio.run(main())
    return answers


def open_loop(url: str, request_for, *, rate: float, seconds: float, timeout=30.0):
    """Offer `rate` requests per second for `seconds`; `request_for(i)` gives (key, raw)."""
    parts = urlsplit(url)
    answers: list[Answer] = []

    async def one(i: int, due: float) -> None:
        key, raw = request_for(i)
        status = await send(parts.hostname, parts.port, raw, timeout)
        answers.append(Answer(key, due, time.time(), status))

    async def main() -> None:
        start = time.time() + 0.1
        tasks = []
        for i in range(int(rate * seconds)):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.time()))
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)

    asyncio.run(main())
    return answers


def percentile(values: list[float], share: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))]


WRK_LUA = r"""
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function init(args)
  counts = {}
  counter = 0
end
function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end
function done(summary, latency, requests)
  local statuses = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      statuses[status] = (statuses[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(statuses) do table.insert(parts, string.format('"%d": %d', status, n)) end
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests": %d, "seconds": %.3f, "p99_ms": %.3f, '
    .. '"socket_errors": %d, "statuses": {%s}}\n', summary.requests, summary.duration / 1e6,
    latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout,
    table.concat(parts, ", ")))
end
"""


def wrk(url: str, request_lua: str, *, connections: int, seconds: float, threads: int = 2) -> dict:
    """Closed loop in C, for throughput: `request_lua` defines `request()`; `tid` is the wrk
    thread's number and `counter` a counter of its own, to make every request unique."""
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_LUA + request_lua)
        script.flush()
        run = subprocess.run(
            ["wrk", f"--threads={threads}", f"--connections={connections}",
             f"--duration={round(seconds)}s", "--timeout=10s", f"--script={script.name}", url],
            capture_output=True, text=True, timeout=seconds + 60,
        )  # fmt: skip
    for line in run.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            result = json.loads(line.removeprefix("WRK_JSON "))
            result["statuses"] = {int(k): v for k, v in result["statuses"].items()}
            return result
    raise RuntimeError(f"wrk printed no result:\n{run.stdout}\n{run.stderr}")
