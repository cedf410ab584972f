"""The signup against django-newsletter's subscribe view, the peer a Django team would reach for.

    .venv/bin/python bench/signup_peer.py                       # 3 rounds of 10 s, 32 connections

django-newsletter (bench/peer/requirements.txt) is installed into an environment of its own,
bench/results/peer-venv, never the project's, and runs in a minimal site (bench/peer/peer_site:
DEBUG off, the same middleware a Django site has) on its own database of the same PostgreSQL
server. Both sites run under gunicorn with 2 sync workers and send to the same SMTP sink:

- ours: `POST /api/waitlist/` with a new address, answered 202, its confirmation enqueued on
  commit (the signup as `signup.py` measures it); then again with one Celery worker
  (`--queues mail --concurrency 2`, started once the last run's confirmations are sent) sending
  the confirmations meanwhile (`ours+worker`);
- peer: `POST /newsletter/launch/subscribe/` (name, address, CSRF token), answered 302; it sends
  its activation email inside the request, as it does by default.

wrk (`lib/load.wrk`, 2 threads, `--connections`) measures each for `--seconds` after 2 s
of warm-up, interleaved for `--rounds`; signups per second are the medians over rounds. Then
every answered signup must have its row (wrk leaves up to one request per connection in flight
when it stops: the server still writes those), and every peer signup its activation email."""

import argparse
import collections
import hashlib
import re
import statistics
import subprocess
import sys
import urllib.request
import uuid

from lib import load
from lib.report import Goal, finish
from lib.stack import RESULTS, ROOT, Stack, free_port, wait_for_page, wait_until

PEER = ROOT / "bench" / "peer"
VENV = RESULTS / "peer-venv"
DATABASE = "halftime_peer"


def peer_environment() -> None:
    """The peer's virtual environment, made again when its requirements change."""
    requirements = PEER / "requirements.txt"
    stamp = VENV / "requirements.sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    print("peer: installing django-newsletter into bench/results/peer-venv")
    subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
    pip = [VENV / "bin" / "python", "-m", "pip", "install", "-q", "-r", requirements]
    subprocess.run(pip, check=True)
    stamp.write_text(digest)


