"""What every benchmark here shares: a production-like environment, gunicorn, and wrk.

Benchmarks run on PostgreSQL and Redis (127.0.0.1), DEBUG off, collected static files, under
gunicorn with sync workers, measured by wrk. Every process started here is stopped by its pid
in `Processes.stop_all()`, which callers run in a `finally`.
"""

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PYTHON = BIN / "python"
RESULTS = ROOT / "bench" / "results"

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/halftime_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
WRK = "/usr/bin/wrk"
WRK_MISSING = (
    "wrk is not installed ({path} is missing). Install it with:\n"
    "    sudo apt-get install -y wrk\n"
    "then run the benchmark again."
)

# wrk runs this script. response() counts statuses outside 2xx per thread (wrk's own `status`
# error counts only >= 400) and the 2xx answers; done() prints one line of JSON that `run_wrk`
# parses. Each thread gets its number (1, 2, ...) in the global `tid`, for scripts that `run_wrk`
# appends (a `request()` that makes every request different, say).
WRK_LUA = r"""
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  non2xx = 0
  ok2xx = 0
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  else
    ok2xx = ok2xx + 1
  end
end

function done(summary, latency, requests)
  local non2xx_total = 0
  local ok2xx_total = 0
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + (thread:get("non2xx") or 0)
    ok2xx_total = ok2xx_total + (thread:get("ok2xx") or 0)
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_s": %.6f, "bytes": %d, "rps": %.3f, '
    .. '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "mean_ms": %.3f, '
    .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, '
    .. '"non2xx": %d}, "ok2xx": %d}\n',
    summary.requests, seconds, summary.bytes, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
    e.connect, e.read, e.write, e.status, e.timeout, non2xx_total, ok2xx_total))
end
"""


class BenchError(Exception):
    """A precondition or step failed; the message says what to do."""


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


# --- Processes ---------------------------------------------------------------------------------


class Processes:
    """Every child process a benchmark starts, so that all of them can be stopped by pid."""

    def __init__(self) -> None:
        self._children: list[subprocess.Popen] = []

    def start(self, args: list[str], **kwargs) -> subprocess.Popen:
        process = subprocess.Popen([str(a) for a in args], **kwargs)
        self._children.append(process)
        return process

    def run(self, args: list[str], *, timeout: float, **kwargs) -> subprocess.CompletedProcess:
        """Like subprocess.run, but the child is stopped too if we are interrupted."""
        process = self.start(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        finally:
            self.stop(process)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def stop(self, process: subprocess.Popen, grace: float = 10) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process in self._children:
            self._children.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self._children)):
            self.stop(process)


# --- Environment, database, cache --------------------------------------------------------------


