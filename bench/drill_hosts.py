"""Drill 9: past one machine. The deploy/README.md shape run on this machine as separate
processes with their own names and ports: two web hosts (gunicorn, 2 sync workers each) behind
nginx with the repo's `deploy/nginx.conf`, two worker hosts (Celery as the Procfile's worker
line runs it, node names `worker@host-a` and `worker@host-b`), one beat; a campaign to
everyone while visitors join and read through nginx, and mid-campaign one web host and one
worker host are killed (`SIGKILL` to the process group) and started again.

    .venv/bin/python bench/drill_hosts.py                          # 100,000 people
    .venv/bin/python bench/drill_hosts.py --people 10000 --down 5

Seeded in SQL: `--people` confirmed people and 100 outside the audience (pending or
suppressed). Four visitors through nginx, one after another each: `GET /`, then `POST
/api/waitlist/` with a new address; a visitor that gets no answer or a 5xx tries again (up to
10 times, 0.25 s apart), as a browser's user or a form's retry does. With a quarter of the
messages at the sink, web host A and worker host B are killed; the rows worker B had in flight
are counted; both are started again on the same port and node name `--down` (10) s later. The
killed worker's rows come back after CAMPAIGN_LEASE_SECONDS (`--lease`, 20).
Goals: nobody skipped; duplicates only among the killed worker's rows in flight, with the
first copy's Message-ID; nobody outside the audience mailed; the campaign and every row
'sent'; the visitors saw no 5xx after their retries, and every signup answered 202 is stored.
Evidence: the sink's journal (written before each 250), the database, every visitor's request;
figures in bench/results/drill_hosts.json."""

import argparse
import asyncio
import collections
import contextlib
import os
import signal
import threading
import time
from urllib.parse import urlsplit

from drill_campaign import CAMPAIGN, OUTSIDERS, ROWS, SEED, SHORTENED, tally
from lib import load
from lib.report import Goal, finish
from lib.stack import BIN, RESULTS, Stack, free_port, wait_until

QUEUES = "mail,campaigns,default"  # the Procfile's worker line
VISITORS = 4
TRIES = 10


class Visitors:
    """Visitors reading and joining through nginx in a thread of their own until stopped."""

    def __init__(self, base: str):
        self.parts = urlsplit(base)
        self.requests: list[dict] = []  # kind, key, every answer's status (0: none), when
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> "Visitors":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()

    async def _ask(self, kind: str, key: str, raw: bytes) -> None:
        statuses = []
        for _ in range(TRIES):
            status = await load.send(self.parts.hostname, self.parts.port, raw, timeout=30)
            statuses.append(status)
            if 0 < status < 500:
                break
            await asyncio.sleep(0.25)
        self.requests.append({"kind": kind, "key": key, "statuses": statuses, "at": time.time()})

    async def _visitor(self, number: int) -> None:
        host, n = self.parts.netloc, 0
        while not self.stopping.is_set():
            n += 1
            page = f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
            await self._ask("page", "/", page)
            email = f"visitor{number}-{n}@example.org"
            await self._ask("signup", email, load.json_post(
                f"http://{host}/api/waitlist/", {"email": email}))  # fmt: skip

    async def _run(self) -> None:
        await asyncio.gather(*(self._visitor(number) for number in range(VISITORS)))


