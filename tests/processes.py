"""Real processes for the tests: a Celery worker, and a private Redis server that a test may
stop and start."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]


def redis_database(offset: int) -> str:
    """The Redis database `offset` after REDIS_URL's. A test run owns REDIS_URL's database and the
    three after it (the broker, then one for the processes a test starts on a broker of their own,
    then one for a whole site's), so two runs side by side (`dev.py test`) never share one."""
    url = os.environ["REDIS_URL"]
    base, number = url.rsplit("/", 1)
    return f"{base}/{int(number) + offset}"


SIDE_BROKER = redis_database(2)


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
    (directory / "site.conf").write_text(site.replace("127.0.0.1:8000", f"127.0.0.1:{upstream}"))
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


class MailboxServer:
    """Dovecot of the test's own, serving one mailbox over IMAP and POP3 on ports of its own:
    any user name, the one password, mail kept in `folder`."""

    PASSWORD = "bounce-mailbox-password"
    BINARY = "/usr/sbin/dovecot"

    def __init__(self, folder: Path, imap_port: int, pop3_port: int):
        self.folder, self.imap_port, self.pop3_port = folder, imap_port, pop3_port
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        for name in ("run", "state", "home"):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        # Mail is read and written as Debian's own `dovecot` user, never as root.
        shutil.chown(self.folder / "home", user="dovecot", group="dovecot")
        config = self.folder / "dovecot.conf"
        config.write_text(
            "\n".join(
                [
                    f"base_dir = {self.folder / 'run'}",
                    f"state_dir = {self.folder / 'state'}",
                    f"log_path = {self.folder / 'dovecot.log'}",
                    "protocols = imap pop3",
                    "listen = 127.0.0.1",
                    "ssl = no",
                    "disable_plaintext_auth = no",
                    "auth_mechanisms = plain login",
                    f"passdb {{\n  driver = static\n  args = password={self.PASSWORD}\n}}",
                    "userdb {\n  driver = static\n  args = uid=dovecot gid=dovecot "
                    f"home={self.folder / 'home'}/%u\n}}",
                    "mail_location = maildir:~/Maildir",
                    "first_valid_uid = 1",
                    "service imap-login {\n  inet_listener imap {\n"
                    f"    port = {self.imap_port}\n  }}\n  inet_listener imaps {{\n    port = 0\n"
                    "  }\n  chroot =\n}",
                    "service pop3-login {\n  inet_listener pop3 {\n"
                    f"    port = {self.pop3_port}\n  }}\n  inet_listener pop3s {{\n    port = 0\n"
                    "  }\n  chroot =\n}",
                    "service anvil {\n  chroot =\n}",
                ]
            )
            + "\n"
        )
        self.process = subprocess.Popen(
            [self.BINARY, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.is_up, timeout=15, message="dovecot did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def is_up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.imap_port), timeout=0.2):
                return True
        except OSError:
            return False
