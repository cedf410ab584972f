"""Drill 7: restore from a backup. A dump taken in the middle of a signup load is restored into a
fresh database, on which a new site (the Procfile's web, worker and beat, with Redis emptied, as
on new machines) serves and sends what was waiting, once.

    .venv/bin/python bench/drill_restore.py                 # 100 signups/s for 20 s, dump at 10 s
    .venv/bin/python bench/drill_restore.py --rate 50 --seconds 10

The first site (gunicorn and a Celery worker) takes signups in an open loop; its worker stops
at a third of the load (the confirmations after that wait in the outbox); at half of the load
`pg_dump --format=custom` runs as the README says. The database is then given up, the dump
restored with `pg_restore` into a new one, and the new site started on it. Goals: every signup
answered before the dump began is in the restored database; each confirmation the dump held
as queued is delivered by the new site exactly once, and none it held as sent; the new site
answers pages, /readyz, and a new signup whose confirmation arrives."""

import argparse
import collections
import subprocess
import threading
import time
import urllib.error
import urllib.request

from lib import load
from lib.report import Goal, finish
from lib.stack import POSTGRES, RESULTS, Stack, wait_until

DUMP = RESULTS / "drill-restore.dump"
RESTORED = "halftime_restored"
OUTBOX = (
    "SELECT s.email, o.status FROM waitlist_outboundemail o"
    " JOIN waitlist_subscriber s ON s.id = o.subscriber_id"
)


def take_signups(stack: Stack, args) -> dict:
    """The load, the worker stopped at a third and the dump at a half; returns when and what."""
    base = stack.gunicorn(workers=2)
    worker = stack.worker()
    answers = []

    def offer() -> None:
        def request(i: int) -> tuple[str, bytes]:
            email = f"restore-{i}@example.com"
            return email, load.json_post(base + "/api/waitlist/", {"email": email})

        answers.extend(load.open_loop(base, request, rate=args.rate, seconds=args.seconds))

    loading = threading.Thread(target=offer)
    loading.start()
    time.sleep(args.seconds / 3)
    stack.stop(worker)
    time.sleep(args.seconds / 2 - args.seconds / 3)
    dump_began = time.time()
    started = time.monotonic()
    subprocess.run(["pg_dump", "--format=custom", f"--file={DUMP}", stack.database_url], check=True)
    dump_seconds = time.monotonic() - started
    loading.join()
    return {"answers": answers, "dump_began": dump_began, "dump_seconds": dump_seconds}


def restore(stack: Stack) -> float:
    stack.sql(f'DROP DATABASE IF EXISTS "{RESTORED}" WITH (FORCE)', database="postgres")
    stack.sql(f'CREATE DATABASE "{RESTORED}"', database="postgres")
    started = time.monotonic()
    subprocess.run(
        ["pg_restore", "--no-owner", f"--dbname={POSTGRES}{RESTORED}", str(DUMP)], check=True
    )
    return time.monotonic() - started


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    with Stack("drill-restore", database="halftime_bench", redis_db=7) as first:
        load_run = take_signups(first, args)
        restore_seconds = restore(first)
    before_dump = {
        a.key for a in load_run["answers"] if a.status == 202 and a.done < load_run["dump_began"]
    }
    answered = sum(1 for a in load_run["answers"] if a.status == 202)
    with Stack("drill-restore-new", database=RESTORED, redis_db=7, keep_data=True,
               OUTBOX_SWEEP_SECONDS="2") as second:  # fmt: skip
        in_dump = dict(second.sql(OUTBOX))
        held = collections.Counter(in_dump.values())
        waiting = {email for email, status in in_dump.items() if status in ("queued", "sending")}
        stored = {email for (email,) in second.sql("SELECT email FROM waitlist_subscriber")}
        second.procfile()
        wait_until(lambda: second.sink.count() >= len(waiting), timeout=300,
                   what="the waiting confirmations at the sink", every=0.5)  # fmt: skip
        time.sleep(5)  # anything sent twice arrives meanwhile
        pages = {path: status_of(second.base + path) for path in ("/", "/learn/", "/readyz")}
        new_signup = load.closed_loop(
            second.base,
            lambda i: ("after@example.com", load.json_post(second.base + "/api/waitlist/",
                                                           {"email": "after@example.com"})),
            connections=1, count=1,
        )[0].status  # fmt: skip
        wait_until(lambda: any(a.recipient == "after@example.com" for a in second.sink.arrivals()),
                   timeout=60, what="the new signup's confirmation", every=0.5)  # fmt: skip
        delivered = collections.Counter(a.recipient for a in second.sink.arrivals())
    missing = len(before_dump - stored)
    waiting_once = sum(1 for email in waiting if delivered[email] == 1)
    sent_again = sum(
        1 for email, status in in_dump.items() if status == "sent" and delivered[email]
    )
    figures = {
        "answered": answered,
        "answered_before_dump": len(before_dump),
        "stored_in_dump": len(stored),
        "outbox_in_dump": dict(held),
        "dump_seconds": round(load_run["dump_seconds"], 2),
        "restore_seconds": round(restore_seconds, 2),
        "delivered_by_new_site": sum(delivered.values()),
        "pages": pages,
        "new_signup": new_signup,
        **vars(args),
    }
    goals = [
        Goal("every signup answered before the dump began is in the restored database",
             f"{len(before_dump)} answered before, {missing} missing", missing == 0),
        Goal("each confirmation the dump held as queued delivered once by the new site",
             f"{waiting_once} of {len(waiting)} once; {sent_again} of {held['sent']} sent "
             "in the dump sent again", waiting_once == len(waiting) and sent_again == 0),
        Goal("the restored site serves: /, /learn/, /readyz 200; a new signup 202, mailed",
             f"{pages}, signup {new_signup}, {delivered['after@example.com']} confirmation",
             set(pages.values()) == {200} and new_signup == 202
             and delivered["after@example.com"] == 1),
    ]  # fmt: skip
    if not finish("drill_restore", goals, figures):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