def bench_env(*, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """Production-like settings; the variables the benchmark sets win over the caller's."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-secret-key-" + "k" * 28,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SITE_URL": "http://localhost:8000",  # plain http: no HTTPS redirect on 127.0.0.1
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            # Collected static files of its own, so a benchmark never changes what tests use.
            "STATIC_ROOT": str(ROOT / "var" / "bench-static"),
            "STATIC_MANIFEST": "true",
            **extra,
        }
    )
    return env


def ensure_database(database_url: str) -> None:
    """Create the benchmark's own database when missing. Never drops anything."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name:
        raise BenchError(f"DATABASE_URL has no database name: {database_url}")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                say(f"creating database {name}")
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        raise BenchError(
            f"PostgreSQL is not reachable at {parts.hostname}:{parts.port or 5432} ({exc}).\n"
            "Start it, e.g.: pg_ctlcluster --skip-systemctl-redirect "
            "$(ls /etc/postgresql) main start"
        ) from exc


def ensure_redis(redis_url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        raise BenchError(
            f"Redis is not reachable at {redis_url} ({exc}).\nStart it, e.g.: redis-server "
            '--daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'
        ) from exc


def manage(processes: Processes, env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """Run a manage.py command; return its stdout, or raise with its stderr."""
    result = processes.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, timeout=timeout)
    if result.returncode != 0:
        raise BenchError(
            f"manage.py {' '.join(args[:2])} failed ({result.returncode}):\n"
            + result.stderr.decode(errors="replace").strip()
        )
    return result.stdout.decode(errors="replace")


# --- HTTP and gunicorn -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str


def http_get(url: str, timeout: float = 5) -> Response:
    """One anonymous GET (no cookies), not following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=timeout) as response:
            body = response.read().decode(errors="replace")
            return Response(response.status, dict(response.headers), body)
    except urllib.error.HTTPError as exc:
        return Response(exc.code, dict(exc.headers), exc.read().decode(errors="replace"))


@dataclass
class Gunicorn:
    """One gunicorn master (sync workers) on 127.0.0.1, logging to a file under results/."""

    name: str
    env: dict[str, str]
    workers: int
    app: str = "halftime.wsgi"
    port: int = 0
    log_path: Path = field(init=False)
    process: subprocess.Popen | None = field(default=None, init=False)

    def start(self, processes: Processes) -> None:
        self.port = self.port or free_port()
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.log_path = RESULTS / f"gunicorn-{self.name}.log"
        args = [
            BIN / "gunicorn",
            self.app,
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-class",
            "sync",
            # Two masters run at once; gunicorn's default control socket is one per user.
            "--no-control-socket",
        ]
        with self.log_path.open("wb") as log:
            # Its own session: Ctrl-C reaches only us, and we stop the master by its pid.
            self.process = processes.start(
                args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str = "/healthz", timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn '{self.name}' exited:\n{self.log_tail()}")
            try:
                if http_get(self.base_url + path, timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"gunicorn '{self.name}' did not answer {path}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


# --- wrk ---------------------------------------------------------------------------------------


def require_wrk() -> str:
    if not (os.path.isfile(WRK) and os.access(WRK, os.X_OK)):
        found = shutil.which("wrk")
        if not found:
            raise BenchError(WRK_MISSING.format(path=WRK))
        return found
    return WRK


@dataclass
class Load:
    duration: int = 10
    warmup: int = 2
    threads: int = 2
    connections: int = 16
    timeout: int = 5


def run_wrk(
    processes: Processes,
    wrk: str,
    url: str,
    seconds: int,
    load: Load,
    lua: str = "",
    cpu: "CpuMeter | None" = None,
) -> dict:
    """Run wrk against one URL for `seconds`; return the JSON its Lua `done()` printed.

    `lua` is appended to the script: e.g. a `request()` that builds each request (method, body,
    headers) with `wrk.format`. It must not redefine setup, init or response; it may wrap done()
    and print `WRK_EXTRA {...}` lines, whose keys are merged into the result. With `cpu`, the
    result also has `cpu_ms_per_request`: what each part of the machine spent per request."""
    before = cpu.read() if cpu else None
    result = _run_wrk(processes, wrk, url, seconds, load, lua)
    if cpu:
        result["cpu_ms_per_request"] = CpuMeter.per_request(before, cpu.read(), result["requests"])
    return result


def _run_wrk(processes, wrk, url, seconds, load, lua) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-") as script:
        script.write(WRK_LUA + lua)
        script.flush()
        args = [
            wrk, f"--threads={load.threads}", f"--connections={load.connections}",
            f"--duration={seconds}s", f"--timeout={load.timeout}s", f"--script={script.name}", url,
        ]  # fmt: skip
        result = processes.run(args, timeout=seconds + load.timeout + 30)
    stdout = result.stdout.decode(errors="replace")
    extra = {}
    for line in stdout.splitlines():
        if line.startswith("WRK_EXTRA "):
            extra.update(json.loads(line.removeprefix("WRK_EXTRA ")))
    for line in stdout.splitlines():
        if line.startswith("WRK_JSON "):
            return {**json.loads(line.removeprefix("WRK_JSON ")), **extra}
    raise BenchError(
        f"wrk printed no result ({result.returncode}):\n{stdout}\n"
        + result.stderr.decode(errors="replace")
    )


# --- Where the CPU goes ------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _command(pid: int) -> str:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return text[text.index("(") + 1 : text.rindex(")")]


def _cpu_ticks(pid: int, *, reaped_children: bool = False) -> int:
    fields = _stat(pid)
    if fields is None:
        return 0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (every thread)
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: children that have exited
    return ticks


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def process_tree(root: int) -> list[int]:
    parents = {pid: int(fields[1]) for pid in _pids() if (fields := _stat(pid))}
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sorted(tree)


class CpuMeter:
    """CPU seconds spent, between two readings of /proc, by the web server's processes,
    PostgreSQL (every backend, and through the postmaster's count those that exited), Redis and
    the load generator (this process's reaped children, wrk among them), and by the whole
    machine: busy, and stolen by the hypervisor (time this VM wanted the CPU and did not get
    it, which makes a run slower without any of our processes doing more)."""

    def __init__(self, web_root: int):
        self.web_root = web_root

    def read(self) -> dict[str, float]:
        tick = os.sysconf("SC_CLK_TCK")
        by_command: dict[str, int] = {"postgres": 0, "redis": 0}
        for pid in _pids():
            command = _command(pid)
            if command.startswith("postgres"):
                # The postmaster's parent is not PostgreSQL: count its reaped backends there.
                by_command["postgres"] += _cpu_ticks(pid, reaped_children=_is_postmaster(pid))
            elif command.startswith("redis-server"):
                by_command["redis"] += _cpu_ticks(pid)
        web = sum(_cpu_ticks(pid) for pid in process_tree(self.web_root))
        children = os.times()
        with open("/proc/stat") as stat:
            cpu = [int(x) for x in stat.readline().split()[1:]]
        user, nice, system, idle, iowait, irq, softirq, steal = (cpu + [0] * 8)[:8]
        return {
            "web": web / tick,
            "postgres": by_command["postgres"] / tick,
            "redis": by_command["redis"] / tick,
            "load_generator": children.children_user + children.children_system,
            "machine_busy": (user + nice + system + irq + softirq) / tick,
            "machine_steal": steal / tick,
            "machine_total": sum(cpu[:8]) / tick,
        }

    @staticmethod
    def per_request(before: dict, after: dict, requests: int) -> dict[str, float]:
        """Milliseconds of CPU per request for each part, and the machine's busy and stolen
        shares of its time."""
        delta = {key: after[key] - before[key] for key in before}
        total = delta.pop("machine_total") or 1
        shares = {
            "machine_busy_share": round(delta.pop("machine_busy") / total, 3),
            "machine_steal_share": round(delta.pop("machine_steal") / total, 3),
        }
        per = {key: round(1000 * value / max(requests, 1), 3) for key, value in delta.items()}
        return {**per, **shares}


def _is_postmaster(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and not _command(int(fields[1])).startswith("postgres")


def total_errors(result: dict) -> int:
    """Failed requests: socket errors, timeouts and answers outside 2xx (which include wrk's
    own `status` count of answers >= 400)."""
    errors = result["errors"]
    sockets = errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
    return sockets + errors["non2xx"]


def summarize(runs: list[dict]) -> dict:
    """The median of repeated runs of one target, and every run kept for the record."""
    return {
        "runs": len(runs),
        "rps": statistics.median(r["rps"] for r in runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "errors": sum(total_errors(r) for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "rps_all": [round(r["rps"], 1) for r in runs],
        **(
            {
                "cpu_ms_per_request": {
                    key: statistics.median(r["cpu_ms_per_request"][key] for r in runs)
                    for key in runs[0]["cpu_ms_per_request"]
                }
            }
            if all("cpu_ms_per_request" in r for r in runs)
            else {}
        ),
    }


def machine() -> dict:
    import platform

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def goal(text: str, measured, met: bool | None) -> dict:
    """One goal as every benchmark writes it to its results (and `run_all.py` reads it)."""
    return {"goal": text, "measured": measured, "met": None if met is None else bool(met)}


def verdict(met: bool | None) -> str:
    return {True: "MET", False: "NOT MET", None: "not measured"}[met]


def run_record(name: str, started, machine_before: dict) -> dict:
    """What every results file starts with: which script, when, the command, the machine before
    the run and its load after."""
    return {
        "benchmark": name,
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", f"bench/{name}.py", *sys.argv[1:]]),
        "machine": machine_before,
        "load_average_after": machine()["load_average_1_5_15"],
    }


def write_results(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)