def start_peer(stack: Stack) -> str:
    env = {
        "PYTHONPATH": str(PEER),
        "DJANGO_SETTINGS_MODULE": "peer_site.settings",
        "PEER_DATABASE": DATABASE,
        "PEER_SMTP_PORT": str(stack.sink.port),
    }
    stack.sql(f'DROP DATABASE IF EXISTS "{DATABASE}"', database="postgres")
    stack.sql(f'CREATE DATABASE "{DATABASE}"', database="postgres")
    admin = [VENV / "bin" / "django-admin"]
    run = lambda *args: subprocess.run([*admin, *args], env={**stack.env, **env}, check=True)  # noqa: E731
    run("migrate", "-v", "0")
    run(
        "shell",
        "-c",
        "from django.contrib.sites.models import Site; from newsletter.models import Newsletter;"
        " Newsletter.objects.create(title='Launch', slug='launch', email='hello@localhost',"
        " sender='Peer').site.add(Site.objects.get_current())",
    )
    port = free_port()
    stack.start(
        "peer-gunicorn",
        [VENV / "bin" / "gunicorn", "peer_site.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", 2, "--no-control-socket",
         # gunicorn's own logger, not the project's (gunicorn.conf.py), which this venv lacks
         "--logger-class", "gunicorn.glogging.Logger"],
        **env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_for_page(base + "/newsletter/launch/subscribe/")
    return base


def csrf(base: str) -> tuple[str, str]:
    """A CSRF cookie and the form's token for it, fetched once and used for every request."""
    with urllib.request.urlopen(base + "/newsletter/launch/subscribe/") as reply:
        cookie = reply.headers["Set-Cookie"].split(";", 1)[0]
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', reply.read()).group(1)
    return cookie, token.decode()


def measure(target: str, base: str, args, cookie: str = "", token: str = "") -> dict:
    """wrk for 2 s of warm-up, then `--seconds`; every request a new address."""
    run = uuid.uuid4().hex[:8]
    if target == "ours":
        url = base + "/api/waitlist/"
        lua = WRK_OURS
    else:
        url = base + "/newsletter/launch/subscribe/"
        lua = WRK_PEER.replace("@COOKIE@", cookie).replace("@TOKEN@", token)
        lua = lua.replace("@REFERER@", url)
    ok = 202 if target == "ours" else 302
    results = [
        load.wrk(url, lua.replace("@RUN@", f"{run}-{phase}"), connections=args.connections,
                 seconds=seconds)
        for phase, seconds in (("w", 2), ("m", args.seconds))
    ]  # fmt: skip
    measured = results[1]
    return {
        "per_second": round(measured["statuses"].get(ok, 0) / measured["seconds"], 1),
        "statuses": measured["statuses"],
        "socket_errors": measured["socket_errors"],
        "accepted": sum(r["statuses"].get(ok, 0) for r in results),
        "p99_ms": measured["p99_ms"],
    }


WRK_OURS = r"""
local headers = {["Content-Type"] = "application/json", ["Accept"] = "application/json"}
function request()
  counter = counter + 1
  local email = string.format("ours-@RUN@-%d-%d@example.com", tid, counter)
  return wrk.format("POST", nil, headers, '{"email": "' .. email .. '"}')
end
"""
WRK_PEER = r"""
local headers = {["Content-Type"] = "application/x-www-form-urlencoded",
                 ["Cookie"] = "@COOKIE@", ["Referer"] = "@REFERER@"}
function request()
  counter = counter + 1
  local email = string.format("peer-@RUN@-%d-%d%%40example.com", tid, counter)
  return wrk.format("POST", nil, headers,
                    "csrfmiddlewaretoken=@TOKEN@&name_field=Pat&email_field=" .. email)
end
"""


def queued(stack: Stack) -> int:
    return stack.sql("SELECT count(*) FROM waitlist_outboundemail WHERE status = 'queued'")[0][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    peer_environment()
    runs = collections.defaultdict(list)
    with Stack("signup-peer", database="halftime_bench", redis_db=7) as stack:
        ours = stack.gunicorn(workers=2)
        peer = start_peer(stack)
        cookie, token = csrf(peer)
        for round_number in range(args.rounds):
            for target, base in (("ours", ours), ("peer", peer), ("ours+worker", ours)):
                worker = stack.worker() if target == "ours+worker" else None
                if worker:  # the confirmations of the run without it go out first
                    wait_until(lambda: not queued(stack), timeout=300, what="backlog sent")
                run = measure(target.split("+")[0], base, args, cookie, token)
                if worker:
                    stack.stop(worker)
                print(f"round {round_number + 1} {target}: {run['per_second']}/s, "
                      f"p99 {run['p99_ms']} ms, {run['statuses']}, "
                      f"{run['socket_errors']} socket errors")  # fmt: skip
                runs[target].append(run)
        stored = stack.sql("SELECT count(*) FROM waitlist_subscriber")[0][0]
        peer_stored = stack.sql("SELECT count(*) FROM newsletter_subscription", database=DATABASE)
        peer_mail = sum(1 for a in stack.sink.arrivals() if a.recipient.startswith("peer-"))
    rate = {t: round(statistics.median(r["per_second"] for r in runs[t]), 1) for t in runs}
    accepted = {t: sum(r["accepted"] for r in runs[t]) for t in runs}
    accepted["ours"] += accepted.pop("ours+worker")
    # wrk stops waiting for the requests in flight when its time is up; the server finishes them.
    in_flight = 4 * args.rounds * args.connections
    goals = [
        Goal(
            "signup >= 1.5x django-newsletter's subscribe view",
            f"{rate['ours']}/s vs {rate['peer']}/s = {rate['ours'] / rate['peer']:.2f}x; with "
            f"our worker sending meanwhile {rate['ours+worker']}/s = "
            f"{rate['ours+worker'] / rate['peer']:.2f}x",
            rate["ours"] >= 1.5 * rate["peer"],
        ),
        Goal(
            "every answered signup stored (and at most the requests in flight when wrk stopped"
            " beyond); every peer signup its email",
            f"ours {accepted['ours']} answered, {stored} stored; peer {accepted['peer']} "
            f"answered, {peer_stored[0][0]} stored, {peer_mail} emails",
            0 <= stored - accepted["ours"] <= in_flight
            and 0 <= peer_stored[0][0] - accepted["peer"] <= in_flight
            and peer_mail == peer_stored[0][0],
        ),
    ]
    if not finish("signup_peer", goals, {"per_second": rate, "runs": runs, **vars(args)}):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
