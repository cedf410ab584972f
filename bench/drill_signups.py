"""Reliability drills for the waitlist signup: heavy load, Redis stopped, PostgreSQL restarted.

    .venv/bin/python bench/drill_signups.py                       # all three drills
    .venv/bin/python bench/drill_signups.py --only 2 --redis-down 30
    .venv/bin/python bench/drill_signups.py --only 1 --signups 2000 --connections 32

Every drill runs the whole production process set: each entry of the `Procfile` (web, worker,
beat, and any entry added later, such as an outbox relay), started with
`bash -c "exec <command>"` and the drill's environment (production-like `bench_env`, DEBUG off,
rate limits raised because all the load comes from one address, `EMAIL_URL` pointing at an SMTP
sink, a shorter `OUTBOX_SWEEP_SECONDS`). Nothing touches the machine's shared PostgreSQL or
Redis: the drills run on a private PostgreSQL 15 cluster (initdb in a temporary directory,
removed at the end; database `halftime_drill`, migrated) and a private redis-server (cache in
database 0, Celery broker in database 1). The SMTP sink (aiosmtpd) runs in a process of its own
and records the recipient, Message-ID and arrival time of every message.

1. load: `--signups` (20,000) signups from `--connections` (64) concurrent connections.
   Goals: 0 server errors, every accepted (2xx) signup stored, every confirmation delivered
   exactly once.
2. redis: load from `--connections` connections; after `--before` seconds the private Redis is
   stopped for `--redis-down` (30) seconds (it comes back empty: no persistence, so queued tasks
   are lost too) and the load goes on `--after` seconds more. Goals: signups keep succeeding,
   none is lost, their confirmations arrive (once) after Redis returns.
3. database: the same, but the private PostgreSQL is stopped (fast shutdown) for `--pg-down`
   seconds and started again. Goals: requests in the gap get a 503 page, never a 500; the service
   answers 2xx again within 5 s of the database accepting connections; no accepted signup lost.

The load generator is Python threads with http.client, one new connection per request (gunicorn's
sync workers close it anyway), so every request is recorded: its unique address
(`<drill>-<token>-<n>@example.com`), status, start and end. Afterwards the drill checks the
database (a subscriber row, a consent record and an outbox row for every accepted address) and
waits up to `--delivery-timeout` seconds after the load for every confirmation to reach the sink,
then `--settle` seconds more to catch late duplicates.

Prints one markdown table row per drill and `goal: ... MET|NOT MET` lines; writes
bench/results/drill_signups.json; the processes' logs are bench/results/drill-<drill>-<name>.log.
Exit status 0 when the drills ran (goals met or not), 1 when they could not run.
"""

import argparse
import asyncio
import contextlib
import datetime as dt
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
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
    fail,
    free_port,
    goal,
    http_get,
    machine,
    manage,
    run_record,
    say,
    write_results,
)

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PROCFILE = ROOT / "Procfile"
DATABASE_NAME = "halftime_drill"
SIGNUP_PATH = "/api/waitlist/"
WAITLIST_TABLES = ("waitlist_subscriber", "waitlist_consentrecord", "waitlist_outboundemail")
MAIL_QUEUE = "mail"  # CELERY_TASK_ROUTES: confirmations and the outbox sweep
GOAL_RECOVERY_S = 5.0
SNAPSHOT_AFTER_S = 60  # the outbox state of confirmations still missing this long after the load
# Log lines that show a server error other than the 503 of a database outage (Django logs every
# 5xx response, 503 included, as ERROR "Service Unavailable").
SERVER_ERROR_LINES = r'Traceback|Internal Server Error|" 5(?!03)\d\d '
PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


# --- The SMTP sink, a process of its own ----------------------------------------------------------


def sink_main(port: int, record_path: str) -> None:
    """Serve SMTP on 127.0.0.1:port until SIGTERM; append one line per recipient of every message
    to `record_path`: `<time.time()>\\t<recipient>\\t<Message-ID>`."""
    import logging

    from aiosmtpd.smtp import SMTP

    logging.disable(logging.WARNING)
    record = open(record_path, "a", buffering=1)  # noqa: SIM115 (open for the process's life)

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            now = time.time()
            content = envelope.content
            header_end = content.find(b"\r\n\r\n")
            start = content.find(b"\nMessage-ID: ", 0, header_end)
            message_id = ""
            if start >= 0:
                start += len(b"\nMessage-ID: ")
                message_id = content[start : content.find(b"\r\n", start)].decode("latin-1")
            for recipient in envelope.rcpt_tos:
                record.write(f"{now:.6f}\t{recipient.lower()}\t{message_id}\n")
            return "250 Message accepted"

    handler = Handler()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def session() -> SMTP:
        return SMTP(handler, hostname="sink.drill", ident="drill sink", loop=loop)

    server = loop.run_until_complete(loop.create_server(session, "127.0.0.1", port, backlog=256))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    loop.run_forever()
    server.close()
    record.close()


@dataclass
class Arrival:
    at: float
    recipient: str
    message_id: str


