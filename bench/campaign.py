"""A launch-update campaign sent by Celery workers to the SMTP sink, against the same sink's
capacity for a bare smtplib loop in the same run.

    .venv/bin/python bench/campaign.py                        # 100,000 subscribers, 2 workers x 1
    .venv/bin/python bench/campaign.py --subscribers 20000    # a quick look

N confirmed subscribers are seeded in SQL and `create_deliveries` for all of them is timed
(median of 3). Raw: 1 and 2 processes send prebuilt bytes of the app's campaign message over
smtplib, before and after the send; the best of the four is the baseline. Then `--workers`
Celery workers and beat send a campaign to everyone, scheduled for now, measured at the sink from
the first message to the last: `--rounds` times with the engine before per-provider pacing
(`--engine-before`, a git worktree of that commit, its workers and beat run from there on the
same database) and as many with this one, alternated; every recipient's provider is "other",
with no limit of its own. Goals: >= 1,000 emails/s, >= 50% of best raw, >= 90% of the engine
before pacing; 100,000 delivery rows in < 5 s; peak RSS (VmHWM) per worker process < 150 MB;
everyone exactly one message with their own Message-ID, every delivery row and the campaign
'sent'."""

import argparse
import collections
import datetime as dt
import multiprocessing
import os
import smtplib
import statistics
import subprocess
import time
from pathlib import Path

import django
from lib.report import Goal, finish
from lib.stack import BIN, RESULTS, ROOT, Stack, peak_rss_mb, wait_until

SEED = """INSERT INTO waitlist_subscriber (email, email_hash, canonical_email_hash, status,
    interests, state, placement, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
    referrer_url, referral_code, referral_credited, referral_outcome, token_key, created_at,
    confirmed_at, suppression_reason, erasure_reason)
SELECT e, encode(sha256(e::bytea), 'hex'), encode(sha256(e::bytea), 'hex'), 'confirmed',
    '["sleep"]', 'TX', '', '', '', '', '', '', '', 'r' || n, false, '', left(md5(e), 16), now(),
    now(), '', ''
FROM (SELECT n, 'person' || n || '@example.com' AS e FROM generate_series(1, %s) n) AS s"""
# The engine before per-provider pacing (lanes): the baseline its cost is measured against.
ENGINE_BEFORE = "b88d417"
STATUS = "SELECT status FROM waitlist_campaign"  # the one campaign there is
NOT_SENT = "SELECT count(*) FROM waitlist_delivery WHERE status <> 'sent'"
EMPTY_CAMPAIGNS = "TRUNCATE waitlist_delivery, waitlist_campaign RESTART IDENTITY CASCADE"
BODY = """## We're open in Texas

You joined the Halftime Health waitlist, and from today men in Texas can book a first video
visit with one of our physicians, at a time that suits them, often within the same week.

- What brought you here: energy, sleep, weight, sex drive, or all of them at once.
- Lab work at a partner lab near you, with every result explained in plain English.
- A follow-up to go through the results and decide together what, if anything, to treat.

A first visit is **$49**. Labs are billed at cost and priced before you book; there is no
subscription, and nothing renews unless you choose a plan. [Book your first visit](https://x.co)
"""


def new_campaign(status: str):
    from waitlist.models import Campaign

    return Campaign.objects.create(
        name="Bench", subject="Halftime Health is open in Texas", body=BODY, status=status,
        preheader="Book a first visit this week.", send_at=dt.datetime.now(dt.UTC),
    )  # fmt: skip


def time_deliveries(stack: Stack, count: int) -> tuple[list[float], bytes]:
    """create_deliveries for all, 3 times; and the app's bytes for the last campaign's first."""
    from waitlist.campaigns import dispatch, emails
    from waitlist.engine import messages

    seconds = []
    for _ in range(3):
        stack.sql(EMPTY_CAMPAIGNS)
        campaign = new_campaign("sending")
        started = time.perf_counter()
        dispatch.create_deliveries(campaign)  # checked by the send: one message for each
        seconds.append(round(time.perf_counter() - started, 3))
    pk, email, key = stack.sql("SELECT id, email, token_key FROM waitlist_subscriber LIMIT 1")[0]
    copy = emails.campaign_copy(emails.campaign_template(campaign), campaign_id=campaign.pk,
                                subscriber_id=pk, email=email, token_key=key)  # fmt: skip
    stack.sql(EMPTY_CAMPAIGNS)
    return seconds, messages.mime(copy)


