"""Drill 6: slow clients. 50 connections each send a request as slowly as a bad network or an
attacker would, and never finish; meanwhile a probe asks for /healthz 20 times a second.

    .venv/bin/python bench/drill_slow_clients.py                # 50 slow connections, 30 s
    .venv/bin/python bench/drill_slow_clients.py --seconds 10

Half the slow connections trickle header lines, half announce a 100 kB body and trickle it, one
byte every 2 s (never idle long enough for a timeout); one that is dropped is opened again.
Measured twice on one gunicorn (2 sync workers, the Procfile's): straight at it, as the Procfile
alone binds it, and behind nginx with the repo's `deploy/nginx.conf`, the documented production
shape. A probe waits at most 2 s for its answer; one that gets none counts as 2 s. The goal is
for the documented shape: /healthz p99 under 100 ms, every probe answered 200."""

import argparse
import asyncio
import time
from urllib.parse import urlsplit

from lib import load
from lib.report import Goal, finish
from lib.stack import Stack

PROBE_TIMEOUT = 2.0


async def slow_client(host: str, port: int, number: int, until: float) -> None:
    """One never-finished request, opened again whenever the server drops it."""
    if number % 2:
        start, trickle = "GET / HTTP/1.1\r\nHost: localhost\r\n", b"X-Slow: 1\r\n"
    else:
        start = (
            "POST /api/waitlist/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
            "\r\nContent-Length: 100000\r\n\r\n"
        )
        trickle = b" "
    while time.time() < until:
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(start.encode())
            while time.time() < until and not reader.at_eof():
                await writer.drain()
                await asyncio.sleep(2)
                writer.write(trickle)
            writer.close()
        except OSError:
            await asyncio.sleep(0.2)


async def probe(base: str, until: float, every: float = 0.05) -> list[tuple[float, int]]:
    """(seconds, status) of each /healthz; status 0 for no answer within PROBE_TIMEOUT."""
    parts = urlsplit(base)
    raw = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    results = []
    while time.time() < until:
        started = time.time()
        status = await load.send(parts.hostname, parts.port, raw, PROBE_TIMEOUT)
        results.append((min(time.time() - started, PROBE_TIMEOUT), status))
        await asyncio.sleep(max(0.0, every - (time.time() - started)))
    return results


def attack(base: str, connections: int, seconds: float) -> dict:
    parts = urlsplit(base)

    async def main():
        until = time.time() + seconds + 3
        slow = [
            asyncio.create_task(slow_client(parts.hostname, parts.port, n, until))
            for n in range(connections)
        ]
        await asyncio.sleep(3)  # every slow connection open and holding what it can
        probes = await probe(base, until)
        await asyncio.gather(*slow)
        return probes

    probes = asyncio.run(main())
    latencies = [seconds * 1000 for seconds, _ in probes]
    return {
        "probes": len(probes),
        "answered_200": sum(1 for _, status in probes if status == 200),
        "p50_ms": round(load.percentile(latencies, 0.5), 1),
        "p99_ms": round(load.percentile(latencies, 0.99), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    runs = {}
    with Stack("drill-slow-clients", database="halftime_bench", redis_db=7) as stack:
        gunicorn = stack.gunicorn(workers=2)
        proxy = stack.nginx(gunicorn)
        for shape, base in (("gunicorn alone", gunicorn), ("behind nginx", proxy)):
            runs[shape] = attack(base, args.connections, args.seconds)
            print(f"{shape}: {runs[shape]}")
    alone, behind = runs["gunicorn alone"], runs["behind nginx"]
    goals = [
        Goal(
            f"behind nginx, {args.connections} slow connections: /healthz p99 < 100 ms",
            f"p99 {behind['p99_ms']} ms, p50 {behind['p50_ms']} ms (gunicorn alone: p99 "
            f"{alone['p99_ms']} ms, {alone['answered_200']} of {alone['probes']} answered)",
            behind["p99_ms"] < 100,
        ),
        Goal(
            "behind nginx every probe answered 200",
            f"{behind['answered_200']} of {behind['probes']}",
            behind["answered_200"] == behind["probes"],
        ),
    ]
    if not finish("drill_slow_clients", goals, {"runs": runs, **vars(args)}):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
