"""Reliability drills for launch-update campaigns: a worker killed mid-campaign while two beats
run, and the SMTP server down for a minute mid-campaign.

    .venv/bin/python bench/drill_campaign.py                          # both drills, full size
    .venv/bin/python bench/drill_campaign.py --only 5 --smtp-down 170 --outage-subscribers 2000

Each drill seeds confirmed subscribers in SQL plus 100 people outside the audience (pending or
suppressed), starts two Celery workers as the Procfile's `worker` line runs them and schedules a
campaign to everyone for now (CAMPAIGN_DISPATCH_SECONDS 5, CAMPAIGN_RATE_PER_SECOND 1000).
4. Crash: two beats at once. With a third of the messages at the sink one worker's process group
   gets SIGKILL, the rows 'sending' then are counted, a replacement starts; CAMPAIGN_LEASE_SECONDS
   --lease (20) brings the dead worker's rows back within the drill. Goals: nobody skipped;
   duplicates <= rows in flight at the kill, all among them, with the first copy's Message-ID;
   nobody outside the audience mailed; every row and the campaign 'sent'.
5. Outage: one beat. With a quarter at the sink the sink stops, and is back on its port
   --smtp-down (60) s later; production lease, backoff, error threshold. Goals: nobody skipped;
   a duplicate only where the outage cut a message off (its first copy the last on its
   connection within 5 s before the stop), same Message-ID; nobody outside the audience mailed;
   campaign 'sent', never paused, no row failed; sending resumed after the outage.
Evidence: the sink's journal (written before each 250) and the database; figures in
bench/results/drill_campaign.json."""

import argparse
import collections
import contextlib
import os
import signal
import time

from lib.report import Goal, finish
from lib.stack import BIN, RESULTS, Stack, wait_until

QUEUES = "mail,campaigns,default"  # the Procfile's worker line
OUTSIDERS = 100
ENDED = ("sent", "paused", "cancelled")  # a paused campaign waits for an operator
# Production: 30 s between dispatches, 50 messages a second.
SHORTENED = {
    "CAMPAIGN_DISPATCH_SECONDS": "5",
    "CAMPAIGN_RATE_PER_SECOND": "1000",
    "CAMPAIGN_CANARY_FROM": "0",
}  # its campaign is not held back by a canary
# `n` mailable people, then OUTSIDERS: the odd ones pending, the even ones suppressed.
SEED = """
INSERT INTO waitlist_subscriber (email, email_hash, canonical_email_hash, status, interests,
    state, placement, utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer_url,
    referral_code, referral_credited, referral_outcome, token_key, created_at, confirmed_at,
    suppressed_at, suppression_reason, erasure_reason)
SELECT e, md5(e) || md5('#' || e), md5(e) || md5('#' || e),
       CASE WHEN pending THEN 'pending' ELSE 'confirmed' END, '["sleep"]', 'TX', '', '', '', '',
       '', '', '', 'r' || g, false, '', left(md5('key' || g), 16), now(),
       CASE WHEN NOT pending THEN now() END, CASE WHEN suppressed THEN now() END,
       CASE WHEN suppressed THEN 'hard bounce' ELSE '' END, ''
FROM (SELECT g, CASE WHEN g > %(n)s THEN 'outsider' ELSE 'drill' END || g || '@example.com' AS e,
             g > %(n)s AND mod(g, 2) = 1 AS pending, g > %(n)s AND mod(g, 2) = 0 AS suppressed
      FROM generate_series(1, %(n)s + %(outsiders)s) AS g) AS people
"""
# The drill's one campaign: its status, and its rows with each recipient's address.
ROWS = (
    "SELECT s.email, d.status, d.message_id FROM waitlist_delivery d"
    " JOIN waitlist_subscriber s ON s.id = d.subscriber_id"
)
CAMPAIGN = (
    "from django.utils import timezone; from waitlist.models import Campaign; "
    "Campaign.objects.create(name='Drill', subject='Halftime Health is live in Texas', "
    "body='## We are live in Texas\\n\\nBook a first video visit this week.', "
    "status='scheduled', send_at=timezone.now())"
)


class Watch:
    """One campaign as the drill polls it, with every status it was seen in."""

    def __init__(self, stack: Stack):
        stack.manage("shell", "-v", "0", "-c", CAMPAIGN)
        self.stack = stack
        self.seen: list[str] = []

    def status(self) -> str:
        status = self.stack.sql("SELECT status FROM waitlist_campaign")[0][0]
        if self.seen[-1:] != [status]:
            self.seen.append(status)
        return status

    def rows(self, where: str = "true", params=()) -> list[tuple]:
        return self.stack.sql(f"{ROWS} WHERE {where}", params)

    def wait_for_sink(self, wanted: int, timeout: float) -> None:
        def reached() -> bool:
            if self.status() in ENDED and self.stack.sink.count() < wanted:
                raise RuntimeError(f"campaign {self.seen[-1]} before {wanted} messages arrived")
            return self.stack.sink.count() >= wanted

        wait_until(reached, timeout=timeout, what=f"{wanted} messages at the sink", every=0.05)

    def wait_for_end(self, timeout: float, poll=lambda: None) -> None:
        """Until the campaign ends; a timeout shows in the goals."""
        deadline = time.monotonic() + timeout
        while self.status() not in ENDED and time.monotonic() < deadline:
            poll()
            time.sleep(0.25)
        time.sleep(3)  # a late copy would arrive meanwhile


