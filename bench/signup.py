"""Benchmark: the waitlist signup (POST /api/waitlist/) against a bare one-INSERT view, and how
long the confirmation email takes to arrive.

    .venv/bin/python bench/signup.py [--duration 10] [--connections 32] [--workers 2]

Needs PostgreSQL and Redis on 127.0.0.1 and wrk (/usr/bin/wrk). Uses its own database
(halftime_bench, whose waitlist tables it empties), Redis database 8 as the cache, Redis
database 7 as the Celery broker (flushed), and an SMTP sink of its own in this process.
Throughput: gunicorn with BENCH_VIEWS on, wrk posting a new address on every request, bare and
signup in interleaved rounds; then the database must hold a subscriber for every 2xx answer.
Delivery: a Celery worker and a fresh gunicorn, signups sent one by one at a steady rate, each
timed from the request to the email's arrival at the sink. Results go to
bench/results/signup.json. See bench/README.md.
"""

import argparse
import datetime as dt
import json
import math
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    BIN,
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    RESULTS,
    ROOT,
    BenchError,
    CpuMeter,
    Gunicorn,
    Load,
    Processes,
    bench_env,
    ensure_database,
    ensure_redis,
    fail,
    free_port,
    machine,
    manage,
    require_wrk,
    run_record,
    run_wrk,
    say,
    summarize,
    total_errors,
    write_results,
)

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/7"
TARGETS = ("bare", "signup")
PATHS = {"bare": "/bench/insert", "signup": "/api/waitlist/"}
LABELS = {"bare": "bare (POST /bench/insert)", "signup": "signup (POST /api/waitlist/)"}
GOAL_SHARE = 0.30  # signup req/s as a share of bare
GOAL_DELIVERY_P95_S = 1.0  # request sent -> email at the SMTP sink
WAITLIST_TABLES = ("waitlist_subscriber", "waitlist_consentrecord", "waitlist_outboundemail")
MAIL_QUEUE = "mail"  # CELERY_TASK_ROUTES sends waitlist.tasks.* here

# Appended to _common.WRK_LUA: every request carries a new address, made of the thread number
# (`tid`), a per-thread counter and a token unique to this wrk run. `sent` counts requests built,
# which bounds the rows the server can have written from above.
REQUEST_LUA = {
    "bare": r"""
local counter = 0
local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
sent = 0

function request()
  counter = counter + 1
  sent = counter
  local name = string.format("i%d-%d-%s", tid or 0, counter, "@RUN@")
  return wrk.format("POST", nil, headers, "email=" .. name .. "%40example.com")
end
""",
    "signup": r"""
local counter = 0
local headers = {["Content-Type"] = "application/json", ["Accept"] = "application/json"}
sent = 0

function request()
  counter = counter + 1
  sent = counter
  local email = string.format("b%d-%d-%s@example.com", tid or 0, counter, "@RUN@")
  return wrk.format("POST", nil, headers, '{"email": "' .. email .. '"}')
end
""",
}
# done() in _common.WRK_LUA does not know `sent`: wrap it and add the total to the result.
SENT_LUA = r"""
local common_done = done

function done(summary, latency, requests)
  common_done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + (thread:get("sent") or 0)
  end
  io.write(string.format('WRK_EXTRA {"sent": %d}\n', total))
end
"""


# --- The SMTP sink -----------------------------------------------------------------------------


