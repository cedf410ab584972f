"""Does the answer to a join tell a new address from a known one? Its time, by the address's
history: new, pending (last asked an hour ago, so a confirmation is sent again), confirmed,
unsubscribed.

    .venv/bin/python bench/join_timing.py                 # 2,000 requests for each history
    .venv/bin/python bench/join_timing.py --each 300      # a quick look

gunicorn (2 sync workers) on PostgreSQL and Redis. The known addresses join first and are given
their history in the database; then one client sends every address once, the four histories
shuffled together so the machine's noise falls on all alike, one request at a time, each over
a connection of its own (as gunicorn's sync workers close them). The goal compares the medians
of the time to the whole answer."""

import argparse
import random
import statistics
import uuid

from lib import load
from lib.report import Goal, finish
from lib.stack import Stack

HISTORIES = ("new", "pending", "confirmed", "unsubscribed")
# What each known history looks like in the database; an hour since the last confirmation, so
# nothing is held back by the ten-minute resend guard.
GIVE_HISTORY = {
    "pending": "UPDATE waitlist_subscriber SET last_confirmation_at = now() - interval '1 hour'",
    "confirmed": "UPDATE waitlist_subscriber SET status = 'confirmed', confirmed_at = now(),"
    " last_confirmation_at = now() - interval '1 hour'",
    "unsubscribed": "UPDATE waitlist_subscriber SET status = 'unsubscribed',"
    " unsubscribed_at = now(), last_confirmation_at = now() - interval '1 hour'",
}


def join(base: str, email: str) -> tuple[str, bytes]:
    return email, load.json_post(base + "/api/waitlist/", {"email": email})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--each", type=int, default=2000)
    args = parser.parse_args()
    token = uuid.uuid4().hex[:8]
    addresses = {
        history: [f"{history}-{token}-{n}@example.com" for n in range(args.each)]
        for history in HISTORIES
    }
    with Stack("join-timing", database="halftime_bench", redis_db=7) as stack:
        base = stack.gunicorn(workers=2)
        known = [email for history in HISTORIES[1:] for email in addresses[history]]
        seeded = load.closed_loop(
            base, lambda i: join(base, known[i]), connections=4, count=len(known)
        )
        assert all(answer.status == 202 for answer in seeded), "a known address did not join"
        for history, statement in GIVE_HISTORY.items():
            stack.sql(statement + " WHERE email LIKE %s", [f"{history}-{token}-%"])
        order = [(history, email) for history in HISTORIES for email in addresses[history]]
        random.shuffle(order)
        answers = load.closed_loop(
            base, lambda i: join(base, order[i][1]), connections=1, count=len(order)
        )
        queued = stack.sql("SELECT count(*) FROM waitlist_outboundemail WHERE status = 'queued'")[
            0
        ][0]
    history_of = dict((email, history) for history, email in order)
    times = {history: [] for history in HISTORIES}
    statuses = {history: set() for history in HISTORIES}
    for answer in answers:
        times[history_of[answer.key]].append(answer.latency * 1000)
        statuses[history_of[answer.key]].add(answer.status)
    median = {h: round(statistics.median(times[h]), 3) for h in HISTORIES}
    p90 = {h: round(load.percentile(times[h], 0.9), 3) for h in HISTORIES}
    spread = max(median.values()) - min(median.values())
    goals = [
        Goal(
            f"join medians within 0.3 ms whatever the address's history ({args.each} each)",
            ", ".join(f"{h} {median[h]:.2f}" for h in HISTORIES) + f" ms: {spread:.2f} ms apart",
            spread <= 0.3,
        ),
        Goal(
            "every join answered 202",
            str({h: sorted(statuses[h]) for h in HISTORIES}),
            all(statuses[h] == {202} for h in HISTORIES),
        ),
    ]
    figures = {"median_ms": median, "p90_ms": p90, "spread_ms": round(spread, 3),
               "confirmations_queued": queued, **vars(args)}  # fmt: skip
    if not finish("join_timing", goals, figures):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