@contextlib.contextmanager
def campaign(subscribers: int, beats: int, **worker_env: str):
    """The stack, seeded, with two Procfile workers, `beats` beats and a campaign for now."""
    stack = Stack("drill-campaign", database="halftime_drill_campaign", redis_db=7, **SHORTENED)
    with stack:
        stack.sql(SEED, {"n": subscribers, "outsiders": OUTSIDERS})
        workers = [stack.worker(queues=QUEUES, **worker_env) for _ in range(2)]
        for n in range(1, beats + 1):
            beat = RESULTS / f"drill-campaign-beat-{n}"
            beat.with_suffix(".log").unlink(missing_ok=True)  # its dispatches are counted
            stack.start(f"beat-{n}", [BIN / "celery", "-A", "halftime", "beat", "--loglevel",
                                      "INFO", "--schedule", f"{beat}.schedule"])  # fmt: skip
        yield stack, workers, Watch(stack)


def tally(arrivals: list, rows: list[tuple], audience: set[str]) -> tuple[dict, dict]:
    """What the sink got against the audience and the rows (address, status, Message-ID): the
    counts, and the copies of each address that got more than one."""
    recorded = {email: message_id for email, _, message_id in rows}
    copies = collections.defaultdict(list)
    for arrival in arrivals:
        copies[arrival.recipient].append(arrival)
    duplicates = {email: c for email, c in copies.items() if len(c) > 1}
    first_copies = collections.Counter(c[0].port for c in duplicates.values())
    return {
        "recipients": len(audience),
        "messages": sum(len(c) for c in copies.values()),
        "delivered": len(audience & copies.keys()),
        "skipped": len(audience - copies.keys()),
        "outsiders_mailed": len(copies.keys() - audience),
        "duplicated": sum(len(c) - 1 for c in duplicates.values()),
        "duplicates_per_first_copy_connection": sorted(first_copies.values(), reverse=True),
        # The app records a row's Message-ID as it marks the row sent.
        "other_message_id": sum(a.message_id != recorded.get(e) for e in copies for a in copies[e]),
        "rows": dict(collections.Counter(status for _, status, _ in rows)),
    }, duplicates


def checked(stack: Stack, watch: Watch, subscribers: int) -> tuple[dict, dict]:
    """What the sink got, against whom the drill seeded and what the database recorded."""
    audience = {f"drill{n}@example.com" for n in range(1, subscribers + 1)}
    result, duplicates = tally(stack.sink.arrivals(), watch.rows(), audience)
    result |= {"campaign": watch.status(), "statuses_seen": " -> ".join(watch.seen)}
    return result, duplicates


def audience_goals(drill: int, result: dict, after: str) -> list[Goal]:
    return [
        Goal(
            f"drill {drill}: every recipient got the message {after}",
            f"{result['skipped']} skipped of {result['recipients']:,}",
            result["skipped"] == 0,
        ),
        Goal(
            f"drill {drill}: nobody outside the audience got anything",
            f"{result['outsiders_mailed']} of {OUTSIDERS} outsiders",
            result["outsiders_mailed"] == 0,
        ),
    ]


