"""Benchmark: a launch-update campaign sent by Celery workers to an SMTP sink, against the same
sink's capacity for a bare smtplib loop.

    .venv/bin/python bench/campaign.py [--subscribers 100000] [--workers 2] [--concurrency 1]

Needs PostgreSQL and Redis on 127.0.0.1. Uses its own database (halftime_campaign_bench, whose
waitlist tables it empties), Redis database 6 as the cache and 5 as the Celery broker (both
flushed), and an SMTP sink (aiosmtpd) in a process of its own. It creates N confirmed
subscribers in SQL, times `waitlist.deliveries.create_deliveries` for all of them, measures the
sink with raw smtplib senders (1 and 2 processes, before and after the send), then starts Celery
workers and beat, schedules a campaign to all N and measures, at the sink, the first to the last
message; every subscriber must get exactly one message and every delivery row must be 'sent'.
Worker memory (RSS) is sampled every 0.5 s. Results go to bench/results/campaign.json
(campaign-<N>-<workers>x<concurrency>.json for other settings). See bench/README.md.
"""

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    BIN,
    PYTHON,
    RESULTS,
    ROOT,
    BenchError,
    Processes,
    bench_env,
    ensure_database,
    ensure_redis,
    fail,
    free_port,
    machine,
    manage,
    run_record,
    say,
    verdict,
    write_results,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/halftime_campaign_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/6"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/5"
OTHER_BENCHMARKS = r"bench/(signup|article_page)\.py"
FROM = "hello@localhost"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024

GOALS = {
    "emails_per_s": 1000,  # campaign emails/s at the sink, at least
    "share_of_raw": 0.50,  # of the best raw smtplib figure, same sink, same run
    "create_100k_s": 5.0,  # seconds to create 100,000 delivery rows, less than
    "rss_mb": 150,  # peak RSS of any worker process, less than
}

SUBJECT = "Halftime Health is live in Texas"
BODY = """\
## We're live in Texas

You joined the Halftime Health waitlist, and today we open our doors to men in Texas. You can
book a first video visit with one of our physicians this week, at a time that suits you.

## What a first visit covers

- A conversation about what brought you here: energy, sleep, weight, sex drive or all of them.
- A plan for lab work, drawn at a partner lab near you, with results explained in plain English.
- A follow-up to go through the results and decide together what, if anything, to treat.

## What it costs

A first visit is **$49**. Labs are billed at cost, and we tell you the price before you book.
There is no subscription and nothing renews unless you choose a plan.

[Book your first visit](https://example.com/book)

Questions? Reply to this email: a person on our care team reads every answer.
"""

SEED_SQL = """
INSERT INTO waitlist_subscriber (
    email, email_hash, canonical_email_hash, status, interests, state, placement,
    utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer_url,
    referral_code, referral_credited, token_key, created_at, confirmed_at, suppression_reason
)
SELECT e, md5(e) || md5('#' || e), md5(e) || md5('#' || e), 'confirmed', '["sleep"]'::jsonb,
       'TX', '', '', '', '', '', '', '', 'b' || g, false, left(md5('key' || g), 16), now(),
       now(), ''
FROM (SELECT g, 'bench' || g || '@example.com' AS e FROM generate_series(1, %s) AS g) AS s
"""
EMPTY_WAITLIST = (
    "TRUNCATE waitlist_delivery, waitlist_campaign, waitlist_outboundemail, "
    "waitlist_consentrecord, waitlist_subscriber RESTART IDENTITY CASCADE"
)
EMPTY_CAMPAIGNS = "TRUNCATE waitlist_delivery, waitlist_campaign RESTART IDENTITY CASCADE"


# --- The SMTP sink: a process of its own -------------------------------------------------------


