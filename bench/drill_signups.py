"""Reliability drills for the waitlist signup on the whole Procfile process set: heavy load,
Redis stopped, PostgreSQL restarted.

    .venv/bin/python bench/drill_signups.py                                 # all three, full size
    .venv/bin/python bench/drill_signups.py --signups 5000 --redis-down 15  # a quick look

Each drill runs every `Procfile` entry (web with WEB_CONCURRENCY=4, worker with
CELERY_CONCURRENCY=2, beat) on a PostgreSQL and a redis-server of its own (`lib.servers`), with
the SMTP sink and OUTBOX_SWEEP_SECONDS=5 (production 30), and restarts any process that exits,
as a platform would (a Celery worker can exit when Redis goes). Each signup has an address of
its own; after the load the drill waits for every accepted (2xx) one's confirmation, then 10 s
for duplicates, and looks for its subscriber, consent record and outbox row marked sent.

1. load: `--signups` from `--connections` clients. Goals: 0 server errors (5xx) and 0 failed
   requests; every accepted signup stored; every confirmation delivered exactly once.
2. redis: load `--before` s, the Redis stopped `--redis-down` s (it comes back empty), load
   `--after` s more. Goals: signups keep succeeding while Redis is down; every accepted signup
   stored; confirmations of signups made while it was down delivered after it returns, once.
3. database: the same with PostgreSQL stopped (`pg_ctl -m fast`) `--pg-down` s. Goals: requests
   in the gap get a 503, never a 500; the first 2xx within 5 s of the database accepting
   connections, every later request 2xx; no accepted signup lost; every confirmation once."""

import argparse
import collections
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from lib import load
from lib.report import Goal, finish
from lib.servers import PrivatePostgres, PrivateRedis
from lib.stack import RESULTS, Stack

PROCESSES = {"WEB_CONCURRENCY": "4", "CELERY_CONCURRENCY": "2"}
COLUMNS = ("sent", "accepted", "stored", "delivered", "lost", "duplicated", "server_errors")


class Supervisor(threading.Thread):
    """From the start, restarts any process of the set that exits, in its first environment."""

    def __init__(self, stack: Stack, members: dict):
        super().__init__(daemon=True)
        self.stack, self.members, self.started = stack, members, time.time()
        self.restarts: list[str] = []
        self.halt = threading.Event()
        self.start()

    def run(self) -> None:
        while not self.halt.wait(0.5):
            for name, process in [(n, p) for n, p in self.members.items() if p.poll() is not None]:
                self.stack.stop(process)  # and any pool child it left behind
                log = (RESULTS / f"{self.stack.name}-{name}.log").read_text().splitlines()
                error = next((e for e in reversed(log) if "CRITICAL" in e), log[-1] if log else "")
                at = time.time() - self.started
                self.restarts.append(f"{name} exited {process.returncode} at {at:.0f} s "
                                     f"({error.rsplit('] ', 1)[-1][:100]}), restarted")  # fmt: skip
                self.members[name] = self.stack.start(name, process.args, **self.stack.procfile_env)

    def stop(self) -> None:
        self.halt.set()
        self.join()
        for process in self.members.values():
            self.stack.stop(process)


def ok(answer: load.Answer) -> bool:
    return 200 <= answer.status < 300


def signups(stack: Stack, label: str, args, timeline=None, **limit):
    """The process set up; signups until `limit` with `timeline()` in a thread beside; checks."""
    stack.name = f"drill-{label}"  # its processes' logs: bench/results/drill-LABEL-NAME.log
    stack.empty()
    supervisor = Supervisor(stack, stack.procfile(**PROCESSES))
    print(f"{label}: {', '.join(supervisor.members)} up at {stack.base}", flush=True)

    def signup(i: int) -> tuple[str, bytes]:
        email = f"{label}-{i}@example.com"
        return email, load.json_post(stack.base + "/api/waitlist/", {"email": email})

    try:
        with ThreadPoolExecutor(1) as pool:
            marks = pool.submit(timeline or dict)
            answers = load.closed_loop(stack.base, signup, connections=args.connections, **limit)
        figures, first = check(stack, answers, args.timeout)
    finally:
        supervisor.stop()
    figures["restarts"] = "; ".join(supervisor.restarts) or "no process exited"
    return answers, marks.result(), figures, first