class Sink:
    """The drill's side of the sink process: starts it, and reads what it recorded."""

    def __init__(self, processes: Processes, folder: Path) -> None:
        self.processes = processes
        self.port = free_port()
        self.record_path = folder / "sink-arrivals.tsv"
        self.record_path.touch()
        self.log_path = RESULTS / "drill-sink.log"
        self._offset = 0
        self._arrivals: list[Arrival] = []
        self._lock = threading.Lock()
        self.process: subprocess.Popen | None = None

    def start(self) -> "Sink":
        RESULTS.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = self.processes.start(
                [PYTHON, __file__, "_sink", str(self.port), str(self.record_path)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"the SMTP sink exited:\n{self.log_path.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise BenchError("the SMTP sink did not start listening within 20 s")

    def stop(self) -> None:
        if self.process is not None:
            self.processes.stop(self.process)

    def arrivals(self, prefix: str) -> list[Arrival]:
        """Every message recorded so far whose recipient starts with `prefix`."""
        with self._lock:
            with self.record_path.open("rb") as record:
                record.seek(self._offset)
                chunk = record.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._offset += len(complete)
            for line in complete.decode(errors="replace").splitlines():
                at, recipient, message_id = line.split("\t", 2)
                self._arrivals.append(Arrival(float(at), recipient, message_id))
            return [a for a in self._arrivals if a.recipient.startswith(prefix)]


# --- Private PostgreSQL and Redis ---------------------------------------------------------------


class PrivateCluster:
    """A PostgreSQL 15 cluster of the drill's own in a temporary directory, run as the postgres
    user (we are root), listening on 127.0.0.1:<port> only. Removed by `remove()`."""

    def __init__(self, processes: Processes) -> None:
        self.processes = processes
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="drill-pg-"))
        self.data = self.folder / "data"
        self.log_path = self.folder / "postgres.log"
        self.initialized = False

    def url(self, database: str = DATABASE_NAME) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _pg(self, *args: str, timeout: float = 120) -> str:
        result = self.processes.run(
            ["runuser", "-u", "postgres", "--", *args], timeout=timeout, cwd=self.folder
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace").strip()
            raise BenchError(f"{Path(args[0]).name} {args[1:3]} failed:\n{output}")
        return result.stdout.decode(errors="replace")

    def init(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise BenchError(f"PostgreSQL 15 binaries are missing ({PG_BIN}/initdb)")
        shutil.chown(self.folder, "postgres", "postgres")
        os.chmod(self.folder, 0o700)
        self._pg(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "--encoding", "UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        self.initialized = True

    def start(self, *, wait: bool = True) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._pg(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path),
            "-o", options, "-t", "60", "start", "-w" if wait else "-W",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._pg(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def accepts(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def wait_accepting(self, timeout: float = 60, interval: float = 0.05) -> float:
        """Poll until a connection succeeds; return that instant (time.time())."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.accepts():
                return time.time()
            time.sleep(interval)
        raise BenchError(f"PostgreSQL did not accept connections within {timeout:.0f} s")

    def remove(self) -> None:
        try:
            if self.initialized and self.running():
                self.stop("immediate")
        except BenchError as exc:
            print(f"warning: could not stop the private PostgreSQL: {exc}", file=sys.stderr)
        finally:
            if self.log_path.exists():
                RESULTS.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.log_path, RESULTS / "drill-postgres.log")
            shutil.rmtree(self.folder, ignore_errors=True)


class PrivateRedis:
    """A redis-server of the drill's own (no persistence: a restart comes back empty), that a
    drill may stop and start again on the same port."""

    def __init__(self, processes: Processes) -> None:
        self.processes = processes
        self.port = free_port()
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process: subprocess.Popen | None = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.process = self.processes.start(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_until(self.is_up, 10, "the private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.processes.stop(self.process)
            self.process = None
        wait_until(lambda: not self.is_up(), 10, "the private redis-server did not stop")

    def client(self, db: int = 0):
        import redis

        return redis.Redis.from_url(self.url(db), socket_connect_timeout=0.5, socket_timeout=2)

    def is_up(self) -> bool:
        import redis

        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False


def wait_until(predicate: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise BenchError(message)


# --- The Procfile's process set -------------------------------------------------------------------


def read_procfile(path: Path = PROCFILE) -> list[tuple[str, str]]:
    """(name, command) for every entry, in file order."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        match = PROCFILE_LINE.match(text)
        if not match:
            raise BenchError(f"{path.name}:{number}: not a `name: command` line: {text}")
        entries.append((match.group(1), match.group(2)))
    if not any(name == "web" for name, _ in entries):
        raise BenchError(f"{path.name} has no `web` entry")
    return entries


@dataclass
class AppProcess:
    name: str
    command: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class ProcessSet:
    """Every Procfile entry, started with `bash -c "exec <command>"`, each in a session of its own
    and stopped by its pid (then any child left in its process group, e.g. a pool child).

    Once all are up, a supervisor thread restarts any that exits, as production's process
    manager does (systemd `Restart=always`, a platform's dynos); every restart is recorded and
    reported in the drill's notes."""

    def __init__(self, processes: Processes, env: dict[str, str], label: str) -> None:
        self.processes = processes
        self.env = env
        self.label = label
        self.members: list[AppProcess] = []
        self.restarts: list[str] = []
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    def supervise(self) -> None:
        self._supervisor = threading.Thread(target=self._restart_exited, daemon=True)
        self._supervisor.start()

    def _restart_exited(self) -> None:
        started = time.monotonic()
        while not self._stopping.wait(0.5):
            for index, member in enumerate(self.members):
                code = member.process.poll()
                if code is None or self._stopping.is_set():
                    continue
                last = [line for line in member.log().splitlines() if "Error" in line][-1:]
                self.restarts.append(
                    f"{member.name} exited {code} at {time.monotonic() - started:.0f} s"
                    + (f" ({last[0].strip()[:160]})" if last else "")
                    + ", restarted"
                )
                say(f"supervisor: {self.restarts[-1]}")
                with member.log_path.open("ab") as log:
                    process = self.processes.start(
                        ["bash", "-c", f"exec {member.command}"], cwd=ROOT, env=self.env,
                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    )  # fmt: skip
                self.members[index] = AppProcess(
                    member.name, member.command, process, member.log_path
                )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    def start(self) -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        for name, command in read_procfile():
            log_path = RESULTS / f"drill-{self.label}-{name}.log"
            with log_path.open("wb") as log:
                process = self.processes.start(
                    ["bash", "-c", f"exec {command}"], cwd=ROOT, env=self.env, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            self.members.append(AppProcess(name, command, process, log_path))

    def wait_ready(self, timeout: float = 90) -> None:
        """web answers /healthz, every Celery worker logged `ready.`, and nothing has exited."""
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        while time.monotonic() < deadline:
            if dead := self.exited():
                raise BenchError(f"{dead[0].name} exited at start:\n{tail(dead[0].log())}")
            workers = [m for m in self.members if is_celery_worker(m.command)]
            if (
                self._web_ok()
                and all("ready." in w.log() for w in workers)
                and time.monotonic() - started > 3  # the others had a moment to fail
            ):
                return
            time.sleep(0.2)
        names = ", ".join(m.name for m in self.members)
        raise BenchError(f"the process set ({names}) was not ready within {timeout:.0f} s")

    def _web_ok(self) -> bool:
        try:
            return http_get(self.base_url + "/healthz", timeout=2).status == 200
        except OSError:
            return False

    def exited(self) -> list[AppProcess]:
        return [m for m in self.members if m.process.poll() is not None]

    def stop(self) -> None:
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(5)
        for member in reversed(self.members):
            pgid = member.process.pid  # start_new_session: the group is the member's own
            self.processes.stop(member.process, grace=30)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)  # a pool child left behind, if any
        self.members.clear()


def is_celery_worker(command: str) -> bool:
    return "celery" in command and " worker" in command


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.splitlines()[-lines:])


def log_lines(path: Path, pattern: str, limit: int = 8) -> list[str]:
    """Up to `limit` lines of a log matching `pattern` (a regex), for the evidence."""
    if not path.exists():
        return []
    regex = re.compile(pattern)
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if regex.search(line):
            found.append(line[:300])
            if len(found) >= limit:
                break
    return found


def count_log_lines(path: Path, pattern: str) -> int:
    if not path.exists():
        return 0
    regex = re.compile(pattern)
    return sum(1 for line in path.read_text(errors="replace").splitlines() if regex.search(line))


# --- The load generator -----------------------------------------------------------------------


@dataclass(slots=True)
class Attempt:
    email: str
    start: float
    end: float
    status: int  # 0: no answer (refused, reset, timed out)
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class LoadGenerator:
    """`connections` threads, each posting one signup at a time with a new address, until
    `limit` signups were started or `stop()`. Every request is recorded as an Attempt."""

    def __init__(
        self, base_url: str, prefix: str, connections: int, *, limit: int | None, timeout: float
    ) -> None:
        host_port = base_url.removeprefix("http://")
        self.host, _, port = host_port.partition(":")
        self.port = int(port)
        self.prefix = prefix
        self.connections = connections
        self.limit = limit
        self.timeout = timeout
        self.attempts: list[Attempt] = []
        self.samples: dict[int, dict] = {}  # the first answer of each status outside 2xx
        self._next = 0
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._threads: list[threading.Thread] = []
        self.started_at = self.ended_at = 0.0

    def start(self) -> "LoadGenerator":
        self.started_at = time.time()
        for number in range(self.connections):
            thread = threading.Thread(target=self._run, name=f"load-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._halt.set()

    def wait(self) -> None:
        for thread in self._threads:
            thread.join()
        self.ended_at = time.time()

    def _take(self) -> int | None:
        with self._lock:
            if self.limit is not None and self._next >= self.limit:
                return None
            self._next += 1
            return self._next - 1

    def _run(self) -> None:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Connection": "close",
            "User-Agent": "drill_signups",
        }
        while not self._halt.is_set():
            number = self._take()
            if number is None:
                return
            email = f"{self.prefix}-{number}@example.com"
            body = json.dumps({"email": email}).encode()
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            start = time.time()
            error, data, response_headers = "", b"", {}
            try:
                connection.request("POST", SIGNUP_PATH, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                status = response.status
                response_headers = dict(response.getheaders())
            except (OSError, http.client.HTTPException) as exc:
                status, error = 0, type(exc).__name__
            finally:
                connection.close()
            attempt = Attempt(email, start, time.time(), status, error)
            self.attempts.append(attempt)
            if not attempt.ok and status not in self.samples:
                self.samples[status] = {
                    "at": attempt.end,
                    "error": error,
                    "content_type": response_headers.get("Content-Type", ""),
                    "retry_after": response_headers.get("Retry-After", ""),
                    "request_id": response_headers.get("X-Request-ID", ""),
                    "body": data[:400].decode(errors="replace"),
                }
            if status == 0:
                time.sleep(0.1)  # no server: do not spin


def run_load(generator: LoadGenerator, timeline: Callable[[], None] | None = None) -> None:
    """Run the load; with a `timeline`, run it (faults, sleeps) meanwhile and then stop the load,
    without one, until the generator's limit. The load is stopped whatever happens."""
    generator.start()
    try:
        if timeline is not None:
            timeline()
    finally:
        if timeline is not None:
            generator.stop()
        generator.wait()


class QueueSampler(threading.Thread):
    """The length of the broker's `mail` queue once a second (None while Redis is down)."""

    def __init__(self, redis: PrivateRedis) -> None:
        super().__init__(daemon=True)
        self.redis = redis
        self.samples: list[tuple[float, int | None]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        import redis

        while not self._halt.wait(1.0):
            try:
                length = self.redis.client(1).llen(MAIL_QUEUE)
            except redis.RedisError:
                length = None
            self.samples.append((time.time(), length))

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def peak(self) -> int:
        return max((n for _, n in self.samples if n is not None), default=0)


# --- The database -----------------------------------------------------------------------------


def db_rows(database_url: str, query: str, params: list | None = None) -> list[tuple]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        return conn.execute(query, params or []).fetchall()


def empty_waitlist(database_url: str) -> None:
    """Empty the waitlist tables between drills. Ids keep counting, so no Message-ID
    (`<confirmation.<outbox id>@…>`) is ever reused within a run."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"TRUNCATE {', '.join(WAITLIST_TABLES)} CASCADE")


@dataclass
class StoredRow:
    consents: int
    outbox: int
    statuses: list[str]


def stored_rows(database_url: str, prefix: str) -> dict[str, StoredRow]:
    """Per address of this drill: its consent records, outbox rows and their statuses."""
    rows = db_rows(
        database_url,
        """
        SELECT lower(s.email),
               (SELECT count(*) FROM waitlist_consentrecord c WHERE c.subscriber_id = s.id),
               (SELECT count(*) FROM waitlist_outboundemail o WHERE o.subscriber_id = s.id),
               (SELECT coalesce(array_agg(o.status), '{}') FROM waitlist_outboundemail o
                 WHERE o.subscriber_id = s.id)
        FROM waitlist_subscriber s
        WHERE lower(s.email) LIKE %s
        """,
        [prefix + "-%"],
    )
    return {email: StoredRow(consents, outbox, list(st)) for email, consents, outbox, st in rows}


# --- Checking a drill -----------------------------------------------------------------------------


def server_errors(statuses: Counter) -> int:
    """Answers 5xx other than 503."""
    return sum(n for status, n in statuses.items() if 500 <= status < 600 and status != 503)


@dataclass
class Outcome:
    """What one drill sent, what was stored, what was delivered, lost or duplicated."""

    sent: int
    accepted: set[str]
    statuses: Counter
    connection_errors: Counter
    stored: set[str]
    lost: list[str]
    incomplete: list[str]  # a subscriber without its consent record or outbox row
    unmarked: list[str]  # delivered, but the outbox row is not `sent`: the lease will resend it
    stored_not_accepted: int
    first_arrival: dict[str, float]
    message_counts: Counter
    duplicated: dict[str, list[str]]
    undelivered: list[str]
    outbox_statuses: Counter
    delivery_wait_s: float
    details: dict = field(default_factory=dict)

    @property
    def server_errors(self) -> int:
        """Answers 5xx other than 503."""
        return server_errors(self.statuses)

    @property
    def answers_503(self) -> int:
        return self.statuses.get(503, 0)

    @property
    def failed_connections(self) -> int:
        return sum(self.connection_errors.values())


def check_outcome(
    database_url: str, sink: Sink, prefix: str, attempts: list[Attempt], args: argparse.Namespace
) -> Outcome:
    """Wait (up to --delivery-timeout after the call) until every accepted address has its
    confirmation, then --settle seconds more for late duplicates; compare with the database."""
    accepted = {a.email for a in attempts if a.ok}
    waited_from = time.time()
    deadline = waited_from + args.delivery_timeout
    snapshot: dict = {}
    while True:
        arrived = {a.recipient for a in sink.arrivals(prefix)}
        if accepted <= arrived or time.time() >= deadline:
            break
        if not snapshot and time.time() - waited_from >= SNAPSHOT_AFTER_S:
            snapshot = undelivered_snapshot(database_url, prefix, accepted - arrived)
        time.sleep(1.0)
    delivery_wait = time.time() - waited_from
    time.sleep(args.settle)
    arrivals = sink.arrivals(prefix)
    first_arrival: dict[str, float] = {}
    ids: dict[str, list[str]] = {}
    for arrival in sorted(arrivals, key=lambda a: a.at):
        first_arrival.setdefault(arrival.recipient, arrival.at)
        ids.setdefault(arrival.recipient, []).append(arrival.message_id)
    counts = Counter({recipient: len(message_ids) for recipient, message_ids in ids.items()})
    rows = stored_rows(database_url, prefix)
    complete = {email for email, row in rows.items() if row.consents >= 1 and row.outbox >= 1}
    outbox_statuses = Counter(status for row in rows.values() for status in row.statuses)
    return Outcome(
        sent=len(attempts),
        accepted=accepted,
        statuses=Counter(a.status for a in attempts if a.status),
        connection_errors=Counter(a.error for a in attempts if not a.status),
        stored=accepted & complete,
        lost=sorted(accepted - set(rows)),
        incomplete=sorted((accepted & set(rows)) - complete),
        unmarked=sorted(
            email
            for email in first_arrival
            if email in rows and {"queued", "sending"} & set(rows[email].statuses)
        ),
        stored_not_accepted=len(set(rows) - accepted),
        first_arrival=first_arrival,
        message_counts=counts,
        duplicated={r: ids[r] for r, n in counts.items() if n > 1},
        undelivered=sorted(accepted - set(first_arrival)),
        outbox_statuses=outbox_statuses,
        delivery_wait_s=delivery_wait,
        details={"undelivered_after_60s": snapshot} if snapshot else {},
    )


def undelivered_snapshot(database_url: str, prefix: str, missing: set[str]) -> dict:
    """Where the confirmations still missing a while after the load stand in the outbox."""
    rows = stored_rows(database_url, prefix)
    none = StoredRow(0, 0, [])
    statuses = Counter(s for email in missing for s in rows.get(email, none).statuses)
    return {
        "missing": len(missing),
        "outbox_statuses": dict(statuses),
        "examples": undelivered_detail(database_url, sorted(missing)),
    }


def undelivered_detail(database_url: str, emails: list[str], limit: int = 5) -> list[dict]:
    """The outbox rows of some addresses: status, attempts, claimed at, last error."""
    if not emails:
        return []
    rows = db_rows(
        database_url,
        """
        SELECT lower(s.email), o.id, o.status, o.attempts, o.created_at, o.claimed_at, o.answer
        FROM waitlist_subscriber s JOIN waitlist_outboundemail o ON o.subscriber_id = s.id
        WHERE lower(s.email) = ANY(%s) ORDER BY o.id LIMIT %s
        """,
        [emails[:limit], limit],
    )
    keys = ("email", "outbox_id", "status", "attempts", "created_at", "claimed_at", "answer")
    return [dict(zip(keys, map(jsonable, row), strict=True)) for row in rows]


def jsonable(value):
    return value.isoformat() if isinstance(value, dt.datetime) else value


def latency_summary(attempts: list[Attempt]) -> dict:
    ok = sorted(a.end - a.start for a in attempts if a.ok)
    if not ok:
        return {}

    def pct(share: float) -> float:
        return round(ok[min(len(ok) - 1, int(share * len(ok)))] * 1000, 1)

    return {"p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": round(ok[-1] * 1000, 1)}


def notes_suffix(outcome: Outcome, details: dict) -> str:
    """What every drill's notes add when it happened: a process that exited, rows delivered but
    not marked sent (a duplicate once the lease expires), duplicates, missing confirmations."""
    parts = []
    if details["processes_exited_during_drill"]:
        exited = details["processes_exited_during_drill"]
        parts.append("EXITED during the drill: " + "; ".join(exited))
    if outcome.unmarked:
        parts.append(
            f"{len(outcome.unmarked)} delivered but their outbox row not marked sent "
            "(sent again once the lease expires)"
        )
    if outcome.undelivered:
        statuses = ", ".join(f"{k} {v}" for k, v in details["outbox_statuses"].items())
        parts.append(
            f"{len(outcome.undelivered)} confirmations missing after "
            f"{details['delivery_wait_seconds']:g} s (outbox: {statuses})"
        )
    return "; " + "; ".join(parts) if parts else ""


def base_row(number: int, title: str, outcome: Outcome) -> dict:
    return {
        "drill": f"{number}. {title}",
        "sent": outcome.sent,
        "accepted": len(outcome.accepted),
        "stored": len(outcome.stored),
        "delivered": len(outcome.accepted & set(outcome.first_arrival)),
        "lost": len(outcome.lost) + len(outcome.incomplete),
        "duplicated": len(outcome.duplicated),
        "server_errors": outcome.server_errors,
    }


def common_details(
    database_url: str, outcome: Outcome, generator: LoadGenerator, app_exited: list[str]
) -> dict:
    load_s = generator.ended_at - generator.started_at
    arrivals = sorted(outcome.first_arrival.values())
    same_id = sum(1 for ids in outcome.duplicated.values() if len(set(ids)) == 1)
    return {
        "statuses": {str(k): v for k, v in sorted(outcome.statuses.items())},
        "connection_errors": dict(outcome.connection_errors),
        "answers_503": outcome.answers_503,
        "load_seconds": round(load_s, 2),
        "requests_per_second": round(outcome.sent / load_s, 1) if load_s else None,
        "latency_2xx": latency_summary(generator.attempts),
        "lost_examples": outcome.lost[:5],
        "incomplete_examples": outcome.incomplete[:5],
        "stored_but_not_accepted": outcome.stored_not_accepted,
        "undelivered": len(outcome.undelivered),
        "undelivered_examples": outcome.undelivered[:5],
        "duplicated_examples": dict(list(outcome.duplicated.items())[:5]),
        "duplicates_with_same_message_id": same_id,
        "delivered_but_not_marked_sent": len(outcome.unmarked),
        "delivered_but_not_marked_sent_rows": undelivered_detail(database_url, outcome.unmarked),
        "messages_at_sink": sum(outcome.message_counts.values()),
        "outbox_statuses": dict(outcome.outbox_statuses),
        "delivery_wait_seconds": round(outcome.delivery_wait_s, 1),
        "last_confirmation_after_load_end_s": (
            round(arrivals[-1] - generator.ended_at, 1) if arrivals else None
        ),
        "non_2xx_samples": {str(k): v for k, v in generator.samples.items()},
        "processes_exited_during_drill": app_exited,
        **outcome.details,
    }


# --- The drills ----------------------------------------------------------------------------------


@dataclass
class Drill:
    """What every drill needs: the private servers, the sink, the options."""

    args: argparse.Namespace
    processes: Processes
    cluster: PrivateCluster
    redis: PrivateRedis
    sink: Sink
    var_dir: Path

    @property
    def database_url(self) -> str:
        return self.cluster.url()

    def env(self) -> dict[str, str]:
        return bench_env(
            database_url=self.database_url,
            redis_url=self.redis.url(0),
            CELERY_BROKER_URL=self.redis.url(1),
            # All the load comes from one address, and each address is new.
            WAITLIST_IP_LIMIT="100000000",
            WAITLIST_EMAIL_LIMIT="100000000",
            EMAIL_URL=f"smtp://127.0.0.1:{self.sink.port}",
            OUTBOX_SWEEP_SECONDS=str(self.args.sweep_seconds),
            # The Procfile's own variables.
            PORT=str(free_port()),
            BIND="127.0.0.1",
            WEB_CONCURRENCY=str(self.args.web_concurrency),
            CELERY_CONCURRENCY=str(self.args.celery_concurrency),
            VAR_DIR=str(self.var_dir),
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            # gunicorn's control socket is one per user by default: another gunicorn on this
            # machine (a benchmark, a helper) would clash with ours. The Procfile line is intact.
            GUNICORN_CMD_ARGS="--no-control-socket",
        )

    def reset(self) -> None:
        """Empty waitlist tables and an empty Redis (cache and broker) before each drill."""
        empty_waitlist(self.database_url)
        if not self.redis.is_up():
            self.redis.start()
        self.redis.client(0).flushall()

    def generator(self, app: ProcessSet, prefix: str, limit: int | None) -> LoadGenerator:
        return LoadGenerator(
            app.base_url, prefix, self.args.connections, limit=limit,
            timeout=self.args.request_timeout,
        )  # fmt: skip

    def run(self, label: str, body: Callable[[ProcessSet, str], dict]) -> dict:
        """Start the process set, run `body(app, prefix)`, stop the set whatever happens."""
        self.reset()
        prefix = f"{label}-{secrets.token_hex(3)}"
        app = ProcessSet(self.processes, self.env(), label)
        try:
            app.start()
            app.wait_ready()
            app.supervise()
            say(
                f"{label}: {', '.join(m.name for m in app.members)} up "
                f"(web {app.base_url}, WEB_CONCURRENCY={self.args.web_concurrency}, "
                f"CELERY_CONCURRENCY={self.args.celery_concurrency})"
            )
            return body(app, prefix)
        finally:
            app.stop()


def exited_names(app: ProcessSet) -> list[str]:
    return app.restarts + [f"{m.name} (exit {m.process.returncode})" for m in app.exited()]


def drill_load(drill: Drill) -> tuple[dict, list[dict]]:
    args = drill.args

    def body(app: ProcessSet, prefix: str) -> dict:
        say(f"load: {args.signups} signups from {args.connections} connections")
        generator = drill.generator(app, prefix, args.signups)
        sampler = QueueSampler(drill.redis)
        sampler.start()
        run_load(generator)
        say(
            f"load: {len(generator.attempts)} sent in "
            f"{generator.ended_at - generator.started_at:.1f} s; waiting up to "
            f"{args.delivery_timeout:.0f} s for the confirmations"
        )
        outcome = check_outcome(drill.database_url, drill.sink, prefix, generator.attempts, args)
        sampler.stop()
        details = common_details(drill.database_url, outcome, generator, exited_names(app))
        details["mail_queue_peak"] = sampler.peak()
        details["undelivered_rows"] = undelivered_detail(drill.database_url, outcome.undelivered)
        details["web_errors_in_log"] = log_lines(RESULTS / "drill-load-web.log", SERVER_ERROR_LINES)
        return {"outcome": outcome, "details": details}

    result = drill.run("load", body)
    outcome, details = result["outcome"], result["details"]
    row = base_row(1, "load", outcome)
    last = details["last_confirmation_after_load_end_s"]
    row["notes"] = (
        f"{details['requests_per_second']} req/s, p99 {details['latency_2xx'].get('p99_ms')} ms; "
        f"{outcome.answers_503} × 503, {outcome.failed_connections} connection errors; "
        f"last confirmation {last} s after the load ended; mail queue peak "
        f"{details['mail_queue_peak']}"
    )
    row["notes"] += notes_suffix(outcome, details)
    row["details"] = details
    delivered_once = not outcome.undelivered and not outcome.duplicated
    goals = [
        goal(
            "drill 1: 0 server errors (any 5xx) and 0 failed requests",
            f"{sum(n for s, n in outcome.statuses.items() if s >= 500)} 5xx, "
            f"{outcome.failed_connections} connection errors",
            sum(n for s, n in outcome.statuses.items() if s >= 500) == 0
            and outcome.failed_connections == 0,
        ),
        goal(
            "drill 1: every accepted signup stored (subscriber, consent, outbox row)",
            f"{row['accepted']} accepted, {row['stored']} stored, {row['lost']} lost",
            row["lost"] == 0 and row["stored"] == row["accepted"],
        ),
        goal(
            "drill 1: every confirmation delivered exactly once",
            f"{row['delivered']} delivered, {len(outcome.undelivered)} missing, "
            f"{row['duplicated']} duplicated, {len(outcome.unmarked)} delivered but not marked "
            "sent",
            delivered_once,
        ),
    ]
    return row, goals


def drill_redis(drill: Drill) -> tuple[dict, list[dict]]:
    args = drill.args
    marks: dict[str, float] = {}

    def timeline() -> None:
        time.sleep(args.before)
        marks["stop"] = time.time()
        say(f"redis: stopping the private Redis for {args.redis_down:g} s")
        drill.redis.stop()
        marks["down"] = time.time()
        time.sleep(max(0.0, marks["stop"] + args.redis_down - time.time()))
        drill.redis.start()
        marks["up"] = time.time()
        say(f"redis: back after {marks['up'] - marks['stop']:.1f} s; {args.after:g} s more load")
        time.sleep(args.after)

    def body(app: ProcessSet, prefix: str) -> dict:
        say(f"redis: load from {args.connections} connections")
        generator = drill.generator(app, prefix, None)
        sampler = QueueSampler(drill.redis)
        sampler.start()
        run_load(generator, timeline)
        say(
            f"redis: {len(generator.attempts)} sent; waiting up to {args.delivery_timeout:.0f} s "
            "for the confirmations"
        )
        outcome = check_outcome(drill.database_url, drill.sink, prefix, generator.attempts, args)
        sampler.stop()
        details = common_details(drill.database_url, outcome, generator, exited_names(app))
        details["mail_queue_peak"] = sampler.peak()
        details["undelivered_rows"] = undelivered_detail(drill.database_url, outcome.undelivered)
        details.update(outage_figures(generator.attempts, outcome, marks))
        details["logs"] = {
            "web_errors": log_lines(RESULTS / "drill-redis-web.log", SERVER_ERROR_LINES),
            "web_enqueue_warning_lines": count_log_lines(
                RESULTS / "drill-redis-web.log", "could not enqueue"
            ),
            "worker_errors": log_lines(RESULTS / "drill-redis-worker.log", r"ERROR|CRITICAL"),
            "beat_errors": log_lines(RESULTS / "drill-redis-beat.log", r"ERROR|CRITICAL"),
        }
        return {"outcome": outcome, "details": details}

    result = drill.run("redis", body)
    outcome, details = result["outcome"], result["details"]
    row = base_row(2, f"Redis down {args.redis_down:g} s", outcome)
    during = details["while_down"]
    row["notes"] = (
        f"Redis down {details['outage_seconds']} s; {during['sent']} signups started while it "
        f"was down, {during['accepted']} accepted (p50 "
        f"{during['latency_2xx'].get('p50_ms')} ms, max {during['latency_2xx'].get('max_ms')} ms);"
        f" answers/s {details['answers_per_second_before']} before, "
        f"{details['answers_per_second_while_down']} while down; {arrived_text(during)}; "
        f"{outcome.answers_503} × 503, {outcome.failed_connections} connection errors"
    )
    row["notes"] += notes_suffix(outcome, details)
    row["details"] = details
    non_2xx = sum(n for s, n in outcome.statuses.items() if not 200 <= s < 300)
    goals = [
        goal(
            "drill 2: signups keep succeeding while Redis is down",
            f"{during['accepted']} of {during['sent']} started during the outage answered 2xx; "
            f"{during['answered_2xx_before_redis_returned']} answered 2xx while Redis was down; "
            f"{non_2xx} non-2xx and {outcome.failed_connections} failed in the whole drill",
            during["sent"] > 0
            and during["accepted"] == during["sent"]
            and during["answered_2xx_before_redis_returned"] > 0
            and non_2xx == 0
            and outcome.failed_connections == 0,
        ),
        goal(
            "drill 2: every accepted signup stored",
            f"{row['accepted']} accepted, {row['stored']} stored, {row['lost']} lost",
            row["lost"] == 0 and row["stored"] == row["accepted"],
        ),
        goal(
            "drill 2: confirmations of signups made while Redis was down delivered after it "
            "returns, exactly once (and all others too)",
            f"{during['delivered']} of {during['accepted']} (last "
            f"{fmt_s(during['last_confirmation_after_up_s'])} after Redis returned); all: "
            f"{len(outcome.undelivered)} missing, {row['duplicated']} duplicated",
            during["delivered"] == during["accepted"]
            and not outcome.undelivered
            and not outcome.duplicated,
        ),
    ]
    return row, goals


def arrived_text(during: dict) -> str:
    if not during["delivered"]:
        return "none of their confirmations arrived"
    return (
        f"{during['delivered']} of their confirmations arrived "
        f"{during['first_confirmation_after_up_s']}–{during['last_confirmation_after_up_s']} s "
        "after it returned"
    )


def outage_figures(attempts: list[Attempt], outcome: Outcome, marks: dict[str, float]) -> dict:
    """Signups made while Redis was down (started after the stop began, before it was back):
    their answers, and when their confirmations arrived relative to Redis's return. Also how
    many answers came while it was down, against the rate before the stop."""
    stop, up = marks["stop"], marks["up"]
    during = [a for a in attempts if stop <= a.start < up]
    accepted = [a.email for a in during if a.ok]
    answered_while_down = [a for a in attempts if stop <= a.end < up]
    before = [a for a in attempts if a.end < stop]
    first_start = min((a.start for a in attempts), default=stop)
    after_up = sorted(outcome.first_arrival[e] - up for e in accepted if e in outcome.first_arrival)
    return {
        "outage_seconds": round(up - stop, 1),
        "redis_stopped_at": stop,
        "redis_back_at": up,
        "answers_per_second_before": round(len(before) / max(stop - first_start, 1e-9), 1),
        "answers_per_second_while_down": round(len(answered_while_down) / max(up - stop, 1e-9), 1),
        "while_down": {
            "sent": len(during),
            "accepted": len(accepted),
            "answered_before_redis_returned": len(answered_while_down),
            "answered_2xx_before_redis_returned": sum(1 for a in answered_while_down if a.ok),
            "statuses": dict(Counter(str(a.status) for a in during)),
            "latency_2xx": latency_summary(during),
            "delivered": len(after_up),
            "delivered_before_redis_returned": sum(1 for x in after_up if x < 0),
            "first_confirmation_after_up_s": round(after_up[0], 1) if after_up else None,
            "median_confirmation_after_up_s": (
                round(statistics.median(after_up), 1) if after_up else None
            ),
            "last_confirmation_after_up_s": round(after_up[-1], 1) if after_up else None,
        },
    }


def drill_database(drill: Drill) -> tuple[dict, list[dict]]:
    args = drill.args
    marks: dict[str, float] = {}

    def timeline() -> None:
        time.sleep(args.before)
        marks["stop"] = time.time()
        say(f"database: stopping the private PostgreSQL (fast) for {args.pg_down:g} s")
        drill.cluster.stop("fast")
        marks["stopped"] = time.time()
        time.sleep(max(0.0, marks["stop"] + args.pg_down - time.time()))
        marks["start"] = time.time()
        drill.cluster.start(wait=False)
        marks["accepting"] = drill.cluster.wait_accepting()
        say(
            f"database: accepting connections {marks['accepting'] - marks['stop']:.1f} s after "
            f"the stop began; load for {args.after:g} s more"
        )
        time.sleep(args.after)

    def body(app: ProcessSet, prefix: str) -> dict:
        say(f"database: load from {args.connections} connections")
        generator = drill.generator(app, prefix, None)
        run_load(generator, timeline)
        say(
            f"database: {len(generator.attempts)} sent; waiting up to "
            f"{args.delivery_timeout:.0f} s for the confirmations"
        )
        outcome = check_outcome(drill.database_url, drill.sink, prefix, generator.attempts, args)
        details = common_details(drill.database_url, outcome, generator, exited_names(app))
        details["undelivered_rows"] = undelivered_detail(drill.database_url, outcome.undelivered)
        details.update(recovery_figures(generator.attempts, marks))
        details["logs"] = {
            "web_errors": log_lines(
                RESULTS / "drill-database-web.log", SERVER_ERROR_LINES, limit=12
            ),
            "web_503_lines": count_log_lines(RESULTS / "drill-database-web.log", r"\" 503 "),
            "worker_errors": log_lines(RESULTS / "drill-database-worker.log", r"ERROR|CRITICAL"),
            "beat_errors": log_lines(RESULTS / "drill-database-beat.log", r"ERROR|CRITICAL"),
        }
        return {"outcome": outcome, "details": details}

    result = drill.run("database", body)
    outcome, details = result["outcome"], result["details"]
    gap, recovery = details["gap"], details["recovery"]
    row = base_row(3, "PostgreSQL restart", outcome)
    row["notes"] = (
        f"database down {details['database_down_seconds']} s; in the gap: {gap['answers_503']} × "
        f"503, {gap['server_errors']} × 5xx other, {gap['answers_2xx']} × 2xx, "
        f"{gap['connection_errors']} connection errors; first 2xx "
        f"{recovery['first_2xx_after_accepting_s']} s after the database accepted connections; "
        f"{recovery['non_2xx_after_recovery']} failures after"
    )
    row["notes"] += notes_suffix(outcome, details)
    row["details"] = details
    recovery_s = recovery["first_2xx_after_accepting_s"]
    page_503 = details["non_2xx_samples"].get("503", {})
    goals = [
        goal(
            "drill 3: requests in the gap get a 503 page, never a 500",
            f"{gap['answers_503']} × 503 ({page_503.get('content_type', 'none')}, Retry-After "
            f"{page_503.get('retry_after') or 'none'}), {gap['server_errors']} × 5xx other "
            f"({outcome.server_errors} in the whole drill)",
            outcome.server_errors == 0 and gap["server_errors"] == 0,
        ),
        goal(
            f"drill 3: recovers within {GOAL_RECOVERY_S:g} s of the database accepting "
            "connections, and every later request succeeds",
            f"first 2xx after {recovery_s} s; {recovery['non_2xx_after_recovery']} non-2xx "
            f"after it (last failure after the database returned: "
            f"{fmt_s(recovery['last_failure_after_accepting_s'])})",
            recovery_s is not None
            and recovery_s <= GOAL_RECOVERY_S
            and recovery["non_2xx_after_recovery"] == 0,
        ),
        goal(
            "drill 3: no accepted signup lost",
            f"{row['accepted']} accepted, {row['stored']} stored, {row['lost']} lost",
            row["lost"] == 0 and row["stored"] == row["accepted"],
        ),
        goal(
            "drill 3: every confirmation delivered exactly once",
            f"{row['delivered']} delivered, {len(outcome.undelivered)} missing, "
            f"{row['duplicated']} duplicated, {len(outcome.unmarked)} delivered but not marked "
            "sent",
            not outcome.undelivered and not outcome.duplicated,
        ),
    ]
    return row, goals


def recovery_figures(attempts: list[Attempt], marks: dict[str, float]) -> dict:
    """The gap is from the moment the stop began to the moment the database accepted
    connections again; recovery is the first 2xx answer after that moment."""
    stop, accepting = marks["stop"], marks["accepting"]
    in_gap = [a for a in attempts if a.start < accepting and a.end > stop]
    statuses = Counter(a.status for a in in_gap)
    ok_after = sorted(a.end for a in attempts if a.ok and a.end >= accepting)
    first_ok = ok_after[0] if ok_after else None
    later = [a for a in attempts if first_ok is not None and a.start >= first_ok]
    failures_after = [a for a in attempts if not a.ok and a.end >= accepting]
    return {
        "database_down_seconds": round(accepting - stop, 1),
        "timeline_s": {
            "stop_began": 0.0,
            "stopped": round(marks["stopped"] - stop, 2),
            "start_issued": round(marks["start"] - stop, 2),
            "accepting": round(accepting - stop, 2),
        },
        "gap": {
            "requests": len(in_gap),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "answers_503": statuses.get(503, 0),
            "answers_500": statuses.get(500, 0),
            "server_errors": server_errors(statuses),
            "answers_2xx": sum(n for s, n in statuses.items() if 200 <= s < 300),
            "connection_errors": statuses.get(0, 0),
        },
        "recovery": {
            "first_2xx_after_accepting_s": (
                round(first_ok - accepting, 2) if first_ok is not None else None
            ),
            "requests_after_recovery": len(later),
            "non_2xx_after_recovery": sum(1 for a in later if not a.ok),
            "non_2xx_after_recovery_statuses": dict(
                Counter(str(a.status) for a in later if not a.ok)
            ),
            "last_failure_after_accepting_s": (
                round(max(a.end for a in failures_after) - accepting, 2) if failures_after else None
            ),
        },
    }


# --- Report ---------------------------------------------------------------------------------------


def fmt_s(seconds: float | None) -> str:
    return "none" if seconds is None else f"{seconds:g} s"


def report(rows: list[dict], goals: list[dict], settings: dict) -> None:
    print()
    print(
        "| drill | sent | accepted | stored | delivered | lost | duplicated "
        "| server errors (5xx other than 503) | notes |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        print(
            f"| {row['drill']} | {row['sent']} | {row['accepted']} | {row['stored']} "
            f"| {row['delivered']} | {row['lost']} | {row['duplicated']} "
            f"| {row['server_errors']} | {row['notes']} |"
        )
    print()
    print("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    print()
    for item in goals:
        verdict = "MET" if item["met"] else "NOT MET"
        print(f"goal: {item['goal']}: {item['measured']}  {verdict}")


DRILLS: dict[int, Callable[[Drill], tuple[dict, list[dict]]]] = {
    1: drill_load,
    2: drill_redis,
    3: drill_database,
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="1,2,3", help="drills to run, e.g. 1,3")
    parser.add_argument("--signups", type=int, default=20000, help="signups in drill 1")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections")
    parser.add_argument("--redis-down", type=float, default=30, help="seconds Redis is down")
    parser.add_argument("--pg-down", type=float, default=5, help="seconds PostgreSQL is down")
    parser.add_argument(
        "--before", type=float, default=5, help="seconds of load before a fault (drills 2, 3)"
    )
    parser.add_argument(
        "--after", type=float, default=15, help="seconds of load after a fault (drills 2, 3)"
    )
    parser.add_argument("--web-concurrency", type=int, default=4, help="WEB_CONCURRENCY")
    parser.add_argument("--celery-concurrency", type=int, default=2, help="CELERY_CONCURRENCY")
    parser.add_argument(
        "--sweep-seconds", type=float, default=5, help="OUTBOX_SWEEP_SECONDS (default 30 in prod)"
    )
    parser.add_argument(
        "--delivery-timeout",
        type=float,
        default=600,
        help="seconds to wait after the load for every confirmation",
    )
    parser.add_argument(
        "--settle", type=float, default=10, help="seconds to wait after that for duplicates"
    )
    parser.add_argument(
        "--request-timeout", type=float, default=60, help="client timeout per request"
    )
    args = parser.parse_args()
    try:
        args.drills = sorted({int(x) for x in args.only.split(",") if x.strip()})
    except ValueError:
        parser.error("--only takes drill numbers, e.g. 1,2,3")
    if not args.drills or any(d not in DRILLS for d in args.drills):
        parser.error("--only takes drill numbers among 1, 2, 3")
    if args.signups < 1 or args.connections < 1:
        parser.error("--signups and --connections must be at least 1")
    if min(args.redis_down, args.pg_down, args.before, args.after) < 0:
        parser.error("durations must not be negative")
    return args


def main() -> None:
    args = parse_args()
    # Ctrl-C and `kill` both end in the `finally` below, which stops every process we started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    processes = Processes()
    started = dt.datetime.now(dt.UTC)
    began = time.monotonic()
    machine_before = machine()
    var_dir = Path(tempfile.mkdtemp(prefix="drill-var-"))
    cluster = PrivateCluster(processes)
    redis = PrivateRedis(processes)
    sink = Sink(processes, var_dir)
    rows: list[dict] = []
    goals: list[dict] = []
    settings = {
        "WEB_CONCURRENCY": args.web_concurrency,
        "CELERY_CONCURRENCY": args.celery_concurrency,
        "OUTBOX_SWEEP_SECONDS": f"{args.sweep_seconds:g} (production default 30)",
        "connections": args.connections,
        "delivery timeout": f"{args.delivery_timeout:g} s after the load, then {args.settle:g} s",
    }
    try:
        settings["Procfile"] = ", ".join(name for name, _ in read_procfile())
        say(f"private PostgreSQL on 127.0.0.1:{cluster.port} ({cluster.folder})")
        cluster.init()
        cluster.start()
        say(f"private Redis on 127.0.0.1:{redis.port}; SMTP sink on 127.0.0.1:{sink.port}")
        redis.start()
        sink.start()
        ensure_database(cluster.url())
        drill = Drill(args, processes, cluster, redis, sink, var_dir)
        say("migrate, collectstatic")
        env = drill.env()
        manage(processes, env, "migrate", "--no-input", "-v", "0")
        manage(processes, env, "collectstatic", "--no-input", "-v", "0")
        for number in args.drills:
            row, drill_goals = DRILLS[number](drill)
            rows.append(row)
            goals.extend(drill_goals)
    except BenchError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted")
    finally:
        processes.stop_all()
        cluster.remove()
        shutil.rmtree(var_dir, ignore_errors=True)

    elapsed = time.monotonic() - began
    settings["run time"] = f"{elapsed / 60:.1f} min"
    report(rows, goals, settings)
    path = write_results(
        "drill_signups",
        {
            **run_record("drill_signups", started, machine_before),
            "settings": settings,
            "options": {k: v for k, v in vars(args).items() if k != "drills"},
            "drills": rows,
            "goals": goals,
            "seconds": round(elapsed, 1),
        },
    )
    print(f"\nresults: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "_sink":
        sink_main(int(sys.argv[2]), sys.argv[3])
    else:
        main()
