"""The production stack a benchmark runs on this machine: its own PostgreSQL database and Redis
databases, gunicorn, Celery workers and the SMTP sink. Every process is started here and
stopped by its pid when the benchmark ends, fails or is interrupted."""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import psycopg
import redis

from .sink import Sink

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
RESULTS = ROOT / "bench" / "results"
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
    """`with Stack("name", database="halftime_bench", redis_db=8) as stack:` — a database
    migrated and emptied, Redis databases flushed (cache `redis_db`, broker `redis_db + 1`)."""

    def __init__(self, name: str, *, database: str, redis_db: int, **settings: str):
        self.name = name
        self.database_url = POSTGRES + database
        self.redis_urls = (f"{REDIS}{redis_db}", f"{REDIS}{redis_db + 1}")
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
        url = POSTGRES + database if database else self.database_url
        with psycopg.connect(url, autocommit=True) as connection:
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def empty(self) -> None:
        """No subscribers, campaigns or queued tasks: every run starts from nothing."""
        self.sql(
            "TRUNCATE waitlist_subscriber, waitlist_consentrecord, waitlist_outboundemail,"
            " waitlist_campaign, waitlist_delivery RESTART IDENTITY CASCADE"
        )
        for url in self.redis_urls:
            redis.Redis.from_url(url).flushdb()
        self.sink.clear()

    def start(self, name: str, args: list, **env: str) -> subprocess.Popen:
        log = (RESULTS / f"{self.name}-{name}.log").open("ab")
        process = subprocess.Popen(
            [str(a) for a in args],
            cwd=ROOT,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we stop it by its pid
        )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen, grace: float = 20) -> None:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        if process in self.processes:
            self.processes.remove(process)

    def gunicorn(self, *, workers: int = 2, **env: str) -> str:
        """A gunicorn with sync workers; returns its base URL once /healthz answers."""
        port = free_port()
        self.start(
            f"gunicorn-{port}",
            [BIN / "gunicorn", "halftime.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", workers, "--no-control-socket"],
            **env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        wait_for_page(base + "/healthz")
        return base

    def worker(self, *, queues: str = "mail", concurrency: int = 2, **env: str):
        """A Celery worker; returned once it answers a ping over the broker."""
        process = self.start(
            f"worker-{queues}",
            [BIN / "celery", "-A", "halftime", "worker", "--queues", queues,
             "--concurrency", concurrency, "--without-gossip", "--without-mingle",
             "--loglevel", "WARNING", "--hostname", f"bench-{queues}-{len(self.processes)}@%h"],
            **env,
        )  # fmt: skip
        from celery import Celery

        app = Celery(broker=self.redis_urls[1])
        wait_until(
            lambda: process.poll() is None and bool(app.control.ping(timeout=0.5)),
            timeout=60,
            what="the Celery worker did not answer a ping",
            every=0.5,
        )
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
