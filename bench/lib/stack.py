"""The production stack a benchmark runs on this machine: its own PostgreSQL database and Redis
databases, gunicorn, Celery workers and the SMTP sink. Every process is started here and
stopped by its pid when the benchmark ends, fails or is interrupted."""

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis

from .sink import Sink

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
POSTGRES = "postgres://postgres@127.0.0.1:5432/"
REDIS = "redis://127.0.0.1:6379/"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, *, timeout: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:.0f} s")
        time.sleep(every)


def wait_for_page(url: str, timeout: float = 30) -> None:
    """Until `url` answers 200."""

    def answers() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                return reply.status == 200
        except OSError:
            return False

    wait_until(answers, timeout=timeout, what=f"{url} did not answer")


class Stack:
    """`with Stack("name", database="halftime_bench", redis_db=7) as stack:` — a database
    migrated and emptied (`keep_data`: kept), Redis databases flushed (cache `redis_db`, broker
    `redis_db + 1`).
    `postgres` and `redis` point it at other servers (a drill's own, `lib.servers`)."""

    def __init__(
        self,
        name: str,
        *,
        database: str,
        redis_db: int,
        postgres: str = POSTGRES,
        redis: str = REDIS,
        keep_data: bool = False,
        **settings: str,
    ):
        self.name = name
        self.keep_data = keep_data  # a database restored from a dump: nothing truncated
        self.postgres = postgres
        self.database_url = postgres + database
        self.redis_urls = (f"{redis}{redis_db}", f"{redis}{redis_db + 1}")
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.sink = Sink(RESULTS / f"{name}-sink.journal", free_port())
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_urls[0],
            "CELERY_BROKER_URL": self.redis_urls[1],
            "EMAIL_URL": f"smtp://127.0.0.1:{self.sink.port}",
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-secret-key-" + "k" * 28,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SITE_URL": "http://localhost:8000",
            "LOG_LEVEL": "WARNING",
            "STATIC_MANIFEST": "false",
            "PYTHONUNBUFFERED": "1",
            # All the load comes from one address.
            "WAITLIST_IP_LIMIT": "100000000",
            "WAITLIST_EMAIL_LIMIT": "100000000",
            **settings,
        }
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> "Stack":
        name = self.database_url.rsplit("/", 1)[1]
        if not self.sql(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name], database="postgres"
        ):
            self.sql(f'CREATE DATABASE "{name}"', database="postgres")
        self.manage("migrate", "--no-input", "-v", "0")
        # The baseline view's table (bench/baseline/urls.py).
        self.sql("CREATE TABLE IF NOT EXISTS bench_insert (email text, created_at timestamp)")
        if self.keep_data:
            self.forget()
        else:
            self.empty()
        self.sink.start()
        return self

    def __exit__(self, *exc_info) -> None:
        for process in reversed(self.processes):
            self.stop(process)
        self.sink.stop()

    def manage(self, *args: str) -> None:
        subprocess.run([BIN / "python", "manage.py", *args], cwd=ROOT, env=self.env, check=True)

    def sql(self, statement: str, params=None, *, database: str | None = None) -> list[tuple]:
        url = self.postgres + database if database else self.database_url
        with psycopg.connect(url, autocommit=True) as connection:
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def empty(self) -> None:
        """No subscribers, campaigns or queued tasks: every run starts from nothing."""
        self.sql(
            "TRUNCATE waitlist_subscriber, waitlist_consentrecord, waitlist_outboundemail,"
            " waitlist_campaign, waitlist_delivery, waitlist_counter, bench_insert"
            " RESTART IDENTITY CASCADE"
        )
        self.forget()

    def forget(self) -> None:
        """Nothing in Redis, nothing at the sink: as on a new machine."""
        for url in self.redis_urls:
            redis.Redis.from_url(url).flushdb()
        self.sink.clear()

    def start(self, name: str, args: list, *, cwd: Path = ROOT, **env: str) -> subprocess.Popen:
        """`cwd`: where it runs (another checkout's code, with PYTHONPATH set to it)."""
        log = (RESULTS / f"{self.name}-{name}.log").open("ab")
        process = subprocess.Popen(
            [str(a) for a in args],
            cwd=cwd,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we stop it by its pid
        )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen, grace: float = 20) -> None:
        """SIGTERM, SIGKILL after `grace` seconds; then anything left in its process group
        (a pool child)."""
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if process in self.processes:
            self.processes.remove(process)

    def gunicorn(
        self, *, workers: int = 2, baseline: bool = False, port: int | None = None, **env: str
    ) -> str:
        """A gunicorn with sync workers; returns its base URL once /healthz answers.
        `baseline`: the site with bench/baseline's views added (bench-only settings). `port`:
        the one to bind (a restarted web host's), a free one if None."""
        port = port or free_port()
        if baseline:
            env = {"DJANGO_SETTINGS_MODULE": "baseline.settings", "PYTHONPATH": str(BENCH), **env}
        self.start(
            f"gunicorn-{port}",
            [BIN / "gunicorn", "halftime.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", workers, "--no-control-socket"],
            **env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        wait_for_page(base + "/healthz")
        return base

    def nginx(self, *upstreams: str) -> str:
        """The repo's deploy/nginx.conf in front of `upstreams` (base URLs; its upstream's
        server line, options and all, once for each); returns its own base URL, once /healthz
        answers through it. Its files and access log go to bench/results/."""
        port, folder = free_port(), RESULTS / f"{self.name}-nginx"
        folder.mkdir(exist_ok=True)
        site = (ROOT / "deploy" / "nginx.conf").read_text()
        server = next(line for line in site.splitlines() if "server 127.0.0.1:8000" in line)
        hosts = "\n".join(server.replace("127.0.0.1:8000", urlsplit(u).netloc) for u in upstreams)
        for example, here in {"listen 80;": f"listen 127.0.0.1:{port};",
                              server: hosts,
                              "/var/log/nginx": str(folder)}.items():  # fmt: skip
            site = site.replace(example, here)
        (folder / "site.conf").write_text(site)
        (folder / "nginx.conf").write_text(
            ("user root;\n" if os.geteuid() == 0 else "")
            + "pid nginx.pid;\nerror_log error.log;\nevents { worker_connections 4096; }\n"
            + "http { include site.conf; }\n"
        )
        nginx = ["/usr/sbin/nginx", "-p", folder, "-c", "nginx.conf", "-g", "daemon off;"]
        self.start("nginx", nginx)
        base = f"http://127.0.0.1:{port}"
        wait_for_page(base + "/healthz")
        return base

    def procfile(self, **env: str) -> dict[str, subprocess.Popen]:
        """Every entry of the Procfile, run as a platform runs it (`bash -c "exec …"`), by name;
        returned once web answers and every worker answers a ping."""
        env = {
            "PORT": str(free_port()),
            "BIND": "127.0.0.1",
            "VAR_DIR": str(RESULTS),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "GUNICORN_CMD_ARGS": "--no-control-socket",  # the control socket's path is shared
            **env,
        }
        self.procfile_env = env  # what a process manager restarting one of them gives it
        members = {}
        for line in (ROOT / "Procfile").read_text().splitlines():
            name, _, command = line.partition(":")
            if command.strip() and not name.startswith("#"):
                members[name] = self.start(name, ["bash", "-c", f"exec {command.strip()}"], **env)
        self.base = f"http://127.0.0.1:{env['PORT']}"
        wait_for_page(self.base + "/healthz", timeout=60)
        workers = sum(1 for name in members if name.startswith("worker"))
        self.wait_for_workers(workers)
        return members

    def wait_for_workers(self, count: int) -> None:
        from celery import Celery

        app = Celery(broker=self.redis_urls[1])

        def answered() -> bool:
            # A connection of its own each time: a pooled one may be to a Redis since restarted.
            with app.connection_for_write() as connection:
                return len(app.control.ping(timeout=0.5, connection=connection)) >= count

        wait_until(
            answered,
            timeout=60,
            what=f"{count} Celery worker(s) did not answer a ping",
            every=0.5,
        )

    def worker(
        self,
        *,
        queues: str = "mail",
        concurrency: int = 2,
        cwd: Path = ROOT,
        hostname: str = "",
        **env: str,
    ):
        """A Celery worker; returned once it answers a ping over the broker. `hostname`: its
        node name (a worker "host" of a drill), one of its own if empty."""
        hostname = hostname or f"bench-{queues}-{len(self.processes)}@%h"
        process = self.start(
            f"worker-{hostname.replace('@%h', '').replace('@', '-')}",
            [BIN / "celery", "-A", "halftime", "worker", "--queues", queues,
             "--concurrency", concurrency, "--without-gossip", "--without-mingle",
             "--loglevel", "WARNING", "--hostname", hostname],
            cwd=cwd, **env,
        )  # fmt: skip
        self.wait_for_workers(sum(1 for p in self.processes if "worker" in p.args))
        return process


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and every process below it, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry))
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        if current in stats:
            total += int(stats[current][11]) + int(stats[current][12])
        stack.extend(children.get(current, []))
    return total / ticks


def peak_rss_mb(pid: int) -> float:
    """The highest VmHWM of a process and of each process below it (a pool child), in MB."""
    peak = int(Path(f"/proc/{pid}/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
    tasks = Path(f"/proc/{pid}/task").iterdir()
    children = [int(c) for task in tasks for c in (task / "children").read_text().split()]
    return max([peak, *map(peak_rss_mb, children)])