class ArrivalSink:
    """An aiosmtpd server in a thread of this process (like tests/mailsink.py) that keeps, per
    recipient, the time.monotonic() at which each message's DATA was accepted."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.lock = threading.Lock()
        self.arrivals: dict[str, list[float]] = {}
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.running = False

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        now = time.monotonic()
        with self.lock:
            for recipient in envelope.rcpt_tos:
                self.arrivals.setdefault(recipient.lower(), []).append(now)
        return "250 Message accepted"

    def start(self) -> "ArrivalSink":
        self._controller.start()
        self.running = True
        return self

    def stop(self) -> None:
        if self.running:
            self._controller.stop()
            self.running = False

    def clear(self) -> None:
        with self.lock:
            self.arrivals.clear()

    def first_arrivals(self, recipients: list[str]) -> dict[str, float]:
        with self.lock:
            return {r: self.arrivals[r][0] for r in recipients if r in self.arrivals}

    def messages(self) -> int:
        with self.lock:
            return sum(len(times) for times in self.arrivals.values())

    def wait_for(self, recipients: list[str], timeout: float) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while True:
            arrived = self.first_arrivals(recipients)
            if len(arrived) == len(recipients) or time.monotonic() >= deadline:
                return arrived
            time.sleep(0.02)


# --- Database, broker, HTTP --------------------------------------------------------------------


def db_execute(database_url: str, *statements: str) -> list:
    """Run statements in one autocommit connection; return the first row of each."""
    import psycopg

    rows = []
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        for statement in statements:
            cursor = conn.execute(statement)
            rows.append(cursor.fetchone() if cursor.description else None)
    return rows


def prepare_tables(database_url: str) -> None:
    """The baseline's table, and empty waitlist tables (this database is the benchmark's own)."""
    tables = ", ".join(("bench_insert", *WAITLIST_TABLES))
    db_execute(
        database_url,
        "CREATE TABLE IF NOT EXISTS bench_insert "
        "(id bigserial PRIMARY KEY, email text, created_at timestamptz)",
        f"TRUNCATE {tables} RESTART IDENTITY CASCADE",
    )


def truncate_waitlist(database_url: str) -> None:
    db_execute(database_url, f"TRUNCATE {', '.join(WAITLIST_TABLES)} RESTART IDENTITY CASCADE")


def rows_by_token(database_url: str, table: str, tokens: list[str]) -> tuple[dict, list]:
    """Rows of `table` per run token (the third part of the address's local part: every address
    the benchmark posts is `<letter><thread>-<counter>-<token>@example.com`), and up to three
    addresses that belong to none of `tokens`."""
    import psycopg

    token = "split_part(split_part(email, '@', 1), '-', 3)"
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        counts = dict(conn.execute(f"SELECT {token}, count(*) FROM {table} GROUP BY 1").fetchall())
        others = conn.execute(
            f"SELECT email FROM {table} WHERE email IS NULL OR {token} <> ALL(%s) LIMIT 3",
            [tokens],
        ).fetchall()
    return counts, [row[0] for row in others]


def count_rows(database_url: str) -> dict[str, int]:
    tables = ("bench_insert", *WAITLIST_TABLES)
    rows = db_execute(database_url, *(f"SELECT count(*) FROM {t}" for t in tables))
    return {table: row[0] for table, row in zip(tables, rows, strict=True)}


def redis_db(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}", int(parts.path.lstrip("/") or 0)


def broker_client(broker_url: str):
    import redis

    return redis.Redis.from_url(broker_url, socket_connect_timeout=2)


def flush_broker(broker_url: str) -> None:
    """Empty the broker database: no task of an earlier run (or of the throughput test) is left
    for the worker. It is the benchmark's own database, never the cache's."""
    broker_client(broker_url).flushdb()


def queued_emails(broker_url: str) -> int:
    """Send tasks waiting in the `mail` queue (kombu keeps one Redis list per priority step):
    each signup enqueues one on commit."""
    client = broker_client(broker_url)
    total = 0
    for key in client.scan_iter(match=MAIL_QUEUE + "*", count=1000):
        name = key.decode(errors="replace")
        if name == MAIL_QUEUE or name.startswith(MAIL_QUEUE + "\x06\x16"):
            total += sum(emails_in(raw) for raw in client.lrange(key, 0, -1))
    return total


def emails_in(raw: bytes) -> int:
    message = json.loads(raw)
    return 1 if message["headers"]["task"].endswith(".send_outbox") else 0


def http_post(url: str, body: bytes, content_type: str, timeout: float = 10) -> int:
    """One POST that accepts JSON and does not follow redirects; returns the status, or 0 when
    no answer came (refused, reset, timed out)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": content_type, "Accept": "application/json"},
    )
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code
    except OSError:  # URLError, ConnectionError, TimeoutError
        return 0


