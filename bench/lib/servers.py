"""A PostgreSQL cluster and a redis-server of a drill's own, so that it can stop and start them
without touching the machine's shared servers. `Stack(postgres=pg.url, redis=redis.url)` runs
on them."""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import redis

from .stack import RESULTS, free_port, wait_until

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PrivatePostgres:
    """initdb in a temporary directory, run as the postgres user, on 127.0.0.1:<port> only;
    removed (its log kept in bench/results/) when the `with` block ends."""

    def __init__(self, name: str):
        self.name = name
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/"
        self.folder = Path(tempfile.mkdtemp(prefix=f"{name}-pg-"))
        self.data, self.log = self.folder / "data", self.folder / "postgres.log"

    def pg(self, *args: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*as_postgres, str(PG_BIN / args[0]), *args[1:]],
            cwd=self.folder, check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def __enter__(self) -> "PrivatePostgres":
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self.pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                "--encoding", "UTF8", "--no-locale", "--no-sync")  # fmt: skip
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        finally:
            if self.log.exists():
                shutil.copyfile(self.log, RESULTS / f"{self.name}-postgres.log")
            shutil.rmtree(self.folder, ignore_errors=True)

    def start(self, *, wait: bool = True) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self.pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                "-t", "60", "start", "-w" if wait else "-W")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self.pg("pg_ctl", "-D", str(self.data), "-m", mode, "-t", "60", "stop")

    def accepting(self) -> bool:
        try:
            with psycopg.connect(self.url + "postgres", connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def wait_accepting(self) -> float:
        """Returns the instant (time.time()) it first accepted a connection."""
        wait_until(self.accepting, timeout=60, what="PostgreSQL accepting", every=0.05)
        return time.time()


class PrivateRedis:
    """A redis-server with no persistence (a restart comes back empty), on the same port each
    time it starts."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "PrivateRedis":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def up(self) -> bool:
        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
        except redis.RedisError:
            return False

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_until(self.up, timeout=10, what="redis-server started")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        wait_until(lambda: not self.up(), timeout=10, what="redis-server stopped")
