"""The signup's throughput against the one-INSERT view, then how soon its confirmation arrives.

    .venv/bin/python bench/signup.py          # 3 rounds of 10 s, 32 connections; 300 emails
    .venv/bin/python bench/signup.py --duration 5 --rounds 2 --emails 100

Throughput: gunicorn (2 sync workers) with bench/baseline's views, no Celery worker running;
wrk (`lib/load.wrk`, 2 threads), each request a never-used address, measures bare (`POST
/bench/insert`, one INSERT, answers 201) and signup (`POST /api/waitlist/`, JSON, answers 202)
for `--duration` after `--warmup` s, interleaved for `--rounds`, then bare once more; req/s and
the gunicorn tree's CPU ms per request are medians. Then gunicorn stops (finishing what is in
flight): every 2xx signup needs its subscriber, consent record and 'queued' outbox row (at most
one more per connection: wrk stops waiting for those in flight), and a send task waiting on the
`mail` queue (one task sends every email committed before it starts). Delivery (unless
`--skip-delivery`): emptied, a Celery worker, a fresh gunicorn; `--emails` signups at `--rate`/s
one at a time (`lib/load.open_loop`), each timed from sending to its arrival at the SMTP sink.
Goals: signup >= 30% of bare req/s; no errors; none missing; all delivered, p95 < 1 s."""

import argparse
import contextlib
import json
import math
import statistics
import uuid

import redis
from lib import load
from lib.report import Goal, finish
from lib.stack import Stack, cpu_seconds, wait_until

# path, answer, Content-Type, body (Lua) of each target
TARGETS = {
    "bare": ("/bench/insert", 201, "application/x-www-form-urlencoded", '"email=" .. email'),
    "signup": ("/api/waitlist/", 202, "application/json", "'{\"email\": \"' .. email .. '\"}'"),
}
LUA = r"""
local headers = {{["Content-Type"] = "{kind}", ["Accept"] = "application/json"}}
function request()
  counter = counter + 1
  local email = string.format("{run}-%d-%d@example.com", tid, counter)
  return wrk.format("POST", nil, headers, {body})
end
"""


def measure(base: str, target: str, pid: int, args) -> dict:
    """wrk for `--warmup` seconds, then `--duration` measured, with the CPU gunicorn spent."""
    path, ok, kind, body = TARGETS[target]
    runs = []
    for seconds in [s for s in (args.warmup, args.duration) if s]:
        lua = LUA.format(run=uuid.uuid4().hex[:8], kind=kind, body=body)
        cpu = cpu_seconds(pid)
        runs.append(load.wrk(base + path, lua, connections=args.connections,
                             seconds=seconds))  # fmt: skip
    run = runs[-1]
    return {
        "per_second": round(run["requests"] / run["seconds"], 1),
        "p99_ms": run["p99_ms"],
        "cpu_ms": round(1000 * (cpu_seconds(pid) - cpu) / max(1, run["requests"]), 2),
        "errors": run["socket_errors"] + sum(n for s, n in run["statuses"].items() if s != ok),
        "answered": sum(r["statuses"].get(ok, 0) for r in runs),
        "sent_at_most": sum(r["requests"] + r["socket_errors"] + args.connections for r in runs),
    }


def stored_rows(stack: Stack) -> dict:
    """What the signups wrote, and the send tasks waiting in the broker."""
    counts = stack.sql(
        "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM waitlist_consentrecord"
        " c WHERE c.subscriber_id = s.id)), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM"
        " waitlist_outboundemail o WHERE o.subscriber_id = s.id)), (SELECT count(*) FROM"
        " waitlist_outboundemail WHERE status <> 'queued') FROM waitlist_subscriber s"
    )[0]
    broker = redis.Redis.from_url(stack.redis_urls[1])
    tasks = sum(  # kombu keeps a list per queue and priority: "mail", "mail\x06\x163", …
        json.loads(message)["headers"]["task"].endswith(".send_outbox")
        for key in broker.scan_iter(match="mail*")
        for message in broker.lrange(key, 0, -1)
    )
    names = ("subscribers", "no_consent", "no_outbox", "not_queued")
    return {**dict(zip(names, counts, strict=True)), "send_tasks": tasks}


