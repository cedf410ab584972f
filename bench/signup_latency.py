"""Signup latency at a fixed offered load, against the one-INSERT view at the same load.

    .venv/bin/python bench/signup_latency.py                   # 200 requests/s, 3 rounds of 20 s
    .venv/bin/python bench/signup_latency.py --rate 100 --seconds 10

gunicorn (2 sync workers) and one Celery worker (`--queues mail --concurrency 2`, sending the
confirmations meanwhile, as it would in production) run against PostgreSQL, Redis and the SMTP
sink. An open loop (`lib/load.open_loop`) offers `--rate` requests per second whatever the
answers, so a queue in the server shows as latency. Targets, interleaved for `--rounds`:

- bare: `POST /bench/insert` (`bench/baseline`), one INSERT in autocommit, answered 201;
- signup: `POST /api/waitlist/` with a new address, answered 202.

Each measurement has 2 s of warm-up, then `--seconds`; the table gives each target's p50 and
p99 (the median over rounds) and the goal compares the p99s."""

import argparse
import collections
import statistics
import uuid

from lib import load
from lib.report import Goal, finish
from lib.stack import Stack


def measure(base: str, target: str, rate: float, seconds: float) -> dict:
    token = uuid.uuid4().hex[:8]  # addresses never used before

    def request(i: int, phase: str = "m") -> tuple[str, bytes]:
        email = f"{target}-{token}-{phase}{i}@example.com"
        if target == "bare":
            return email, load.form_post(base + "/bench/insert", f"email={email}")
        return email, load.json_post(base + "/api/waitlist/", {"email": email})

    warmup = load.open_loop(base, lambda i: request(i, "w"), rate=rate, seconds=2)
    answers = load.open_loop(base, request, rate=rate, seconds=seconds)
    latencies = [a.latency * 1000 for a in answers]
    return {
        "statuses": dict(collections.Counter(a.status for a in answers)),
        "p50_ms": round(load.percentile(latencies, 0.5), 1),
        "p99_ms": round(load.percentile(latencies, 0.99), 1),
        "accepted": sum(1 for a in warmup + answers if a.status in (201, 202)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runs = collections.defaultdict(list)
    with Stack("signup-latency", database="halftime_bench", redis_db=7) as stack:
        base = stack.gunicorn(workers=2, baseline=True)
        stack.worker()
        for round_number in range(args.rounds):
            for target in ("bare", "signup"):
                run = measure(base, target, args.rate, args.seconds)
                print(f"round {round_number + 1} {target}: p50 {run['p50_ms']} ms, "
                      f"p99 {run['p99_ms']} ms, {run['statuses']}")  # fmt: skip
                runs[target].append(run)
        stored = stack.sql("SELECT count(*) FROM waitlist_subscriber")[0][0]
    p99 = {t: statistics.median(r["p99_ms"] for r in runs[t]) for t in runs}
    p50 = {t: statistics.median(r["p50_ms"] for r in runs[t]) for t in runs}
    expected = {"bare": 201, "signup": 202}
    errors = sum(
        n for t in runs for r in runs[t] for s, n in r["statuses"].items() if int(s) != expected[t]
    )
    answered = sum(r["accepted"] for r in runs["signup"])
    goals = [
        Goal(
            f"signup p99 <= 3x the one-INSERT view's p99 at {args.rate:.0f} requests/s",
            f"{p99['signup']} ms vs {p99['bare']} ms = {p99['signup'] / p99['bare']:.2f}x "
            f"(p50 {p50['signup']} vs {p50['bare']} ms)",
            p99["signup"] <= 3 * p99["bare"],
        ),
        Goal("no errors: every answer 201 (bare) or 202 (signup)", f"{errors} other", errors == 0),
        Goal(
            "every signup answered 202 stored, warm-ups included",
            f"{answered} answered, {stored} stored",
            stored == answered,
        ),
    ]
    figures = {"p99_ms": p99, "p50_ms": p50, "runs": runs, **vars(args)}
    if not finish("signup_latency", goals, figures):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