def kill(stack: Stack, process) -> None:
    """As a host dies: every process of it at once, no shutdown."""
    os.killpg(process.pid, signal.SIGKILL)
    stack.stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000, help="the campaign's audience")
    parser.add_argument("--down", type=float, default=10, help="seconds the hosts stay down")
    parser.add_argument("--lease", type=int, default=20, help="CAMPAIGN_LEASE_SECONDS")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per wait")
    args = parser.parse_args()
    # To the workers only, as drill 4 does: `migrate` runs the checks, which refuse a lease
    # this short in production.
    lease = {"CAMPAIGN_LEASE_SECONDS": str(args.lease)}
    # At drill 4's 1,000 a second, production's 100,000 an hour would be spent mid-campaign.
    stack = Stack("drill-hosts", database="halftime_drill_hosts", redis_db=7,
                  **SHORTENED, CAMPAIGN_RATE_PER_HOUR="10000000")  # fmt: skip
    with stack:
        stack.sql(SEED, {"n": args.people, "outsiders": OUTSIDERS})
        ports = {"a": free_port(), "b": free_port()}
        web = {name: stack.gunicorn(port=port) for name, port in ports.items()}
        proxy = stack.nginx(*web.values())
        workers = {
            name: stack.worker(queues=QUEUES, hostname=f"worker@host-{name}", **lease)
            for name in ("a", "b")
        }
        beat = RESULTS / "drill-hosts-beat"
        stack.start("beat", [BIN / "celery", "-A", "halftime", "beat", "--loglevel", "INFO",
                             "--schedule", f"{beat}.schedule"])  # fmt: skip
        visitors = Visitors(proxy).start()
        stack.manage("shell", "-v", "0", "-c", CAMPAIGN)
        started = time.time()

        def campaign_rows(where: str = "true") -> list[tuple]:
            return stack.sql(f"{ROWS} WHERE {where}")

        def status() -> str:
            return stack.sql("SELECT status FROM waitlist_campaign")[0][0]

        # The journal's lines: the campaign's messages and a few visitors' confirmations.
        wait_until(lambda: stack.sink.count() >= args.people // 4, timeout=args.timeout,
                   what=f"{args.people // 4} campaign messages at the sink", every=0.5)  # fmt: skip
        kill(stack, workers["b"])
        killed_at = time.time()
        in_flight = {email for email, *_ in campaign_rows("d.status = 'sending'")}
        kill(stack, next(p for p in stack.processes if f"127.0.0.1:{ports['a']}" in p.args))
        at_kill = stack.sink.count()
        time.sleep(args.down)
        stack.gunicorn(port=ports["a"])
        workers["b"] = stack.worker(queues=QUEUES, hostname="worker@host-b", **lease)
        back_at = time.time()
        wait_until(lambda: status() == "sent", timeout=args.timeout,
                   what="the campaign to end 'sent'", every=1)  # fmt: skip
        ended = time.time()
        visitors.stop()
        joined = {r["key"] for r in visitors.requests
                  if r["kind"] == "signup" and r["statuses"][-1] == 202}  # fmt: skip

        def confirmations() -> set[str]:
            return {a.recipient for a in stack.sink.arrivals()} & joined

        # A confirmation the killed worker had taken is sent again by the outbox's sweep.
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: confirmations() == joined, timeout=120,
                       what="every visitor's confirmation", every=1)  # fmt: skip
        time.sleep(3)  # a late copy would arrive meanwhile
        rows = campaign_rows()
        arrivals = stack.sink.arrivals()
        stored = {email for (email,) in stack.sql(
            "SELECT email FROM waitlist_subscriber WHERE email LIKE 'visitor%%'")}  # fmt: skip

    audience = {f"drill{n}@example.com" for n in range(1, args.people + 1)}
    campaign_mail = [a for a in arrivals if a.recipient.endswith("@example.com")]
    result, duplicates = tally(campaign_mail, rows, audience)
    outside = len(duplicates.keys() - in_flight)
    other_id, row_statuses = result["other_message_id"], result["rows"]
    requests = visitors.requests
    final = collections.Counter(r["statuses"][-1] for r in requests)
    retried = [r for r in requests if len(r["statuses"]) > 1]
    first_5xx = collections.Counter(
        f"{r['kind']} {r['statuses'][0] or 'no answer'}" for r in retried
    )
    failed = sum(n for status, n in final.items() if status == 0 or status >= 500)
    confirmed = collections.Counter(a.recipient for a in arrivals if a.recipient in joined)
    figures = {
        "settings": vars(args),
        **result,
        "duplicated_outside_in_flight": outside,
        "messages_at_kill": at_kill,
        "rows_in_flight_at_kill": len(in_flight),
        "killed_after_s": round(killed_at - started, 1),
        "killed_to_back_s": round(back_at - killed_at, 1),
        "campaign_s": round(ended - started, 1),
        "requests": len(requests),
        "final_statuses": {str(k): v for k, v in sorted(final.items())},
        "retried": len(retried),
        "first_answers_of_retried": dict(first_5xx),
        "signups_answered_202": len(joined),
        "signups_stored": len(joined & stored),
        "confirmations_delivered": len(confirmed),
        "confirmations_twice": sum(n > 1 for n in confirmed.values()),
    }
    print(figures)
    goals = [
        Goal("every recipient got the message (skipped = 0)",
             f"{result['skipped']} skipped of {len(audience):,}", result["skipped"] == 0),
        Goal("nobody outside the audience got anything",
             f"{figures['outsiders_mailed']} of {OUTSIDERS} outsiders",
             figures["outsiders_mailed"] == 0),
        Goal("duplicates only among the killed worker host's rows in flight",
             f"{figures['duplicated']} duplicates, {len(in_flight)} in flight, {outside} "
             "outside them", outside == 0 and figures["duplicated"] <= len(in_flight)),
        Goal("every copy carries its row's Message-ID",
             f"{other_id} messages without it", other_id == 0),
        Goal("every delivery row and the campaign 'sent'", f"rows {row_statuses}",
             row_statuses == {"sent": len(audience)}),
        Goal("visitors through nginx saw no 5xx after retrying",
             f"{failed} of {len(requests):,} requests; {len(retried)} retried "
             f"({dict(first_5xx) or 'none'})", failed == 0 and bool(requests)),
        Goal("every signup answered 202 is stored",
             f"{len(joined & stored):,} of {len(joined):,}", joined <= stored and bool(joined)),
        Goal("every signup answered 202 got its confirmation email",
             f"{len(confirmed):,} of {len(joined):,}, "
             f"{figures['confirmations_twice']} twice", confirmed.keys() == joined),
    ]  # fmt: skip
    if not finish("drill_hosts", goals, figures):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