class SinkHandler:
    """Accepts every message; keeps per-recipient counts and Message-IDs, arrivals per second,
    and the time of the first and the last message. Parses nothing but the Message-ID."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.bytes = 0
        self.first = self.last = 0.0
        self.recipients: dict[str, list] = {}
        self.per_second: dict[int, int] = {}
        self.sample: bytes = b""

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        now = time.time()
        content = envelope.content
        self.count += 1
        self.bytes += len(content)
        if not self.first:
            self.first = now
            self.sample = content
        self.last = now
        second = int(now)
        self.per_second[second] = self.per_second.get(second, 0) + 1
        header_end = content.find(b"\r\n\r\n")
        start = content.find(b"\nMessage-ID: ", 0, header_end)
        message_id = ""
        if start >= 0:
            start += 13
            message_id = content[start : content.find(b"\r\n", start)].decode("latin-1")
        for address in envelope.rcpt_tos:
            seen = self.recipients.get(address)
            if seen is None:
                self.recipients[address] = [1, message_id]
            else:
                seen[0] += 1
                seen.append(message_id)
        return "250 OK"

    def stats(self) -> dict:
        return {"count": self.count, "bytes": self.bytes, "first": self.first, "last": self.last}

    def write_sample(self, path: str) -> dict:
        Path(path).write_bytes(self.sample)
        return {"path": path, "bytes": len(self.sample)}

    def dump(self, path: str) -> dict:
        data = {**self.stats(), "per_second": self.per_second, "recipients": self.recipients}
        Path(path).write_text(json.dumps(data))
        return {"path": path}


def sink_main(port: int) -> None:
    """Serve SMTP on 127.0.0.1:port; answer one JSON line per command read on stdin:
    `stats`, `reset`, `dump <path>` (everything), `sample <path>` (the first message's bytes)."""
    import logging

    from aiosmtpd.smtp import SMTP

    logging.disable(logging.WARNING)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = SinkHandler()

    def session():
        return SMTP(handler, hostname="sink.bench", ident="bench sink", loop=loop)

    loop.run_until_complete(loop.create_server(session, "127.0.0.1", port, backlog=256))
    pending = bytearray()

    def answer(line: str) -> None:
        command, _, arg = line.partition(" ")
        if command == "stats":
            reply = handler.stats()
        elif command == "reset":
            handler.reset()
            reply = {"reset": True}
        elif command == "dump":
            reply = handler.dump(arg)
        elif command == "sample":
            reply = handler.write_sample(arg)
        else:
            reply = {"error": f"unknown command {command!r}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()

    def on_stdin() -> None:
        chunk = os.read(0, 65536)
        if not chunk:  # the benchmark is gone
            loop.stop()
            return
        pending.extend(chunk)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            if line.strip():
                answer(line.decode().strip())

    loop.add_reader(0, on_stdin)
    sys.stdout.write(json.dumps({"ready": True, "port": port}) + "\n")
    sys.stdout.flush()
    loop.run_forever()


class Sink:
    """The benchmark's side of the sink process."""

    def __init__(self, processes: Processes) -> None:
        self.port = free_port()
        self.log_path = RESULTS / "campaign-sink.log"
        with self.log_path.open("wb") as log:
            self.process = processes.start(
                [PYTHON, __file__, "_sink", str(self.port)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
        first = self._read()
        if not first.get("ready"):
            raise BenchError(f"the SMTP sink did not start: {first}")

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise BenchError(f"the SMTP sink exited:\n{self.log_path.read_text(errors='replace')}")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command.encode() + b"\n")
        self.process.stdin.flush()
        return self._read()

    def stats(self) -> dict:
        return self.ask("stats")

    def reset(self) -> None:
        self.ask("reset")

    def dump(self) -> dict:
        with tempfile.TemporaryDirectory(prefix="campaign-sink-") as folder:
            path = Path(folder) / "dump.json"
            self.ask(f"dump {path}")
            return json.loads(path.read_text())


def rate(stats: dict) -> float:
    """Messages per second from the first to the last arrival."""
    span = stats["last"] - stats["first"]
    return (stats["count"] - 1) / span if stats["count"] > 1 and span > 0 else 0.0


# --- Raw smtplib senders ------------------------------------------------------------------------


def raw_main(port: int, count: int, message_path: str, prefix: str) -> None:
    """One SMTP connection, `count` messages of prebuilt bytes, as Django's backend sends them."""
    message = Path(message_path).read_bytes()
    smtp = smtplib.SMTP("127.0.0.1", port)
    smtp.ehlo()
    started = time.perf_counter()
    for number in range(count):
        smtp.sendmail(FROM, [f"{prefix}{number}@example.com"], message)
    seconds = time.perf_counter() - started
    smtp.quit()
    print(json.dumps({"count": count, "seconds": seconds}))


def measure_raw(processes: Processes, sink: Sink, message_path: Path, senders: int, count: int):
    sink.reset()
    children = [
        processes.start(
            [PYTHON, __file__, "_raw", str(sink.port), str(count), str(message_path), f"raw{n}-"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(senders)
    ]
    cpu_before = proc_cpu(sink.process.pid)
    own = []
    for child in children:
        stdout, stderr = child.communicate(timeout=600)
        processes.stop(child)
        if child.returncode != 0:
            raise BenchError(f"a raw sender failed:\n{stderr.decode(errors='replace')}")
        own.append(json.loads(stdout))
    stats = sink.stats()
    if stats["count"] != senders * count:
        raise BenchError(f"the sink counted {stats['count']} of {senders * count} raw messages")
    result = {
        "senders": senders,
        "messages": stats["count"],
        "emails_per_s": rate(stats),
        "seconds": stats["last"] - stats["first"],
        "sender_emails_per_s": [r["count"] / r["seconds"] for r in own],
        "sink_cpu_s": proc_cpu(sink.process.pid) - cpu_before,
        "message_bytes": stats["bytes"] // max(1, stats["count"]),
    }
    say(
        f"raw smtplib, {senders} sender(s): {result['emails_per_s']:,.0f} emails/s "
        f"({result['messages']} messages in {result['seconds']:.2f} s; "
        f"sink CPU {result['sink_cpu_s']:.1f} s)"
    )
    return result


# --- /proc: memory and CPU of processes ---------------------------------------------------------


def proc_stat(pid: int) -> tuple[int, str, float, int] | None:
    """(ppid, name, cpu seconds with its waited-for children's, rss bytes) of a process, or
    None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, cutime 16 and cstime 17
    # (children that exited and were waited for: PostgreSQL's backends), rss 24.
    cpu = sum(int(f) for f in fields[11:15]) / TICKS
    return int(fields[1]), name, cpu, int(fields[21]) * PAGE


def proc_cpu(pid: int) -> float:
    stat = proc_stat(pid)
    return stat[2] if stat else 0.0


def descendants(pid: int) -> list[int]:
    """The process and all its descendants (by /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return found


def cpu_by_group(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far of each group of process trees, plus PostgreSQL and Redis servers
    (by process name) and the whole machine's busy time."""
    totals = {name: 0.0 for name in groups}
    for name, roots in groups.items():
        for root in roots:
            for pid in descendants(root):
                totals[name] += proc_cpu(pid)
    totals["bench"] = proc_cpu(os.getpid())  # this process: polling and sampling
    totals["postgres"] = totals["redis"] = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = proc_stat(int(entry.name))
        if stat is None:
            continue
        if stat[1].startswith("postgres"):
            totals["postgres"] += stat[2]
        elif stat[1].startswith("redis-server"):
            totals["redis"] += stat[2]
    cpu = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    values = [int(v) for v in cpu]
    idle = values[3] + values[4]
    totals["machine_busy"] = (sum(values[:8]) - idle) / TICKS
    totals["machine_total"] = sum(values[:8]) / TICKS
    return totals


class RssSampler(threading.Thread):
    """Every `interval` seconds, the RSS of each process in each named tree; keeps the peaks."""

    def __init__(self, trees: dict[str, int], interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.trees, self.interval = trees, interval
        self.peaks: dict[str, dict] = {}
        self.tree_peaks: dict[str, int] = {}
        self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.sample()
            self.done.wait(self.interval)

    def sample(self) -> None:
        self.samples += 1
        for tree, root in self.trees.items():
            total = 0
            for pid in descendants(root):
                stat = proc_stat(pid)
                if stat is None:
                    continue
                role = "main" if pid == root else "child"
                key = f"{tree} {role} {pid}"
                total += stat[3]
                peak = self.peaks.setdefault(key, {"tree": tree, "pid": pid, "role": role})
                peak["rss_mb"] = max(peak.get("rss_mb", 0), stat[3] / MB)
            self.tree_peaks[tree] = max(self.tree_peaks.get(tree, 0), total)

    def stop(self) -> None:
        self.done.set()
        if self.is_alive():
            self.join(5)


# --- Celery -------------------------------------------------------------------------------------


class Celery:
    """Worker and beat processes, each in its own session, logging under bench/results/."""

    def __init__(self, processes: Processes, env: dict[str, str]) -> None:
        self.processes, self.env = processes, env
        self.workers: list[subprocess.Popen] = []
        self.beat: subprocess.Popen | None = None
        self.logs: list[Path] = []
        self.schedule_dir = Path(tempfile.mkdtemp(prefix="campaign-beat-"))
        self.known: set[int] = set()

    def _start(self, name: str, args: list) -> subprocess.Popen:
        log_path = RESULTS / f"celery-campaign-{name}.log"
        self.logs.append(log_path)
        with log_path.open("wb") as log:
            return self.processes.start(
                [BIN / "celery", "-A", "halftime", *args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_workers(self, count: int, concurrency: int) -> None:
        for number in range(1, count + 1):
            self.workers.append(
                self._start(
                    f"worker{number}",
                    [
                        "worker",
                        "--queues",
                        "campaigns,default",
                        "--concurrency",
                        concurrency,
                        "--pool",
                        "prefork",
                        "--without-gossip",
                        "--without-mingle",
                        "--loglevel",
                        "WARNING",
                        "--hostname",
                        f"bench{number}@%h",
                    ],
                )
            )

    def wait_ready(self, app, count: int, timeout: float = 60) -> list[str]:
        """Until every worker answers a ping over the broker (they log nothing at WARNING)."""
        deadline = time.monotonic() + timeout
        names: set[str] = set()
        while time.monotonic() < deadline:
            for worker in self.workers:
                if worker.poll() is not None:
                    raise BenchError(f"a Celery worker exited:\n{self.log_tail()}")
            for reply in app.control.ping(timeout=1.0) or []:
                names.update(name for name in reply if name.startswith("bench"))
            if len(names) >= count:
                self.remember()
                return sorted(names)
        raise BenchError(f"only {sorted(names)} of {count} workers answered:\n{self.log_tail()}")

    def start_beat(self) -> None:
        self.beat = self._start(
            "beat", ["beat", "--loglevel", "WARNING", "--schedule", self.schedule_dir / "schedule"]
        )

    def remember(self) -> None:
        for process in [*self.workers, self.beat]:
            if process is not None and process.poll() is None:
                self.known.update(descendants(process.pid))

    def stop(self) -> None:
        """Beat, then each worker (warm shutdown: its current batch ends); then any pool child
        left behind, by its pid."""
        self.remember()
        for process in [self.beat, *self.workers]:
            if process is not None:
                self.processes.stop(process, grace=30)
        for pid in self.known:
            stat = proc_stat(pid)
            # Still ours: a Celery or Python process (a pid is not reused this soon).
            if stat is not None and stat[1].startswith(("celery", "python")):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.known.clear()
        shutil.rmtree(self.schedule_dir, ignore_errors=True)

    def errors(self) -> list[str]:
        lines = []
        for path in self.logs:
            if path.exists():
                for line in path.read_text(errors="replace").splitlines():
                    if "ERROR" in line or "Traceback" in line or "CRITICAL" in line:
                        lines.append(f"{path.name}: {line}")
        return lines

    def log_tail(self, lines: int = 20) -> str:
        parts = []
        for path in self.logs:
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- {path.name}\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts)


# --- Setup --------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000, help="audience size")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--concurrency", type=int, default=1, help="pool processes per worker")
    parser.add_argument(
        "--rate", type=int, default=100_000, help="CAMPAIGN_RATE_PER_SECOND (high: no cap)"
    )
    parser.add_argument(
        "--dispatch-seconds",
        type=float,
        default=5,
        help="CAMPAIGN_DISPATCH_SECONDS: beat's interval; 1 closes a 100k campaign early (a bug)",
    )
    parser.add_argument(
        "--raw-messages", type=int, default=20_000, help="messages per raw smtplib sender"
    )
    parser.add_argument("--create-rounds", type=int, default=3, help="timings of create_deliveries")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="MESSAGES",
        help="after the run, profile send_batch in this process over about MESSAGES messages",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds the send may take")
    parser.add_argument(
        "--quiet-timeout",
        type=float,
        default=7200,
        help="seconds to wait for other benchmarks to end before each measurement",
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--broker-url", default=DEFAULT_BROKER_URL)
    args = parser.parse_args()
    if args.subscribers < 1 or args.workers < 1 or args.concurrency < 1:
        parser.error("--subscribers, --workers and --concurrency must be at least 1")
    if args.raw_messages < 2 or args.create_rounds < 1:
        parser.error("--raw-messages must be at least 2, --create-rounds at least 1")
    return args


def others_running() -> bool:
    found = subprocess.run(["pgrep", "-f", OTHER_BENCHMARKS], capture_output=True, text=True)
    return found.returncode == 0


def machine_busy_share(seconds: float = 2.0) -> float:
    """The share of all cores busy over the next `seconds` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return sum(values) - values[3] - values[4], sum(values)

    busy_before, total_before = sample()
    time.sleep(seconds)
    busy_after, total_after = sample()
    return (busy_after - busy_before) / max(1, total_after - total_before)


def wait_for_quiet(phase: str, timeout: float, log: list[dict], idle_wait: float = 120) -> None:
    """Until no other benchmark runs, so that we do not measure each other's load; then up to
    `idle_wait` seconds more for the machine to be mostly idle (test suites of other sessions
    are not benchmarks, but they load the same cores)."""
    started = time.monotonic()
    if others_running():
        say(f"{phase}: waiting for the other benchmark(s) to end")
        while others_running() and time.monotonic() - started < timeout:
            time.sleep(5)
    waited = time.monotonic() - started
    quiet = not others_running()
    if not quiet:
        say(f"warning: {phase}: another benchmark still runs after {timeout:.0f} s; measuring")
    idle_since = time.monotonic()
    while (busy := machine_busy_share()) > 0.25 and time.monotonic() - idle_since < idle_wait:
        say(f"{phase}: the machine is {busy:.0%} busy; waiting for it to settle")
        time.sleep(3)
    if busy > 0.25:
        say(f"warning: {phase}: the machine is still {busy:.0%} busy; measuring")
    log.append(
        {
            "phase": phase,
            "waited_s": round(time.monotonic() - started, 1),
            "waited_for_benchmarks_s": round(waited, 1),
            "quiet_at_start": quiet,
            "busy_share_at_start": round(busy, 3),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
    )


def note_contention(phase: str, log: list[dict]) -> None:
    busy = others_running()
    log[-1]["other_benchmark_at_end"] = busy
    if busy:
        say(f"warning: another benchmark started during {phase}; its figures are suspect")


CAMPAIGN_CODE = (
    "waitlist/sending.py",
    "waitlist/deliveries.py",
    "waitlist/emails.py",
    "waitlist/tasks.py",
)


def code_fingerprint() -> dict:
    """Which version of the campaign code a run measured (the code may change between runs)."""
    import hashlib

    digest = hashlib.sha256()
    modified = {}
    for name in CAMPAIGN_CODE:
        path = ROOT / name
        digest.update(path.read_bytes())
        stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
        modified[name] = stamp.isoformat(timespec="seconds")
    return {"sha256": digest.hexdigest()[:12], "modified": modified}


def flush_redis(*urls: str) -> None:
    import redis

    for url in urls:
        redis.Redis.from_url(url).flushdb()


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "halftime.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def sql(statement: str, params=None, *, fetch: bool = False):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if fetch else cursor.rowcount


def seed_subscribers(count: int) -> float:
    started = time.perf_counter()
    sql(EMPTY_WAITLIST)
    sql(SEED_SQL, [count])
    sql("VACUUM ANALYZE waitlist_subscriber")
    return time.perf_counter() - started


def new_campaign(status: str):
    from django.utils import timezone

    from waitlist.models import Campaign

    now = timezone.now()
    return Campaign.objects.create(
        name="Bench: live in Texas",
        subject=SUBJECT,
        preheader="Book a first visit this week.",
        body=BODY,
        status=status,
        send_at=now,
        started_at=now if status == Campaign.Status.SENDING else None,
    )


def time_create_deliveries(count: int, rounds: int, sink: Sink, message_path: Path) -> dict:
    """create_deliveries for all subscribers, `rounds` times on an empty table. Then the app
    sends one message of the last campaign (the worker's task, run in this process) and the
    bytes that reach the sink become the raw senders' message."""
    from waitlist import deliveries, tasks

    timings = []
    for _ in range(rounds):
        sql(EMPTY_CAMPAIGNS)
        campaign = new_campaign("sending")
        started = time.perf_counter()
        rows = deliveries.create_deliveries(campaign)
        created = time.perf_counter()
        ranges = deliveries.batch_ranges(campaign.pk)
        ranged = time.perf_counter()
        if rows != count:
            raise BenchError(f"create_deliveries made {rows} rows for {count} subscribers")
        timings.append(
            {
                "rows": rows,
                "seconds": created - started,
                "batch_ranges_s": ranged - created,
                "batches": len(ranges),
            }
        )
        say(
            f"create_deliveries: {rows:,} rows in {created - started:.2f} s; batch_ranges "
            f"{len(ranges)} batches in {ranged - created:.2f} s"
        )
    sink.reset()
    first = ranges[0][0]
    tasks.send_campaign_batch(campaign.pk, first, first)
    sample = sink.ask(f"sample {message_path}")
    if not sample.get("bytes"):
        raise BenchError("the app's send of one campaign email did not reach the sink")
    sql(EMPTY_CAMPAIGNS)
    seconds = [t["seconds"] for t in timings]
    return {
        "rows": count,
        "seconds": statistics.median(seconds),
        "seconds_all": [round(s, 3) for s in seconds],
        "batch_ranges_s": statistics.median(t["batch_ranges_s"] for t in timings),
        "batches": timings[0]["batches"],
        "message_bytes": sample["bytes"],
    }


# --- The send -----------------------------------------------------------------------------------


def send_campaign(args, celery: Celery, sink: Sink, app) -> dict:
    from waitlist.models import Campaign

    sink.reset()
    celery.start_workers(args.workers, args.concurrency)
    names = celery.wait_ready(app, args.workers)
    say(f"workers ready: {', '.join(names)}")
    trees = {f"worker{n}": p.pid for n, p in enumerate(celery.workers, start=1)}
    celery.start_beat()
    sampler = RssSampler({**trees, "beat": celery.beat.pid, "sink": sink.process.pid})
    sampler.start()
    try:
        time.sleep(1.5)  # beat's first tick; workers idle and measured at rest
        celery.remember()
        groups = {"workers": list(trees.values()), "beat": [celery.beat.pid]}
        groups["sink"] = [sink.process.pid]
        cpu_before = cpu_by_group(groups)
        campaign = new_campaign(Campaign.Status.SCHEDULED)
        created = time.time()
        say(f"campaign {campaign.pk} scheduled for now to {args.subscribers:,} subscribers")
        queue = QueueLength(args.broker_url)
        stats, cpu_after = wait_for_send(args, celery, sink, campaign.pk, groups, queue)
        status = wait_for_status(campaign.pk, "sent", timeout=30)
        celery.remember()
    finally:
        sampler.stop()
        celery.stop()
    dump = sink.dump()
    checks = verify(campaign.pk, dump, status)
    cpu = {k: round(cpu_after[k] - cpu_before[k], 2) for k in cpu_before}
    # Busy time of processes that are not ours, PostgreSQL's or Redis's: other load.
    ours = sum(cpu[k] for k in [*groups, "bench", "postgres", "redis"])
    cpu["other"] = round(cpu["machine_busy"] - ours, 2)
    span = stats["last"] - stats["first"]
    per_second = sorted(dump["per_second"].items())[1:-1]  # whole seconds only
    workers_rss = [p for p in sampler.peaks.values() if p["tree"].startswith("worker")]
    return {
        "campaign_id": campaign.pk,
        "campaign_times": campaign_times(campaign.pk),
        "queue_peak": queue.peak,
        "workers": names,
        "messages": stats["count"],
        "emails_per_s": rate(stats),
        "seconds_first_to_last": span,
        "seconds_schedule_to_first": stats["first"] - created,
        "seconds_schedule_to_last": stats["last"] - created,
        "per_second_median": statistics.median(n for _, n in per_second) if per_second else None,
        "per_second_min_max": [min(n for _, n in per_second), max(n for _, n in per_second)]
        if per_second
        else None,
        "message_bytes": stats["bytes"] // max(1, stats["count"]),
        "cpu_s": cpu,
        "cpu_ms_per_email": {
            k: round(1000 * v / max(1, stats["count"]), 3)
            for k, v in cpu.items()
            if k not in ("machine_total",)
        },
        "rss_peak_mb": max(p["rss_mb"] for p in workers_rss),
        "rss_peaks": sorted(sampler.peaks.values(), key=lambda p: (p["tree"], p["pid"])),
        "rss_tree_peaks_mb": {k: round(v / MB, 1) for k, v in sampler.tree_peaks.items()},
        "rss_samples": sampler.samples,
        "checks": checks,
        "worker_log_errors": celery.errors()[:20],
    }


def wait_for_send(args, celery: Celery, sink: Sink, campaign_id: int, groups: dict, queue):
    """Until the sink has a message for everyone and no more arrive; fails early when the
    campaign is closed with people left, or when nothing moves for 60 s."""
    deadline = time.monotonic() + args.timeout
    last_count, last_move = -1, time.monotonic()
    cpu_after = None
    reported = 0.0
    closed_since = None
    while time.monotonic() < deadline:
        stats = sink.stats()
        queue.sample()
        if stats["count"] != last_count:
            last_count, last_move = stats["count"], time.monotonic()
        elif stats["count"] >= args.subscribers and time.monotonic() - last_move > 2:
            return stats, cpu_after
        if stats["count"] >= args.subscribers and cpu_after is None:
            cpu_after = cpu_by_group(groups)
        status = campaign_status(campaign_id)
        if status in ("sent", "paused", "cancelled") and stats["count"] < args.subscribers:
            closed_since = closed_since or time.monotonic()
            if time.monotonic() - closed_since > 3:
                raise BenchError(
                    f"the campaign is {status} but only {stats['count']:,} of "
                    f"{args.subscribers:,} messages arrived; deliveries "
                    f"{delivery_counts(campaign_id)}; campaign {campaign_times(campaign_id)}.\n"
                    "A dispatcher that ran while another was still creating the delivery rows "
                    "closes the campaign (waitlist/deliveries.py: dispatch, finish_if_done): use "
                    "--dispatch-seconds longer than create_deliveries takes."
                )
        if time.monotonic() - last_move > 60:
            raise BenchError(
                f"no message for 60 s: {stats['count']} of {args.subscribers} arrived, "
                f"campaign {status}; deliveries {delivery_counts(campaign_id)}\n"
                + celery.log_tail()
            )
        if time.monotonic() - reported > 10:
            reported = time.monotonic()
            say(f"  {stats['count']:,} of {args.subscribers:,} at the sink")
        time.sleep(0.5)
    raise BenchError(f"the campaign did not finish in {args.timeout:.0f} s\n{celery.log_tail()}")


class QueueLength:
    """The longest the campaigns queue got in the broker (tasks waiting, not yet taken)."""

    def __init__(self, broker_url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(broker_url)
        self.peak = 0

    def sample(self) -> None:
        with contextlib.suppress(Exception):
            self.peak = max(self.peak, self.client.llen("campaigns"))


def campaign_times(campaign_id: int) -> dict:
    from waitlist.models import Campaign

    row = Campaign.objects.values("started_at", "finished_at").get(pk=campaign_id)
    return {k: v.isoformat() if v else None for k, v in row.items()}


def campaign_status(campaign_id: int) -> str:
    from waitlist.models import Campaign

    return Campaign.objects.values_list("status", flat=True).get(pk=campaign_id)


def wait_for_status(campaign_id: int, wanted: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (status := campaign_status(campaign_id)) != wanted and time.monotonic() < deadline:
        time.sleep(0.5)
    return status


def delivery_counts(campaign_id: int) -> dict[str, int]:
    rows = sql(
        "SELECT status, count(*) FROM waitlist_delivery WHERE campaign_id = %s GROUP BY status",
        [campaign_id],
        fetch=True,
    )
    return dict(rows)


def verify(campaign_id: int, dump: dict, status: str) -> dict:
    """Every subscriber got exactly one message, with its own Message-ID; every row is sent."""

    def campaign_message_id(campaign: int, subscriber: int) -> str:
        return f"<campaign.{campaign}.{subscriber}@localhost>"  # SITE_URL is localhost

    people = dict(sql("SELECT email, id FROM waitlist_subscriber", fetch=True))
    received = dump["recipients"]
    missing = [e for e in people if e not in received]
    strangers = [e for e in received if e not in people]
    duplicates = {e: r[0] for e, r in received.items() if r[0] > 1}
    wrong_ids = [
        e
        for e, r in received.items()
        if e in people and any(mid != campaign_message_id(campaign_id, people[e]) for mid in r[1:])
    ]
    deliveries = delivery_counts(campaign_id)
    checks = {
        "subscribers": len(people),
        "recipients": len(received),
        "missing": len(missing),
        "strangers": len(strangers),
        "duplicates": len(duplicates),
        "wrong_message_id": len(wrong_ids),
        "deliveries": deliveries,
        "campaign_status": status,
        "examples": {
            "missing": missing[:3],
            "duplicates": list(duplicates)[:3],
            "wrong_message_id": wrong_ids[:3],
        },
    }
    checks["ok"] = (
        not missing
        and not strangers
        and not duplicates
        and not wrong_ids
        and deliveries == {"sent": len(people)}
        and status == "sent"
    )
    return checks


# --- Profile ------------------------------------------------------------------------------------


def profile_send(messages: int, sink: Sink) -> dict:
    """The worker's task (send_campaign_batch) run in this process, with the workers' settings,
    over about `messages` messages timed plainly and as many again under cProfile."""
    import cProfile
    import io
    import pstats

    from waitlist import deliveries, tasks

    sql(EMPTY_CAMPAIGNS)
    campaign = new_campaign("sending")
    deliveries.create_deliveries(campaign)
    ranges = deliveries.batch_ranges(campaign.pk)
    take = max(1, messages // deliveries.BATCH_SIZE)
    plain, profiled = ranges[:take], ranges[take : 2 * take]
    sink.reset()
    started = time.perf_counter()
    sent = sum(tasks.send_campaign_batch(campaign.pk, lo, hi)["sent"] for lo, hi in plain)
    plain_rate = sent / (time.perf_counter() - started)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    send = tasks.send_campaign_batch
    sent_profiled = sum(send(campaign.pk, lo, hi)["sent"] for lo, hi in profiled)
    profiler.disable()
    profiled_seconds = time.perf_counter() - started
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(r"/(waitlist|halftime)/", 40)
    stats.sort_stats("cumulative").print_stats(60)
    path = RESULTS / "campaign-profile.txt"
    path.write_text(out.getvalue())
    rows = []
    for (filename, line, function), row in stats.stats.items():
        where = Path(filename)
        app = any((ROOT / folder) in where.parents for folder in ("waitlist", "halftime"))
        name = f"{where.relative_to(ROOT) if app else where.name}:{line}({function})"
        rows.append(
            {
                "function": name,
                "app": app,
                "calls": row[1],
                "tottime_ms_per_email": round(1000 * row[2] / max(1, sent_profiled), 4),
                "cumtime_ms_per_email": round(1000 * row[3] / max(1, sent_profiled), 4),
            }
        )
    app_rows = sorted((r for r in rows if r["app"]), key=lambda r: -r["cumtime_ms_per_email"])
    top = sorted(rows, key=lambda r: -r["tottime_ms_per_email"])
    pause = audience_dependent_check(campaign.pk)
    sql(EMPTY_CAMPAIGNS)
    say(
        f"one process, no Celery: {plain_rate:,.0f} emails/s ({sent} messages); profiled "
        f"{sent_profiled} messages in {profiled_seconds:.1f} s -> {path.relative_to(ROOT)}"
    )
    for row in app_rows[:12]:
        say(f"  {row['cumtime_ms_per_email']:7.3f} ms/email (cumulative)  {row['function']}")
    return {
        "emails_per_s_unprofiled": plain_rate,
        "messages_unprofiled": sent,
        "messages_profiled": sent_profiled,
        "profiled_seconds": profiled_seconds,
        "app_cumulative": app_rows[:25],
        "top_tottime": top[:20],
        "error_threshold_check": pause,
        "file": str(path.relative_to(ROOT)),
    }


def audience_dependent_check(campaign_id: int) -> dict | None:
    """The error-threshold check runs once per batch and counts the whole campaign's rows:
    its cost grows with the audience."""
    from waitlist import deliveries

    check = getattr(deliveries, "pause_past_error_threshold", None)
    if check is None:
        return None
    started = time.perf_counter()
    for _ in range(20):
        check(campaign_id)
    per_call = (time.perf_counter() - started) / 20
    rows = sql(
        "SELECT count(*) FROM waitlist_delivery WHERE campaign_id = %s", [campaign_id], fetch=True
    )[0][0]
    return {
        "rows": rows,
        "ms_per_call": round(1000 * per_call, 3),
        "ms_per_email": round(1000 * per_call / deliveries.BATCH_SIZE, 4),
    }


# --- Report -------------------------------------------------------------------------------------


def report(args, raw: list[dict], creation: dict, send: dict) -> list[dict]:
    best = max(raw, key=lambda r: r["emails_per_s"])
    share = send["emails_per_s"] / best["emails_per_s"]
    per_100k = creation["seconds"] * 100_000 / creation["rows"]
    goals = [
        {
            "goal": f"campaign >= {GOALS['emails_per_s']:,} emails/s",
            "measured": round(send["emails_per_s"], 1),
            "met": send["emails_per_s"] >= GOALS["emails_per_s"],
        },
        {
            "goal": f"campaign >= {GOALS['share_of_raw']:.0%} of raw",
            "measured": round(share, 3),
            "met": share >= GOALS["share_of_raw"],
        },
        {
            "goal": f"100k delivery rows < {GOALS['create_100k_s']:.0f} s",
            "measured": round(creation["seconds"], 3),
            "met": creation["seconds"] < GOALS["create_100k_s"]
            if creation["rows"] >= 100_000
            else None,
        },
        {
            "goal": f"peak RSS per worker process < {GOALS['rss_mb']} MB",
            "measured": round(send["rss_peak_mb"], 1),
            "met": send["rss_peak_mb"] < GOALS["rss_mb"],
        },
    ]
    print()
    print("| measure | value | goal | |")
    print("|---|---:|---|---|")
    for row in raw:
        print(
            f"| raw smtplib, {row['senders']} sender(s) ({row['phase']}) "
            f"| {row['emails_per_s']:,.0f} emails/s | | |"
        )
    setup = f"{args.workers} worker(s) x concurrency {args.concurrency}"
    print(
        f"| campaign, {send['messages']:,} emails, {setup} | {send['emails_per_s']:,.0f} emails/s "
        f"| >= {GOALS['emails_per_s']:,} | {verdict(goals[0]['met'])} |"
    )
    print(
        f"| campaign / best raw ({best['emails_per_s']:,.0f}) | {share:.0%} "
        f"| >= {GOALS['share_of_raw']:.0%} | {verdict(goals[1]['met'])} |"
    )
    print(
        f"| create_deliveries, {creation['rows']:,} rows (median of "
        f"{len(creation['seconds_all'])}) | {creation['seconds']:.2f} s "
        f"(= {per_100k:.2f} s per 100k) | < {GOALS['create_100k_s']:.0f} s for 100k "
        f"| {verdict(goals[2]['met'])} |"
    )
    print(
        f"| peak RSS, any worker process | {send['rss_peak_mb']:.0f} MB "
        f"| < {GOALS['rss_mb']} MB | {verdict(goals[3]['met'])} |"
    )
    print()
    checks = send["checks"]
    print(
        f"checks: {checks['recipients']:,} recipients of {checks['subscribers']:,} subscribers, "
        f"{checks['missing']} missing, {checks['duplicates']} duplicated, "
        f"{checks['wrong_message_id']} wrong Message-ID; deliveries {checks['deliveries']}; "
        f"campaign {checks['campaign_status']}: {'OK' if checks['ok'] else 'FAILED'}"
    )
    print(
        f"timeline: first message {send['seconds_schedule_to_first']:.1f} s after scheduling, "
        f"last {send['seconds_schedule_to_last']:.1f} s; per whole second median "
        f"{send['per_second_median']} (min, max {send['per_second_min_max']}); "
        f"longest campaigns queue {send['queue_peak']} tasks"
    )
    print(f"CPU ms per email: {send['cpu_ms_per_email']}")
    peaks = ", ".join(f"{p['tree']} {p['role']} {p['rss_mb']:.0f} MB" for p in send["rss_peaks"])
    print(f"RSS peaks: {peaks}")
    return goals


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    processes = Processes()
    started = dt.datetime.now(dt.UTC)
    machine_before = machine()
    code_before = code_fingerprint()
    say(f"campaign code {code_before['sha256']} ({', '.join(CAMPAIGN_CODE)})")
    phases: list[dict] = []
    raw: list[dict] = []
    celery = None
    try:
        RESULTS.mkdir(parents=True, exist_ok=True)
        ensure_database(args.database_url)
        for url in (args.redis_url, args.broker_url):
            ensure_redis(url)
        flush_redis(args.redis_url, args.broker_url)
        sink = Sink(processes)
        env = bench_env(
            database_url=args.database_url,
            redis_url=args.redis_url,
            CELERY_BROKER_URL=args.broker_url,
            EMAIL_URL=f"smtp://127.0.0.1:{sink.port}",
            CAMPAIGN_RATE_PER_SECOND=str(args.rate),
            CAMPAIGN_RATE_PER_HOUR=str(10**9),
            CAMPAIGN_DISPATCH_SECONDS=str(args.dispatch_seconds),
            OUTBOX_SWEEP_SECONDS="3600",
            STATIC_MANIFEST="false",  # workers render no page: no collected files needed
        )
        env.pop("DJANGO_SETTINGS_MODULE", None)
        say(f"migrate {args.database_url.rsplit('/', 1)[1]}")
        manage(processes, env, "migrate", "--no-input", "-v", "0")
        setup_django(env)
        from halftime.celery import app

        wait_for_quiet("seed", args.quiet_timeout, phases)
        seed_s = seed_subscribers(args.subscribers)
        say(f"{args.subscribers:,} confirmed subscribers in {seed_s:.1f} s (SQL)")

        message_path = RESULTS / "campaign-message.eml"
        wait_for_quiet("create_deliveries", args.quiet_timeout, phases)
        creation = time_create_deliveries(args.subscribers, args.create_rounds, sink, message_path)
        note_contention("create_deliveries", phases)

        wait_for_quiet("raw (before)", args.quiet_timeout, phases)
        for senders in (1, 2):
            result = measure_raw(processes, sink, message_path, senders, args.raw_messages)
            raw.append({**result, "phase": "before"})
        note_contention("raw (before)", phases)

        wait_for_quiet("send", args.quiet_timeout, phases)
        celery = Celery(processes, env)
        send = send_campaign(args, celery, sink, app)
        note_contention("send", phases)
        say(
            f"campaign: {send['messages']:,} emails in {send['seconds_first_to_last']:.1f} s: "
            f"{send['emails_per_s']:,.0f} emails/s"
        )

        wait_for_quiet("raw (after)", args.quiet_timeout, phases)
        for senders in (1, 2):
            result = measure_raw(processes, sink, message_path, senders, args.raw_messages)
            raw.append({**result, "phase": "after"})
        note_contention("raw (after)", phases)

        profile = None
        if args.profile:
            flush_redis(args.broker_url)
            wait_for_quiet("profile", args.quiet_timeout, phases)
            profile = profile_send(args.profile, sink)
            note_contention("profile", phases)
    except BenchError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted")
    finally:
        if celery is not None:
            celery.stop()
        processes.stop_all()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        with contextlib.suppress(Exception):
            flush_redis(args.redis_url, args.broker_url)

    if code_fingerprint() != code_before:
        say("warning: the campaign code changed during this run: measure it again")
    goals = report(args, raw, creation, send)
    for goal in goals:
        print(f"goal: {goal['goal']}: {goal['measured']}  {verdict(goal['met'])}")
    name = "campaign"
    if (args.subscribers, args.workers, args.concurrency) != (100_000, 2, 1):
        name = f"campaign-{args.subscribers}-{args.workers}x{args.concurrency}"
    path = write_results(
        name,
        {
            **run_record("campaign", started, machine_before),
            "code": code_before,
            "code_changed_during_run": code_fingerprint() != code_before,
            "settings": {
                "subscribers": args.subscribers,
                "workers": args.workers,
                "concurrency": args.concurrency,
                "rate_per_second": args.rate,
                "raw_messages_per_sender": args.raw_messages,
                "dispatch_seconds": args.dispatch_seconds,
            },
            "phases": phases,
            "seed_s": seed_s,
            "raw": raw,
            "raw_best_emails_per_s": max(r["emails_per_s"] for r in raw),
            "create_deliveries": creation,
            "send": send,
            "profile": profile,
            "goals": goals,
        },
    )
    print(f"\nresults: {path.relative_to(ROOT)}")
    if not send["checks"]["ok"]:
        fail("the campaign did not reach every subscriber exactly once (see checks)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_sink":
        sink_main(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_raw":
        raw_main(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        main()