def drill_crash(args) -> tuple[list[Goal], dict]:
    # To the workers only: `migrate` runs every check, and waitlist.E002 refuses a lease this
    # short (it must outlast EMAIL_TIMEOUT + 60 s); a Celery worker runs the checks, ignores them.
    lease = {"CAMPAIGN_LEASE_SECONDS": str(args.lease)}
    with campaign(args.subscribers, beats=2, **lease) as (stack, (doomed, _), watch):
        watch.wait_for_sink(round(args.subscribers / 3), args.timeout)
        os.killpg(doomed.pid, signal.SIGKILL)  # the worker and its pool children
        killed_at = time.time()
        at_kill = stack.sink.count()
        in_flight = {email for email, *_ in watch.rows("d.status = 'sending'")}
        stack.stop(doomed)
        stack.worker(queues=QUEUES, **lease)
        reclaimed_after = []

        def follow_reclaim() -> None:
            # The dead worker's rows: still 'sending' on a claim from before the kill.
            dead = "d.status = 'sending' AND d.claimed_at <= to_timestamp(%s)"
            if not reclaimed_after and not watch.rows(dead, [killed_at]):
                reclaimed_after.append(round(time.time() - killed_at, 1))

        watch.wait_for_end(args.timeout, follow_reclaim)
        result, duplicates = checked(stack, watch, args.subscribers)
    outside = len(duplicates.keys() - in_flight)
    # A message written into its socket just before the kill may be journaled just after it.
    after_kill = sum(c[0].time > killed_at + 1 for c in duplicates.values())
    beat_logs = [RESULTS / f"drill-campaign-beat-{n}.log" for n in (1, 2)]
    result |= {
        "messages_at_kill": at_kill,
        "rows_in_flight_at_kill": len(in_flight),
        "dead_workers_rows_reclaimed_s": (reclaimed_after or [None])[0],
        "beat_dispatches": [log.read_text().count("dispatch-campaigns") for log in beat_logs],
    }
    return [
        *audience_goals(4, result, "(skipped = 0)"),
        Goal(
            "drill 4: duplicates <= rows in flight at the kill, all among them",
            f"{result['duplicated']} duplicates, {len(in_flight)} in flight, {outside} outside "
            f"them, {after_kill} first sent after the kill",
            result["duplicated"] <= len(in_flight) and outside == after_kill == 0,
        ),
        Goal(
            "drill 4: every duplicate has the first copy's Message-ID",
            f"{result['other_message_id']} messages without their row's Message-ID",
            result["other_message_id"] == 0,
        ),
        Goal(
            "drill 4: every delivery row 'sent' and the campaign 'sent'",
            f"rows {result['rows']}, campaign {result['campaign']}",
            result["rows"] == {"sent": result["recipients"]} and result["campaign"] == "sent",
        ),
    ], result


def drill_outage(args) -> tuple[list[Goal], dict]:
    with campaign(args.outage_subscribers, beats=1) as (stack, _, watch):
        watch.wait_for_sink(round(args.outage_subscribers / 4), args.timeout)
        stack.sink.stop()
        down_at = time.time()
        before = stack.sink.count()
        while time.time() - down_at < args.smtp_down:
            watch.status()
            time.sleep(0.5)
        waiting = len(watch.rows("d.status = 'queued' AND d.answer <> ''"))
        stack.sink.start(clear=False)
        up_at = time.time()
        watch.wait_for_end(args.timeout)
        result, duplicates = checked(stack, watch, args.outage_subscribers)
        arrivals = stack.sink.arrivals()
    # Only a connection's last message before the stop can be journaled but never answered.
    last_on = {a.port: a for a in arrivals if a.time <= down_at}
    cut = {(a.recipient, a.time) for a in last_on.values() if down_at - a.time < 5}
    unexplained = sum((email, c[0].time) not in cut for email, c in duplicates.items())
    after = [a.time - up_at for a in arrivals if a.time > up_at]
    result |= {
        "messages_before": before,
        "outage_s": round(up_at - down_at, 1),
        "rows_waiting_at_return": waiting,
        "first_after_return_s": round(min(after), 1) if after else None,
        "last_after_return_s": round(max(after), 1) if after else None,
    }
    failed = result["rows"].get("failed", 0)
    return [
        *audience_goals(5, result, f"after a {args.smtp_down:.0f} s SMTP outage"),
        Goal(
            "drill 5: duplicates only where the outage cut a message off, same Message-ID",
            f"{result['duplicated']} duplicates, {unexplained} unexplained, "
            f"{result['other_message_id']} messages without their row's Message-ID",
            unexplained == 0 and result["other_message_id"] == 0,
        ),
        Goal(
            "drill 5: campaign ends 'sent', never paused, no row failed",
            f"{result['statuses_seen']}; {failed} failed rows",
            result["campaign"] == "sent" and "paused" not in watch.seen and failed == 0,
        ),
        Goal(
            "drill 5: every delivery row 'sent'; sending resumed after the outage",
            f"rows {result['rows']}; first message {result['first_after_return_s']} s, last "
            f"{result['last_after_return_s']} s after the sink's return",
            result["rows"] == {"sent": result["recipients"]} and bool(after),
        ),
    ], result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="4,5", help="drills to run: 4, 5 or 4,5")
    parser.add_argument("--subscribers", type=int, default=20_000, help="drill 4's audience")
    parser.add_argument("--outage-subscribers", type=int, default=10_000, help="drill 5's")
    parser.add_argument("--smtp-down", type=float, default=60, help="seconds (drill 5)")
    parser.add_argument("--lease", type=int, default=20, help="CAMPAIGN_LEASE_SECONDS, drill 4")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per wait")
    args = parser.parse_args()
    goals, figures = [], {"settings": vars(args)}
    for number, drill in (("4", drill_crash), ("5", drill_outage)):
        if number in args.only.split(","):
            drill_goals, figures[f"drill_{number}"] = drill(args)
            print(f"drill {number}: {figures[f'drill_{number}']}")
            goals += drill_goals
    if not finish("drill_campaign", goals, figures):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