def delivery(stack: Stack, args) -> dict:
    """Signups one at a time with a worker sending; each one's lag to the sink, in ms."""
    stack.empty()
    stack.worker()
    base = stack.gunicorn(workers=2)

    def signup(name: str) -> tuple[str, bytes]:
        email = f"{name}@example.com"
        return email, load.json_post(base + "/api/waitlist/", {"email": email})

    load.open_loop(base, lambda i: signup(f"warm{i}"), rate=args.rate, seconds=4.5 / args.rate)
    wait_until(lambda: stack.sink.count() >= 4, timeout=60, what="the warm-up's 4 emails")
    stack.sink.clear()
    seconds = (args.emails + 0.5) / args.rate
    answers = load.open_loop(base, lambda i: signup(f"d{i}"), rate=args.rate, seconds=seconds)
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: stack.sink.count() >= len(answers), timeout=args.timeout, what="all")
    arrived = {a.recipient: a.time for a in reversed(stack.sink.arrivals())}  # the first each
    lags = [1000 * (arrived.get(a.key, math.inf) - a.due) for a in answers]
    ms = lambda share: round(load.percentile(lags, share), 1)  # noqa: E731
    return {
        "sent": len(answers),
        "answered_202": sum(1 for a in answers if a.status == 202),
        "never_arrived": sum(1 for lag in lags if math.isinf(lag)),
        "p50_ms": ms(0.5), "p95_ms": ms(0.95), "max_ms": round(max(lags), 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="seconds before each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--emails", type=int, default=300, help="signups in the delivery test")
    parser.add_argument("--rate", type=float, default=20, help="delivery signups per second")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for mail")
    parser.add_argument("--skip-delivery", action="store_true")
    args = parser.parse_args()
    runs = {target: [] for target in TARGETS}
    with Stack("signup", database="halftime_bench", redis_db=7) as stack:
        base = stack.gunicorn(workers=2, baseline=True)
        server = stack.processes[-1]
        schedule = [t for _ in range(args.rounds) for t in TARGETS] + ["bare"]
        for number, target in enumerate(schedule, start=1):
            run = measure(base, target, server.pid, args)
            print(f"[{number}/{len(schedule)}] {target}: {run}")
            runs[target].append(run)
        stack.stop(server)
        db = stored_rows(stack)
        mail = None if args.skip_delivery else delivery(stack, args)
    rate, p99, cpu = ({t: statistics.median(r[k] for r in runs[t]) for t in TARGETS}
                      for k in ("per_second", "p99_ms", "cpu_ms"))  # fmt: skip
    errors = {t: sum(r["errors"] for r in runs[t]) for t in TARGETS}
    answered, sent = (sum(r[k] for r in runs["signup"]) for k in ("answered", "sent_at_most"))
    share = rate["signup"] / rate["bare"]
    print("\n| target | req/s | p99 ms | CPU ms/request | errors |\n|---|---:|---:|---:|---:|")
    for t in TARGETS:
        print(f"| {t} | {rate[t]:.0f} | {p99[t]:.1f} | {cpu[t]:.2f} | {errors[t]} |")
    goals = [
        Goal("signup >= 30% of bare req/s", f"{share:.0%} ({rate['signup']:.0f}/s vs "
             f"{rate['bare']:.0f}/s; CPU ms per request {cpu['signup']} vs {cpu['bare']})",
             share >= 0.30),
        Goal("0 errors (every answer 2xx)", f"bare {errors['bare']}, signup {errors['signup']}",
             not any(errors.values())),
        Goal("every 2xx signup stored and enqueued", f"{db['subscribers']} subscribers for "
             f"{answered} answered (<= {sent} sent): {db['no_consent']} without consent, "
             f"{db['no_outbox']} without outbox row, {db['not_queued']} rows not queued; "
             f"{db['send_tasks']} send task(s) queued",
             answered <= db["subscribers"] <= sent and db["send_tasks"] >= 1
             and db["no_consent"] == db["no_outbox"] == db["not_queued"] == 0),
    ]  # fmt: skip
    if mail:
        goals += [
            Goal("every confirmation email arrived", f"{mail['never_arrived']} of {mail['sent']} "
                 f"never arrived ({mail['answered_202']} answered 202)",
                 mail["never_arrived"] == 0 and mail["answered_202"] == mail["sent"]),
            Goal("delivery p95 < 1 s", f"p95 {mail['p95_ms']} ms (p50 {mail['p50_ms']}, max "
                 f"{mail['max_ms']})", mail["p95_ms"] < 1000),
        ]  # fmt: skip
    figures = {"per_second": rate, "p99_ms": p99, "cpu_ms_per_request": cpu, "rows": db,
               "delivery": mail, "runs": runs, **vars(args)}  # fmt: skip
    if not finish("signup", goals, figures):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