def check(stack: Stack, answers: list[load.Answer], timeout: float) -> tuple[dict, dict]:
    accepted = {a.key for a in answers if ok(a)}
    started, ended = min(a.due for a in answers), max(a.done for a in answers)
    print(f"{len(answers)} sent, {len(accepted)} accepted; waiting for the confirmations")
    deadline = time.time() + timeout
    while not accepted <= {a.recipient for a in stack.sink.arrivals()} and time.time() < deadline:
        time.sleep(1)
    time.sleep(10)  # a duplicate would arrive meanwhile
    arrivals = stack.sink.arrivals()
    per_person = collections.Counter(a.recipient for a in arrivals)
    first = {a.recipient: a.time for a in sorted(arrivals, reverse=True)}
    rows = stack.sql(
        "SELECT s.email,"
        " EXISTS (SELECT FROM waitlist_consentrecord c WHERE c.subscriber_id = s.id),"
        " array(SELECT o.status FROM waitlist_outboundemail o WHERE o.subscriber_id = s.id)"
        " FROM waitlist_subscriber s"
    )
    stored = {email for email, consent, statuses in rows if consent and statuses}
    statuses = collections.Counter(a.status for a in answers)
    latencies = [a.latency * 1000 for a in answers if ok(a)] or [0]
    return dict(
        sent=len(answers), accepted=len(accepted), stored=len(accepted & stored),
        lost=len(accepted - stored), delivered=len(accepted & set(per_person)),
        missing=len(accepted - set(per_person)),
        duplicated=sum(1 for n in per_person.values() if n > 1),
        rows_not_sent=sum(1 for *_, st in rows if set(st) != {"sent"}),
        server_errors=sum(n for s, n in statuses.items() if s >= 500 and s != 503),
        statuses=dict(statuses), requests_per_second=round(len(answers) / (ended - started), 1),
        p99_ms=round(load.percentile(latencies, 0.99)),
        last_after_load_end_s=round(max(first.values(), default=ended) - ended, 1),
    ), first  # fmt: skip


def stored_goal(number: int, c: dict, goal: str = "every accepted signup stored") -> Goal:
    measured = f"{c['accepted']} accepted, {c['stored']} stored, {c['lost']} lost"
    return Goal(f"drill {number}: {goal} (subscriber, consent, outbox row)", measured,
                c["lost"] == 0 < c["accepted"])  # fmt: skip


def delivered_goal(goal: str, c: dict, measured: str = "", met: bool = True) -> Goal:
    measured += (f"{c['delivered']} delivered, {c['missing']} missing, {c['duplicated']} "
                 f"duplicated, {c['rows_not_sent']} rows not marked sent")  # fmt: skip
    return Goal(goal, measured, met and c["missing"] == c["duplicated"] == c["rows_not_sent"] == 0)


def drill_load(stack: Stack, pg, redis, args):
    _, _, c, _ = signups(stack, "load", args, count=args.signups)
    server, failed = sum(n for s, n in c["statuses"].items() if s >= 500), c["statuses"].get(0, 0)
    notes = (f"{c['requests_per_second']} req/s, p99 {c['p99_ms']} ms; {c['statuses'].get(503, 0)}"
             f" × 503, {failed} failed; the last confirmation {c['last_after_load_end_s']} s after "
             f"the load ended; {c['restarts']}")  # fmt: skip
    return f"1. {args.signups} signups, {args.connections} connections", c, notes, [
        Goal("drill 1: 0 server errors (any 5xx) and 0 failed requests",
             f"{server} 5xx, {failed} failed", server == failed == 0),
        stored_goal(1, c),
        delivered_goal("drill 1: every confirmation delivered exactly once, its outbox row "
                       "marked sent", c),
    ]  # fmt: skip


def drill_redis(stack: Stack, pg, redis, args):
    def timeline() -> dict:
        time.sleep(args.before)
        stop = time.time()
        redis.stop()
        time.sleep(max(0.0, stop + args.redis_down - time.time()))
        redis.start()
        return {"stop": stop, "up": time.time()}

    seconds = args.before + args.redis_down + args.after
    answers, m, c, first = signups(stack, "redis", args, seconds=seconds, timeline=timeline)
    during = [a for a in answers if m["stop"] <= a.due < m["up"]]
    accepted = [a for a in during if ok(a)]
    early = sum(1 for a in answers if ok(a) and m["stop"] <= a.done < m["up"])
    after_up = sorted(first[a.key] - m["up"] for a in accepted if a.key in first)
    latencies = sorted(a.latency * 1000 for a in accepted) or [0]
    not_2xx = sum(1 for a in answers if not ok(a))
    arrived = f"{after_up[0]:.1f}–{after_up[-1]:.1f} s" if after_up else "never"
    c.update(outage_s=round(m["up"] - m["stop"], 1), signups_while_down=len(during),
             answered_2xx_while_down=early, their_confirmations_after_up=arrived)  # fmt: skip
    notes = (f"Redis down {c['outage_s']} s; {len(during)} signups started meanwhile, "
             f"{len(accepted)} accepted (p50 {load.percentile(latencies, 0.5):.0f} ms, max "
             f"{latencies[-1]:.0f} ms), confirmations {arrived} after Redis returned; "
             f"{c['requests_per_second']} req/s, p99 {c['p99_ms']} ms; {c['restarts']}"
    )  # fmt: skip
    return f"2. Redis stopped {args.redis_down:g} s", c, notes, [
        Goal("drill 2: signups keep succeeding while Redis is down",
             f"{len(accepted)} of {len(during)} started during the outage answered 2xx, {early} "
             f"before Redis returned; {not_2xx} not 2xx in the drill",
             0 < len(accepted) == len(during) and early > 0 and not_2xx == 0),
        Goal("drill 2: a signup made while Redis is down answered within 1 s (p99)",
             f"p99 {load.percentile(latencies, 0.99):.0f} ms, max {latencies[-1]:.0f} ms",
             load.percentile(latencies, 0.99) <= 1000),
        stored_goal(2, c),
        delivered_goal("drill 2: confirmations of signups made while Redis was down delivered "
                       "after it returns, exactly once (and all others too)", c,
                       f"{len(after_up)} of {len(accepted)}, {arrived} after Redis returned; all: ",
                       len(after_up) == len(accepted)),
    ]  # fmt: skip