def send_raw(port: int, count: int, message: bytes, prefix: str) -> None:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for number in range(count):
            smtp.sendmail("hello@localhost", [f"{prefix}{number}@example.com"], message)


def rate(stack: Stack) -> tuple[float, float, float]:
    """Messages per second at the sink from the first arrival to the last, and those two."""
    times = [a.time for a in stack.sink.arrivals()]
    return (len(times) - 1) / (times[-1] - times[0]), times[0], times[-1]


def raw_rates(stack: Stack, message: bytes, count: int, phase: str) -> dict[int, int]:
    rates = {}
    for senders in (1, 2):
        stack.sink.clear()
        jobs = [(stack.sink.port, count, message, f"raw{n}-") for n in range(senders)]
        # Not forked: a child of a process that used Celery would close its broker connections.
        with multiprocessing.get_context("spawn").Pool(senders) as pool:
            pool.starmap(send_raw, jobs)
        rates[senders] = round(rate(stack)[0])
        print(f"raw smtplib ({phase}), {senders} sender(s): {rates[senders]:,} emails/s")
    return rates


def engine_checkout(rev: str) -> Path:
    """The code at `rev`, checked out beside the results (a git worktree), for the baseline."""
    folder = RESULTS / f"engine-{rev}"
    if not folder.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(folder), rev], cwd=ROOT,
                       check=True, capture_output=True)  # fmt: skip
    return folder


