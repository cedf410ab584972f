"""From waitlist to patient at scale: an invitation wave of 50,000 created and handed to the
engine, against a launch update to the same people in the same run; and one beat tick of the
journeys at 1,000,000 people, against the same tick at 10,000.

    .venv/bin/python bench/invitations.py                       # 60,000 waiting; 1,000,000
    .venv/bin/python bench/invitations.py --wave 5000 --people 100000   # a quick look

Wave: `--wave` × 1.2 confirmed Texans are seeded in SQL and Texas opened. Each round starts a
launch update to all of them (the dispatcher's start: its rows, its waves, its lanes) and then
an invitation wave of `--wave` (the same start, plus picking the first `--wave` by place, each
one's invitation and its logged transition), both timed, alternated, `--rounds` times; the
figure is the median. Goal: the wave in < 10 s.

Journeys: the welcome journey (days 0, 3 and 10) is switched on; people confirmed one every
31.5 seconds over the past year (`--people`), then the same at 10,000. A tick is
`journeys.run` over a 30-second window (what beat's JOURNEY_SECONDS hands it), timed (medians
of `--rounds`); its statements' plan is read with EXPLAIN. Goals: < 1 s a tick at
`--people`, the same cost as at 10,000 (ratio < 2), and no sequential scan of the people."""

import argparse
import datetime as dt
import os
import statistics
import time

import django
from lib.report import Goal, finish
from lib.stack import Stack

SEED = """INSERT INTO waitlist_subscriber (email, email_hash, canonical_email_hash, status,
    interests, state, placement, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
    referrer_url, referral_code, referral_credited, referral_outcome, token_key, created_at,
    confirmed_at, suppression_reason, erasure_reason)
SELECT e, encode(sha256(e::bytea), 'hex'), encode(sha256(e::bytea), 'hex'), 'confirmed',
    '["sleep"]', 'TX', '', '', '', '', '', '', '', 'r' || n, false, '', left(md5(e), 16),
    now() - n * interval '31.5 seconds', now() - n * interval '31.5 seconds', '', ''
FROM (SELECT n, 'person' || n || '@example.com' AS e FROM generate_series(1, %s) n) AS s"""
EMPTY = """TRUNCATE waitlist_subscriber, waitlist_campaign, waitlist_delivery,
    waitlist_campaignwave, waitlist_invitation, waitlist_journey, waitlist_journeystep,
    waitlist_openstate, waitlist_counter,
    django_fsm_log_statelog RESTART IDENTITY CASCADE"""


def start(campaign) -> float:
    """The dispatcher's run that starts `campaign`, timed."""
    from waitlist.campaigns import dispatch

    started = time.perf_counter()
    outcome = dispatch.dispatch()
    seconds = time.perf_counter() - started
    assert campaign.pk in outcome["started"], outcome
    return seconds


def wave_rounds(stack: Stack, args) -> dict:
    from django.utils import timezone

    from waitlist.models import Campaign, Delivery, Invitation, OpenState
    from waitlist.people import places

    stack.sql(EMPTY)
    stack.sql(SEED, [int(args.wave * 1.2)])
    places.number_new()  # each their place, as confirming gives it
    stack.sql("VACUUM ANALYZE waitlist_subscriber")
    OpenState.objects.create(state="TX", opened_on=timezone.localdate() - dt.timedelta(days=1))
    common = {"subject": "Texas", "body": "Hello", "audience_states": ["TX"],
              "status": Campaign.Status.SCHEDULED}  # fmt: skip
    update_s, wave_s = [], []
    for round_ in range(args.rounds):
        now = timezone.now()
        update = Campaign.objects.create(name=f"update {round_}", send_at=now, **common)
        update_s.append(start(update))
        made = Delivery.objects.filter(campaign=update).count()
        wave = Campaign.objects.create(
            name=f"wave {round_}", kind=Campaign.Kind.INVITATION, invite_capacity=args.wave,
            send_at=now, in_archive=False, **common,
        )  # fmt: skip
        wave_s.append(start(wave))
        invited = Invitation.objects.filter(campaign=wave, status="invited").count()
        rows = Delivery.objects.filter(campaign=wave).count()
        assert (invited, rows) == (args.wave, args.wave), (invited, rows)
        print(f"round {round_ + 1}: update to {made:,} in {update_s[-1]:.2f} s; "
              f"wave of {invited:,} in {wave_s[-1]:.2f} s")  # fmt: skip
        stack.sql(
            "TRUNCATE waitlist_campaign, waitlist_delivery, waitlist_campaignwave, "
            "waitlist_invitation, django_fsm_log_statelog RESTART IDENTITY CASCADE"
        )
    return {"wave": args.wave, "update_people": made, "update_s": update_s, "wave_s": wave_s}