def post_signup(base_url: str, email: str) -> int:
    return http_post(
        base_url + PATHS["signup"], json.dumps({"email": email}).encode(), "application/json"
    )


def percentile(values: list[float], share: float) -> float:
    """Nearest rank; math.inf in `values` (a message that never arrived) counts as latest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def finite(value: float) -> float | None:
    return None if math.isinf(value) else round(value, 2)


# --- Throughput --------------------------------------------------------------------------------


def wrk_once(processes, wrk, url, seconds, load, target, cpu=None) -> dict:
    """One wrk run; every run has a token of its own, so no address is ever posted twice and
    the rows each run wrote can be counted."""
    token = secrets.token_hex(4)
    lua = REQUEST_LUA[target].replace("@RUN@", token) + SENT_LUA
    result = run_wrk(processes, wrk, url, seconds, load, lua, cpu=cpu)
    return {**result, "token": token, "target": target}


def check_endpoints(server: Gunicorn) -> list[dict]:
    """One request to each target before measuring; returned like wrk runs, for the row count."""
    bare, signup = secrets.token_hex(4), secrets.token_hex(4)
    status = http_post(
        server.base_url + PATHS["bare"],
        f"email=c0-1-{bare}%40example.com".encode(),
        "application/x-www-form-urlencoded",
    )
    if status != 201:
        raise BenchError(f"POST {PATHS['bare']} answered {status}, not 201 (BENCH_VIEWS on?)")
    status = post_signup(server.base_url, f"c0-1-{signup}@example.com")
    if status != 202:
        raise BenchError(f"POST {PATHS['signup']} answered {status}, not 202:\n{server.log_tail()}")
    return [
        {"target": target, "token": token, "ok2xx": 1, "sent": 1, "check": True}
        for target, token in (("bare", bare), ("signup", signup))
    ]


def measure_throughput(processes, wrk, env, args, load: Load) -> tuple[list[dict], list[dict]]:
    """Interleaved rounds of bare and signup, bare once more at the end. Returns the measured
    runs, and the warm-ups and check requests (which also write rows)."""
    server = Gunicorn("signup", env, args.workers)
    server.start(processes)
    try:
        server.wait_ready()
        warmups = check_endpoints(server)
        schedule = [t for _ in range(args.rounds) for t in TARGETS] + ["bare"]
        say(
            f"gunicorn :{server.port}, {args.workers} sync workers; {len(schedule)} measurements "
            f"of {load.duration} s (+{load.warmup} s warm-up), wrk {load.threads} threads, "
            f"{load.connections} connections"
        )
        runs = []
        cpu = CpuMeter(server.process.pid)
        for number, target in enumerate(schedule, start=1):
            url = server.base_url + PATHS[target]
            if load.warmup:
                warmups.append(wrk_once(processes, wrk, url, load.warmup, load, target))
            result = wrk_once(processes, wrk, url, load.duration, load, target, cpu=cpu)
            runs.append(result)
            say(
                f"[{number}/{len(schedule)}] {target:<6} {result['rps']:8.1f} req/s  "
                f"p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  "
                f"errors {total_errors(result)}"
            )
    finally:
        # Graceful: a request still in flight when wrk stopped is finished and committed.
        if server.process is not None:
            processes.stop(server.process)
    return runs, warmups


def verify_rows(database_url: str, broker_url: str, runs: list[dict]) -> dict:
    """Every 2xx answer must have its row, counted per wrk run by the run's token: answered <=
    rows <= requests sent (the server also finishes requests that wrk stopped waiting for at
    the end of a run). Each subscriber must have its consent record, its outbox row and its
    email queued in the broker. Rows of no run of ours mean something else wrote to halftime_bench
    meanwhile: reported, not counted."""
    counts = count_rows(database_url)
    checks = {}
    for target, table in (("signup", "waitlist_subscriber"), ("bare", "bench_insert")):
        ours = [r for r in runs if r["target"] == target]
        tokens = [r["token"] for r in ours]
        by_token, others = rows_by_token(database_url, table, tokens)
        missing = sum(max(0, r["ok2xx"] - by_token.get(r["token"], 0)) for r in ours)
        over = sum(max(0, by_token.get(r["token"], 0) - r["sent"]) for r in ours)
        rows = sum(by_token.get(t, 0) for t in tokens)
        answered = sum(r["ok2xx"] for r in ours)
        foreign = counts[table] - rows
        checks[target] = {
            "table": table,
            "rows": rows,
            "answered_2xx": answered,
            "requests_sent": sum(r["sent"] for r in ours),
            "missing": missing,
            "beyond_answered": rows - answered + missing,
            "beyond_sent": over,
            "foreign_rows": foreign,
            "foreign_examples": others,
        }
    signup = checks["signup"]
    total = counts["waitlist_subscriber"]
    queued = queued_emails(broker_url)
    signup.update(
        consent_rows=counts["waitlist_consentrecord"],
        outbox_rows=counts["waitlist_outboundemail"],
        emails_in_broker=queued,
    )
    signup["ok"] = (
        signup["missing"] == 0
        and signup["beyond_sent"] == 0
        and counts["waitlist_consentrecord"] == total
        and counts["waitlist_outboundemail"] == total
        # One send task waits for all of them (waitlist/outbox.py: enqueue_once).
        and (queued >= 1 if total else queued == 0)
    )
    return checks


# --- Delivery ----------------------------------------------------------------------------------


def start_worker(processes: Processes, env: dict):
    RESULTS.mkdir(parents=True, exist_ok=True)
    log_path = RESULTS / "celery-signup.log"
    args = [
        BIN / "celery", "-A", "halftime", "worker", "--queues", MAIL_QUEUE, "--concurrency", "2",
        "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
        "--hostname", f"bench-signup-{secrets.token_hex(3)}@%h",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = processes.start(
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return process, log_path


def log_tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def measure_delivery(processes, env, args, sink: ArrivalSink) -> dict:
    truncate_waitlist(args.database_url)
    flush_broker(args.broker_url)
    worker, worker_log = start_worker(processes, env)
    server = Gunicorn("delivery", env, args.workers)
    server.start(processes)
    server.wait_ready()
    token = secrets.token_hex(4)

    # Warm-up: the whole path works and both worker processes have started.
    warm = [f"w{i}-{token}@example.com" for i in range(args.delivery_warmup)]
    for email in warm:
        if (status := post_signup(server.base_url, email)) != 202:
            raise BenchError(f"warm-up signup answered {status}:\n{server.log_tail()}")
    arrived = sink.wait_for(warm, timeout=args.delivery_timeout)
    if len(arrived) < len(warm):
        state = "exited" if worker.poll() is not None else "running"
        raise BenchError(
            f"{len(warm) - len(arrived)} of {len(warm)} warm-up emails did not arrive within "
            f"{args.delivery_timeout:.0f} s (worker {state}):\n{log_tail(worker_log)}"
        )
    sink.clear()

    say(
        f"delivery: {args.emails} signups at {args.rate:g}/s, one at a time "
        f"(gunicorn :{server.port}, Celery worker pid {worker.pid}, SMTP sink :{sink.port})"
    )
    sent_at: dict[str, float] = {}
    statuses: dict[int, int] = {}
    start = time.monotonic()
    for i in range(args.emails):
        delay = start + i / args.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        email = f"d{i}-{token}@example.com"
        sent_at[email] = time.monotonic()
        status = post_signup(server.base_url, email)
        statuses[status] = statuses.get(status, 0) + 1
    sending_s = time.monotonic() - start
    accepted = statuses.get(202, 0)
    arrived = sink.wait_for(list(sent_at), timeout=args.delivery_timeout)
    latencies = [arrived[e] - sent_at[e] if e in arrived else math.inf for e in sent_at]
    never = sum(1 for x in latencies if math.isinf(x))
    duplicates = sink.messages() - len(arrived)
    got = [x for x in latencies if not math.isinf(x)]
    return {
        "sent": len(sent_at),
        "accepted_202": accepted,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "sending_seconds": round(sending_s, 2),
        "arrived": len(arrived),
        "never_arrived": never,
        "duplicates": duplicates,
        "p50_ms": finite(percentile(latencies, 0.50) * 1000),
        "p95_ms": finite(percentile(latencies, 0.95) * 1000),
        "max_ms": finite(max(latencies) * 1000),
        "min_ms": round(min(got) * 1000, 2) if got else None,
        "mean_ms": round(statistics.fmean(got) * 1000, 2) if got else None,
    }


# --- Report ------------------------------------------------------------------------------------


def report(summary: dict, rows: dict, delivery: dict | None) -> list[dict]:
    bare, signup = summary["bare"], summary["signup"]
    print()
    print("| target | req/s | p50 ms | p99 ms | errors | vs bare |")
    print("|---|---:|---:|---:|---:|---:|")
    for target in TARGETS:
        row = summary[target]
        print(
            f"| {LABELS[target]} | {row['rps']:.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
            f"| {row['errors']} | {row['rps'] / bare['rps']:.0%} |"
        )
    print()
    print("CPU per request, ms (median of the runs; the machine's busy and stolen shares):")
    print("| target | gunicorn | PostgreSQL | Redis | wrk | all | busy | stolen |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for target in TARGETS:
        cpu = summary[target].get("cpu_ms_per_request")
        if cpu:
            parts = ("web", "postgres", "redis", "load_generator")
            print(
                f"| {target} | "
                + " | ".join(f"{cpu[part]:.2f}" for part in parts)
                + f" | {sum(cpu[part] for part in parts):.2f} | {cpu['machine_busy_share']:.0%} "
                f"| {cpu['machine_steal_share']:.0%} |"
            )
    print()
    s = rows["signup"]
    print(
        f"rows: {s['rows']} subscribers for {s['answered_2xx']} signups answered 2xx "
        f"({s['requests_sent']} sent): {s['missing']} missing, {s['beyond_answered']} written "
        f"for requests wrk stopped waiting for; {s['consent_rows']} consent records, "
        f"{s['outbox_rows']} outbox rows, {s['emails_in_broker']} send task(s) in the broker"
    )
    b = rows["bare"]
    print(
        f"rows: {b['rows']} bench_insert rows for {b['answered_2xx']} bare answers 2xx "
        f"({b['missing']} missing)"
    )
    for check in (s, b):
        if check["foreign_rows"]:
            print(
                f"warning: {check['foreign_rows']} rows in {check['table']} from no request of "
                f"this run (another process used halftime_bench?), e.g. {check['foreign_examples']}"
            )
    if delivery:
        print()
        print("| delivery | sent | arrived | never arrived | p50 ms | p95 ms | max ms |")
        print("|---|---:|---:|---:|---:|---:|---:|")

        def ms(value):
            return "∞" if value is None else f"{value:.0f}"

        print(
            f"| request → email at the sink | {delivery['sent']} | {delivery['arrived']} "
            f"| {delivery['never_arrived']} | {ms(delivery['p50_ms'])} | "
            f"{ms(delivery['p95_ms'])} | {ms(delivery['max_ms'])} |"
        )
    print()
    share = signup["rps"] / bare["rps"]
    goals = [
        (f"signup >= {GOAL_SHARE:.0%} of bare req/s", f"{share:.0%}", share >= GOAL_SHARE),
        (
            "0 errors (every answer 2xx)",
            f"bare {bare['errors']}, signup {signup['errors']}",
            bare["errors"] == 0 and signup["errors"] == 0,
        ),
        ("every 2xx signup stored and enqueued", f"{s['missing']} missing", s["ok"]),
    ]
    if delivery:
        p95 = delivery["p95_ms"]
        goals += [
            (
                "every confirmation email arrived",
                f"{delivery['never_arrived']} never arrived",
                delivery["never_arrived"] == 0 and delivery["accepted_202"] == delivery["sent"],
            ),
            (
                f"delivery p95 < {GOAL_DELIVERY_P95_S:g} s",
                "∞" if p95 is None else f"{p95:.0f} ms",
                p95 is not None and p95 < GOAL_DELIVERY_P95_S * 1000,
            ),
        ]
    for name, measured, met in goals:
        print(f"goal: {name}: {measured}  {'MET' if met else 'NOT MET'}")
    return [{"goal": n, "measured": m, "met": met} for n, m, met in goals]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="seconds before each measurement")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of bare, signup (then bare once)"
    )
    parser.add_argument("--emails", type=int, default=300, help="signups in the delivery test")
    parser.add_argument("--rate", type=float, default=20, help="delivery signups per second")
    parser.add_argument(
        "--delivery-timeout", type=float, default=60, help="seconds to wait for the emails"
    )
    parser.add_argument("--delivery-warmup", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument(
        "--skip-delivery", action="store_true", help="measure throughput only (no worker)"
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="the cache")
    parser.add_argument(
        "--broker-url", default=DEFAULT_BROKER_URL, help="Celery broker; emptied by the run"
    )
    parser.add_argument("--skip-setup", action="store_true", help="skip migrate, collectstatic")
    args = parser.parse_args()
    if args.duration < 1 or args.warmup < 0 or args.rounds < 1:
        parser.error("--duration and --rounds must be at least 1, --warmup at least 0")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads (wrk needs one per thread)")
    if args.emails < 1 or args.rate <= 0 or args.delivery_warmup < 1:
        parser.error("--emails and --rate must be positive")
    if redis_db(args.broker_url) == redis_db(args.redis_url):
        parser.error("--broker-url must be another Redis database than --redis-url (flushed)")
    return args


def main() -> None:
    args = parse_args()
    load = Load(args.duration, args.warmup, args.threads, args.connections)
    # Ctrl-C and `kill` both end in the `finally` below, which stops every process we started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    processes = Processes()
    sink = None
    started = dt.datetime.now(dt.UTC)
    machine_before = machine()
    delivery = None
    try:
        wrk = require_wrk()
        ensure_database(args.database_url)
        ensure_redis(args.redis_url)
        ensure_redis(args.broker_url)
        sink = ArrivalSink().start()
        env = bench_env(
            database_url=args.database_url,
            redis_url=args.redis_url,
            CELERY_BROKER_URL=args.broker_url,
            BENCH_VIEWS="true",
            # All the load comes from one address, and each address is new.
            WAITLIST_IP_LIMIT="100000000",
            WAITLIST_EMAIL_LIMIT="100000000",
            EMAIL_URL=f"smtp://127.0.0.1:{sink.port}",
        )
        if not args.skip_setup:
            say("migrate, collectstatic")
            manage(processes, env, "migrate", "--no-input", "-v", "0")
            manage(processes, env, "collectstatic", "--no-input", "-v", "0")
        say("empty bench_insert and the waitlist tables, flush the broker database")
        prepare_tables(args.database_url)
        flush_broker(args.broker_url)

        runs, warmups = measure_throughput(processes, wrk, env, args, load)
        rows = verify_rows(args.database_url, args.broker_url, runs + warmups)
        if not args.skip_delivery:
            delivery = measure_delivery(processes, env, args, sink)
    except BenchError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted")
    finally:
        processes.stop_all()
        if sink is not None:
            sink.stop()

    summary = {t: summarize([r for r in runs if r["target"] == t]) for t in TARGETS}
    for target in TARGETS:
        summary[target]["p99_ms_max"] = max(r["p99_ms"] for r in runs if r["target"] == target)
    goals = report(summary, rows, delivery)
    path = write_results(
        "signup",
        {
            **run_record("signup", started, machine_before),
            "load": {**vars(load), "rounds": args.rounds, "gunicorn_workers": args.workers},
            "delivery_load": None
            if args.skip_delivery
            else {"emails": args.emails, "rate_per_s": args.rate, "celery_concurrency": 2},
            "summary": summary,
            "signup_share_of_bare": summary["signup"]["rps"] / summary["bare"]["rps"],
            "rows": rows,
            "delivery": delivery,
            "goals": goals,
            "runs": runs,
            "warmups": warmups,
        },
    )
    print(f"\nresults: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