def gap_page(base: str) -> str:
    """A signup's answer while the database is down: status, Content-Type, Retry-After."""
    body, headers = b'{"email": "gap@example.com"}', {"Content-Type": "application/json"}
    try:
        request = urllib.request.Request(base + "/api/waitlist/", body, headers)
        return str(urllib.request.urlopen(request, timeout=30).status)
    except urllib.error.HTTPError as error:
        page = error.headers
        return f"{error.code} {page['Content-Type']}, Retry-After {page['Retry-After']}"


def drill_database(stack: Stack, pg, redis, args):
    def timeline() -> dict:
        time.sleep(args.before)
        stop = time.time()
        pg.stop("fast")
        page = gap_page(stack.base)
        time.sleep(max(0.0, stop + args.pg_down - time.time()))
        pg.start(wait=False)
        return {"stop": stop, "accepting": pg.wait_accepting(), "page": page}

    seconds = args.before + args.pg_down + args.after
    answers, m, c, _ = signups(stack, "database", args, seconds=seconds, timeline=timeline)
    in_gap = [a.status for a in answers if a.due < m["accepting"] and a.done > m["stop"]]
    gap = collections.Counter(in_gap)
    gap_5xx = sum(n for s, n in gap.items() if s >= 500 and s != 503)
    first_ok = min((a.done for a in answers if ok(a) and a.done >= m["accepting"]), default=None)
    later = [a for a in answers if first_ok and a.due >= first_ok and not ok(a)]
    recovery = round(first_ok - m["accepting"], 2) if first_ok else None
    c.update(down_s=round(m["accepting"] - m["stop"], 1), answer_503=m["page"], gap=dict(gap),
             recovery_s=recovery, failures_after_recovery=len(later))  # fmt: skip
    notes = (f"database down {c['down_s']} s; in the gap {gap[503]} × 503 ({m['page']}), "
             f"{gap_5xx} other 5xx, {gap[0]} failed; the first 2xx {recovery} s after it "
             f"accepted connections, {len(later)} failures after; {c['restarts']}")  # fmt: skip
    return "3. PostgreSQL restarted", c, notes, [
        Goal("drill 3: requests in the gap get a 503, never a 500",
             f"{gap[503]} × 503 ({m['page']}), {gap_5xx} other 5xx "
             f"({c['server_errors']} in the drill)", gap[503] > 0 and c["server_errors"] == 0),
        Goal("drill 3: recovers within 5 s of the database accepting connections, and every "
             "later request succeeds",
             f"first 2xx after {recovery} s; {len(later)} not 2xx after it",
             recovery is not None and recovery <= 5 and not later),
        stored_goal(3, c, "no accepted signup lost"),
        delivered_goal("drill 3: every confirmation delivered exactly once", c),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="1,2,3", help="drills to run, e.g. 1,3")
    parser.add_argument("--signups", type=int, default=20_000, help="drill 1")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--before", type=float, default=5, help="s of load before a fault")
    parser.add_argument("--redis-down", type=float, default=30)
    parser.add_argument("--pg-down", type=float, default=5)
    parser.add_argument("--after", type=float, default=15, help="s of load after a fault")
    parser.add_argument("--timeout", type=float, default=600, help="s to wait for mail")
    args = parser.parse_args()
    drills = {1: drill_load, 2: drill_redis, 3: drill_database}
    rows, goals, figures = [], [], {}
    with (
        PrivatePostgres("drill-signups") as pg,
        PrivateRedis() as redis,
        Stack("drill-signups", database="halftime_drill", redis_db=0, postgres=pg.url,
              redis=redis.url, OUTBOX_SWEEP_SECONDS="5") as stack,
    ):  # fmt: skip
        for number in args.only.split(","):
            title, c, notes, drill_goals = drills[int(number)](stack, pg, redis, args)
            rows.append("| " + " | ".join([title, *(str(c[k]) for k in COLUMNS), notes]) + " |")
            goals += drill_goals
            figures[title] = {**c, "notes": notes}
    print("\n| drill | sent | accepted | stored | delivered | lost | duplicated | 5xx (not 503) |"
          " notes |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n" + "\n".join(rows))  # fmt: skip
    if not finish("drill_signups", goals, {"drills": figures, **vars(args)}):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