def journey_ticks(stack: Stack, people: int, rounds: int) -> dict:
    from django.db import connection
    from django.utils import timezone

    from waitlist.campaigns import dispatch, journeys
    from waitlist.models import Journey, JourneyStep
    from waitlist.people import places

    stack.sql(EMPTY)
    stack.sql(SEED, [people])
    places.number_new()
    stack.sql("VACUUM ANALYZE waitlist_subscriber")
    journey = journeys.ensure_welcome()
    journeys.switch_on(journey)
    # As if switched on long ago: every trigger of the past year counts.
    long_ago = timezone.now() - dt.timedelta(days=400)
    Journey.objects.filter(pk=journey.pk).update(switched_on_at=long_ago)
    dispatch.dispatch()  # its steps' campaigns start
    ticks, made = [], []
    tick = dt.timedelta(seconds=30)
    for round_ in range(rounds):  # each round a window of its own, further back
        until = timezone.now() - round_ * 2 * tick
        JourneyStep.objects.update(scheduled_through=until - tick)
        started = time.perf_counter()
        made.append(journeys.run(until))
        ticks.append(time.perf_counter() - started)
    step = JourneyStep.objects.select_related("journey", "campaign").order_by("-delay").first()
    now = timezone.now()
    due = journeys.due(step, now - dt.timedelta(seconds=30), now)
    sql, params = due.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    scans = "Seq Scan on waitlist_subscriber" in plan
    print(f"{people:,} people: ticks {[round(t, 3) for t in ticks]} s, rows made {made}")
    return {"people": people, "tick_s": ticks, "rows_made": made, "plan": plan,
            "sequential_scan": scans}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wave", type=int, default=50_000)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with Stack("invitations", database="halftime_bench", redis_db=7,
               CAMPAIGN_CANARY_FROM="0") as stack:  # fmt: skip
        os.environ.update(stack.env, DJANGO_SETTINGS_MODULE="halftime.settings")
        django.setup()
        wave = wave_rounds(stack, args)
        small = journey_ticks(stack, 10_000, args.rounds)
        big = journey_ticks(stack, args.people, args.rounds)
        stack.sql(EMPTY)
    wave_s, update_s = statistics.median(wave["wave_s"]), statistics.median(wave["update_s"])
    tick_small, tick_big = statistics.median(small["tick_s"]), statistics.median(big["tick_s"])
    goals = [
        Goal(f"a wave of {args.wave:,} invited and handed to the engine < 10 s",
             f"{wave_s:.2f} s (median of {args.rounds}); a launch update to "
             f"{wave['update_people']:,} in {update_s:.2f} s: ratio {wave_s / update_s:.2f}",
             wave_s < 10),
        Goal(f"a journey tick at {args.people:,} people < 1 s", f"{tick_big:.3f} s "
             f"(median of {args.rounds}; rows made {big['rows_made']})", tick_big < 1),
        Goal(f"a tick at {args.people:,} costs what it does at 10,000 (ratio < 2)",
             f"{tick_big:.3f} s vs {tick_small:.3f} s: ratio {tick_big / tick_small:.2f}",
             tick_big / tick_small < 2),
        Goal("no sequential scan of the people in a tick's query",
             "index only" if not big["sequential_scan"] else "a Seq Scan on waitlist_subscriber",
             not big["sequential_scan"]),
    ]  # fmt: skip
    finish("invitations", goals, {"wave": wave, "journeys_small": small, "journeys_big": big})


if __name__ == "__main__":
    main()
