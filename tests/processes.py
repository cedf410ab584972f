"""Real processes for the tests: a Celery worker, and a private Redis server that a test may
stop and start."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]


def wait_until(predicate, *, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(message)


class Process:
    def __init__(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        *,
        inherit: bool = True,
        cwd: Path = ROOT,
    ):
        """`env` on top of this process's environment, or (`inherit=False`) alone."""
        self.name = name
        self.log = Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".log")[1])
        with self.log.open("w") as out:
            self.popen = subprocess.Popen(
                args,
                cwd=cwd,
                env={**os.environ, **env} if inherit else env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, *, timeout: float = 10) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def celery_worker(env: dict[str, str], *, queues: str = "mail,campaigns,default") -> Process:
    worker = Process(
        "celery-worker",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "halftime",
            "worker",
            "--queues",
            queues,
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],  # fmt: skip
        env,
    )
    wait_until(
        lambda: "ready." in worker.output() or worker.popen.poll() is not None,
        timeout=30,
        message="the Celery worker did not start",
    )
    assert worker.popen.poll() is None, worker.output()
    return worker


def gunicorn(env: dict[str, str], *, port: int, workers: int = 1, cwd: Path = ROOT) -> Process:
    """The web process on 127.0.0.1:`port`; without gunicorn 27's control socket, whose one
    path per user two test servers would share."""
    return Process(
        "gunicorn",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "halftime.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--no-control-socket",
        ],  # fmt: skip
        env,
        cwd=cwd,
    )


def nginx(directory: Path, *, port: int, upstream: int) -> Process:
    """nginx with the repo's deploy/nginx.conf on 127.0.0.1:`port`, in front of gunicorn on
    `upstream`; its access log is `directory`/halftime.access.log."""
    site = (ROOT / "deploy" / "nginx.conf").read_text().replace("/var/log/nginx", str(directory))
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    (directory / "site.conf").write_text(site.replace(":8000;", f":{upstream};"))
    user = "user root;" if os.geteuid() == 0 else ""  # its workers write the temporary files
    main = f"{user} pid nginx.pid; error_log stderr; events {{}} http {{ include site.conf; }}"
    (directory / "nginx.conf").write_text(main)
    args = ["/usr/sbin/nginx", "-p", str(directory), "-c", "nginx.conf", "-g", "daemon off;"]
    return Process("nginx", args, {})


def celery_beat(env: dict[str, str]) -> Process:
    schedule = tempfile.mkdtemp(prefix="beat-")
    return Process(
        "celery-beat",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "halftime",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            f"{schedule}/schedule",
        ],  # fmt: skip
        env,
    )


class RedisServer:
    """A redis-server of the test's own, on its own port, that the test may stop and start."""

    def __init__(self, port: int, *config: str):
        self.port = port
        self.config = config  # more redis-server arguments: "--maxmemory", "2mb", …
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                *self.config,
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.is_up, timeout=10, message="redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        wait_until(lambda: not self.is_up(), timeout=10, message="redis-server did not stop")

    def is_up(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False