def send_campaign(stack: Stack, args, *, engine: Path | None = None) -> dict:
    """One campaign to everyone, sent by workers and beat running this checkout's code, or
    `engine`'s (another checkout: the baseline)."""
    from waitlist.campaigns import emails

    stack.sql(EMPTY_CAMPAIGNS)
    stack.sink.clear()
    code = {"cwd": engine, "PYTHONPATH": str(engine)} if engine else {}
    workers = [stack.worker(queues="mail,campaigns,default", concurrency=args.concurrency,
                            **code) for _ in range(args.workers)]  # fmt: skip
    beat = stack.start("beat", [BIN / "celery", "-A", "halftime", "beat", "--loglevel", "WARNING",
                                "--schedule", RESULTS / "campaign-beat-schedule"],
                       **code)  # fmt: skip
    campaign = new_campaign("scheduled").pk
    scheduled = time.time()
    wait_until(lambda: stack.sink.count() >= args.subscribers or stack.sql(STATUS)[0][0] == "sent",
               timeout=900, what="every message at the sink", every=0.5)  # fmt: skip
    time.sleep(3)  # anything sent twice arrives meanwhile, and the last batch closes the campaign
    rss = [round(peak_rss_mb(worker.pid), 1) for worker in workers]
    for process in [beat, *workers]:
        stack.stop(process)
    emails_per_s, first, last = rate(stack)
    people = dict(stack.sql("SELECT email, id FROM waitlist_subscriber"))
    arrivals = stack.sink.arrivals()
    per_person = collections.Counter(a.recipient for a in arrivals)
    own_id = {email: emails.campaign_message_id(campaign, pk) for email, pk in people.items()}
    return {
        "emails_per_s": round(emails_per_s, 1),
        "seconds_first_to_last": round(last - first, 2),
        "seconds_schedule_to_first": round(first - scheduled, 2),
        "rss_peak_mb_per_worker": rss,
        "missing": len(people.keys() - per_person.keys()),
        "twice": sum(1 for n in per_person.values() if n > 1),
        "strangers": len(per_person.keys() - people.keys()),
        "wrong_message_id": sum(1 for a in arrivals if a.message_id != own_id.get(a.recipient)),
        "rows_not_sent": stack.sql(NOT_SENT)[0][0],
        "campaign": stack.sql(STATUS)[0][0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--concurrency", type=int, default=1, help="pool processes per worker")
    parser.add_argument("--raw-messages", type=int, default=20_000, help="per raw sender")
    parser.add_argument(
        "--engine-before",
        default=ENGINE_BEFORE,
        help="the baseline: the engine at this commit, before per-provider pacing",
    )
    parser.add_argument("--rounds", type=int, default=2, help="sends of each engine, alternated")
    args = parser.parse_args()
    # Dispatch not every 1 s: one running while another still makes a large campaign's rows.
    # No canary: it would hold all but 500 people back for 30 minutes.
    settings = {"CAMPAIGN_RATE_PER_SECOND": "100000", "CAMPAIGN_RATE_PER_HOUR": str(10**9),
                "CAMPAIGN_DISPATCH_SECONDS": "5", "OUTBOX_SWEEP_SECONDS": "3600",
                "CAMPAIGN_CANARY_FROM": "0"}  # fmt: skip
    with Stack("campaign", database="halftime_bench", redis_db=7, **settings) as stack:
        os.environ.update(stack.env, DJANGO_SETTINGS_MODULE="halftime.settings")
        django.setup()
        stack.sql(SEED, [args.subscribers])
        stack.sql("VACUUM ANALYZE waitlist_subscriber")
        create_s, message = time_deliveries(stack, args.subscribers)
        raw = {"before": raw_rates(stack, message, args.raw_messages, "before")}
        before = engine_checkout(args.engine_before)
        baseline, sends = [], []
        for _ in range(args.rounds):
            baseline.append(send_campaign(stack, args, engine=before)["emails_per_s"])
            sends.append(send_campaign(stack, args))
        send = sends[-1] | {"emails_per_s": statistics.median(s["emails_per_s"] for s in sends)}
        raw["after"] = raw_rates(stack, message, args.raw_messages, "after")
    n, s = args.subscribers, send
    best = max(rate for phase in raw.values() for rate in phase.values())
    share, create = s["emails_per_s"] / best, statistics.median(create_s)
    paced = s["emails_per_s"] / statistics.median(baseline)
    per_100k, rss = create * 100_000 / n, max(s["rss_peak_mb_per_worker"])
    checks = ["missing", "twice", "strangers", "wrong_message_id", "rows_not_sent"]
    scaled = "" if n >= 100_000 else f" (from {n:,}, scaled; met if the scaled figure is)"
    goals = [
        Goal("campaign >= 1,000 emails/s", f"{s['emails_per_s']:,.0f} emails/s ({n:,} people, "
             f"{args.workers}x{args.concurrency} workers)", s["emails_per_s"] >= 1000),
        Goal("campaign >= 50% of best raw smtplib, same sink, same run", f"{share:.0%} "
             f"({s['emails_per_s']:,.0f} vs {best:,.0f}; raw by senders {raw})", share >= 0.5),
        Goal(f"100k delivery rows < 5 s{scaled}", f"{create:.2f} s for {n:,} = {per_100k:.2f} s "
             "per 100k", (create if n >= 100_000 else per_100k) < 5),
        Goal(f"pacing costs almost nothing: >= 90% of the engine at {args.engine_before}, "
             "every provider unlimited, same run", f"{paced:.0%} ({s['emails_per_s']:,.0f} vs "
             f"{statistics.median(baseline):,.0f} emails/s, medians of {args.rounds})",
             paced >= 0.9),
        Goal("peak RSS per worker process < 150 MB", f"{rss:.0f} MB", rss < 150),
        Goal("every subscriber exactly one message (own Message-ID), every row sent",
             f"{[s[k] for k in checks]} ({', '.join(checks)}); campaign {s['campaign']}",
             all(s[k] == 0 for k in checks) and s["campaign"] == "sent"),
    ]  # fmt: skip
    figures = {**s, "raw": raw, "best_raw": best, "create_deliveries_s": create_s,
               "engine_before_emails_per_s": baseline,
               "emails_per_s_each": [each["emails_per_s"] for each in sends],
               "message_bytes": len(message), **vars(args)}  # fmt: skip
    if not finish("campaign", goals, figures):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
