"""How fast confirmations reach people: a burst of signups while one worker sends, and a backlog
that one worker drains.

    .venv/bin/python bench/confirmations.py                  # 20,000 of each, 64 connections
    .venv/bin/python bench/confirmations.py --signups 2000   # a quick look

Burst: gunicorn (2 sync workers) and one Celery worker (`--queues mail --concurrency 2`) run;
`--signups` people join at once over `--connections`; each one's lag is the time from sending
its signup to its confirmation's arrival at the SMTP sink. Backlog: the same signups with no
worker running (their rows and tasks wait), then one worker starts; its rate is 95% of the
backlog over the time from the first arrival to the arrival that completes that 95%. Both check
that every person got exactly one confirmation and every outbox row is marked sent."""

import argparse
import collections
import time

from lib import load
from lib.report import Goal, finish
from lib.stack import Stack, wait_until


def join_all(base: str, prefix: str, args) -> dict[str, float]:
    """Every signup, answered 202; returns when each was sent, by address."""

    def signup(i: int) -> tuple[str, bytes]:
        email = f"{prefix}{i}@example.com"
        return email, load.json_post(base + "/api/waitlist/", {"email": email})

    answers = load.closed_loop(base, signup, connections=args.connections, count=args.signups)
    statuses = collections.Counter(a.status for a in answers)
    if statuses != {202: args.signups}:
        raise SystemExit(f"signups answered {dict(statuses)}")
    return {a.key: a.due for a in answers}


def wait_for_mail(stack: Stack, n: int, timeout: float) -> None:
    wait_until(lambda: stack.sink.count() >= n, timeout=timeout, what=f"{n} confirmations", every=1)
    time.sleep(3)  # anything sent twice would arrive meanwhile


def checked(stack: Stack, sent_at: dict[str, float]) -> tuple[dict, list[tuple[float, str]]]:
    arrivals = [(a.time, a.recipient) for a in stack.sink.arrivals()]
    per_person = collections.Counter(to for _, to in arrivals)
    unmarked = stack.sql("SELECT count(*) FROM waitlist_outboundemail WHERE status <> 'sent'")[0][0]
    return {
        "missing": len(set(sent_at) - set(per_person)),
        "twice": sum(1 for n in per_person.values() if n > 1),
        "strangers": len(set(per_person) - set(sent_at)),
        "rows_not_sent": unmarked,
    }, arrivals


def run_burst(stack: Stack, base: str, args) -> dict:
    worker = stack.worker()
    print(f"burst: {args.signups} signups over {args.connections} connections, worker running")
    started = time.time()
    sent_at = join_all(base, "burst", args)
    load_seconds = time.time() - started
    wait_for_mail(stack, args.signups, args.timeout)
    stack.stop(worker)
    checks, arrivals = checked(stack, sent_at)
    lags = sorted(at - sent_at[to] for at, to in arrivals if to in sent_at)
    return {
        **checks,
        "signups_per_second": round(args.signups / load_seconds, 1),
        "lag_p50_s": round(load.percentile(lags, 0.5), 2),
        "lag_p99_s": round(load.percentile(lags, 0.99), 2),
        "lag_max_s": round(lags[-1], 2),
        "last_after_load_end_s": round(max(at for at, _ in arrivals) - (started + load_seconds), 2),
    }


def run_backlog(stack: Stack, base: str, args) -> dict:
    print(f"backlog: {args.signups} signups with no worker running")
    sent_at = join_all(base, "backlog", args)
    queued = stack.sql("SELECT count(*) FROM waitlist_outboundemail WHERE status = 'queued'")[0][0]
    print(f"backlog: {queued} confirmations queued; one worker starts")
    worker = stack.worker()
    wait_for_mail(stack, args.signups, args.timeout)
    stack.stop(worker)
    checks, arrivals = checked(stack, sent_at)
    times = sorted(at for at, _ in arrivals)
    share = int(0.95 * len(times))
    return {
        **checks,
        "queued": queued,
        "rate_over_95_percent": round(share / (times[share - 1] - times[0]), 1),
        "all_in_s": round(times[-1] - times[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signups", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for mail")
    args = parser.parse_args()
    with Stack("confirmations", database="halftime_bench", redis_db=7) as stack:
        base = stack.gunicorn(workers=2)
        burst = run_burst(stack, base, args)
        stack.empty()
        backlog = run_backlog(stack, base, args)
    exact = {"missing": 0, "twice": 0, "strangers": 0, "rows_not_sent": 0}
    goals = [
        Goal(
            f"burst of {args.signups} at {args.connections} connections: every confirmation "
            "within 60 s of its signup",
            f"max {burst['lag_max_s']} s, p99 {burst['lag_p99_s']} s, p50 {burst['lag_p50_s']} s "
            f"({burst['signups_per_second']} signups/s)",
            burst["lag_max_s"] <= 60,
        ),
        Goal(
            f"one worker (-c 2) drains a {args.signups} backlog at >= 500 emails/s",
            f"{backlog['rate_over_95_percent']} emails/s over 95%, all in {backlog['all_in_s']} s",
            backlog["rate_over_95_percent"] >= 500,
        ),
        Goal(
            "each person exactly one confirmation, every row marked sent (both runs)",
            f"burst {[burst[k] for k in exact]}, backlog {[backlog[k] for k in exact]} "
            "(missing, twice, strangers, rows not sent)",
            all(run[k] == 0 for run in (burst, backlog) for k in exact),
        ),
    ]
    if not finish("confirmations", goals, {"burst": burst, "backlog": backlog, **vars(args)}):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
