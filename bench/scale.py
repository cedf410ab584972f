"""The list at 10,000 and at 1,000,000 people: what each page and job costs at both sizes, measured
in one run, the two sizes interleaved.

    .venv/bin/python bench/scale.py                    # 10,000 and 1,000,000 (data kept)
    .venv/bin/python bench/scale.py --big 200000       # a quicker look
    .venv/bin/python bench/scale.py --live-rounds 0    # the pages and jobs only
    .venv/bin/python bench/scale.py --regenerate       # make both data sets anew

Each size has a database of its own (halftime_scale_<size>), generated in SQL from the current
schema and kept between runs: realistic people (85% confirmed, 10% pending, 5% unsubscribed,
joined over a year, one in five referred by someone earlier, interests and states spread), a
consent record each, the confirmation and welcome emails sent to everyone confirmed, and (made
by the first measurement) a campaign to everyone, half sent.

Pages: each round measures every figure once at 10,000 and then once at the big size, in a
process of its own (`--measure`), after one unmeasured request to warm it; the figure is the
median of `--rounds`, and the ratio is big ÷ small. The admin pages are read as a signed-in
superuser through Django's test client (the whole request: middleware, view, template). The
jobs that count the figures those pages read are timed once each.

Live (`--live-rounds`, each size in turn): gunicorn (2 sync workers), one Celery worker
(`-c 2`), beat and the SMTP sink run on the data set. `--signups` join over 32 connections,
then confirm; `--burst` more people, waiting, confirm at once and their welcome emails are
drained (the rate over 95% of them); a campaign to everyone starts, and its rate is measured
over its first `--campaign-first` messages, with the worker's peak RSS. Everyone and everything
added is deleted after.

Goals (issue 31): every admin page and the audience count ≤ 2× and under 1 s at the big size;
the welcome page and the welcome email's render ≤ 1.5×; each signup and confirmation ≤ 1.2× as
long; the burst drained at ≥ 0.8× and the campaign sent at ≥ 0.9× the small size's rate; the
worker's peak RSS ≤ 1.1×."""

import argparse
import json
import statistics
import subprocess
import sys
import time

from lib import load
from lib.report import Goal, finish
from lib.stack import BIN, RESULTS, ROOT, Stack, peak_rss_mb, wait_until

STATES = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN",
    "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH",
    "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
    "VT", "VA", "WA", "WV", "WI", "WY",
]  # fmt: skip

PEOPLE = """INSERT INTO waitlist_subscriber (id, email, email_hash, canonical_email_hash, status,
    interests, state, placement, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
    referrer_url, referral_code, referral_credited, referral_outcome, token_key, created_at,
    confirmed_at, confirmed_number, unsubscribed_at, suppression_reason, erasure_reason,
    signup_ip, referred_by_id, last_active_at)
SELECT n, e, encode(sha256(e::bytea), 'hex'), encode(sha256(e::bytea), 'hex'), status,
    (ARRAY['[]', '["sleep"]', '["testosterone"]', '["weight", "sleep"]', '["peptides"]'])
        [1 + n %% 5]::jsonb,
    (%(states)s::text[])[1 + n %% 51], (ARRAY['inline', 'footer', 'home', 'page'])[1 + n %% 4],
    CASE WHEN n %% 7 = 0 THEN 'newsletter' ELSE '' END, '', '', '', '', '', 'r' || n,
    status = 'confirmed' AND n %% 5 = 0 AND n > 10, '', left(md5(e), 16), joined,
    CASE WHEN status <> 'pending' THEN joined + interval '1 hour' END,
    CASE WHEN status = 'confirmed' THEN n END,
    CASE WHEN status = 'unsubscribed' THEN joined + interval '2 days' END, '', '',
    ('203.0.113.' || n %% 250)::inet, CASE WHEN n %% 5 = 0 AND n > 10 THEN n / 3 END,
    CASE WHEN status = 'confirmed' THEN joined + interval '1 hour' END
FROM (
    SELECT n, 'person' || n || '@example.com' AS e,
        now() - (%(people)s - n) * (interval '365 days' / %(people)s) AS joined,
        CASE WHEN n %% 20 < 17 THEN 'confirmed' WHEN n %% 20 < 19 THEN 'pending'
             ELSE 'unsubscribed' END AS status
    FROM generate_series(1, %(people)s) AS n
) AS s"""
CONSENTS = """INSERT INTO waitlist_consentrecord (subscriber_id, purpose, consent_version,
    consent_text, source, signed_up_at, signup_ip, signup_user_agent, confirmed_at, confirm_ip,
    withdrawn_at, gpc)
SELECT id, 'list', '2026-11', 'Email me updates about the launch.', '', created_at, signup_ip,
    'Mozilla/5.0 (bench)', confirmed_at, signup_ip, unsubscribed_at, false
FROM waitlist_subscriber"""
EMAILS = """INSERT INTO waitlist_outboundemail (subscriber_id, kind, created_at, status, sent_at)
SELECT id, kind, confirmed_at, 'sent', confirmed_at
FROM waitlist_subscriber, (VALUES ('confirmation'), ('welcome')) AS kinds (kind)
WHERE status = 'confirmed'"""
COUNTER = """INSERT INTO waitlist_counter (name, value)
SELECT 'confirmed', max(confirmed_number) FROM waitlist_subscriber"""
# A campaign to everyone, half of it sent: the campaign's page while it sends.
MEASURED = "scale: sending"
SENDING = """INSERT INTO waitlist_delivery (campaign_id, subscriber_id, provider, position, status,
    sent_at, message_id)
SELECT %(campaign)s, id, 'other', row_number() OVER (ORDER BY id DESC),
    CASE WHEN id %% 2 = 0 THEN 'sent' ELSE 'queued' END,
    CASE WHEN id %% 2 = 0 THEN now() - (id %% 600) * interval '1 second' END,
    CASE WHEN id %% 2 = 0 THEN '<' || id || '@scale>' ELSE '' END
FROM waitlist_subscriber WHERE status = 'confirmed'"""
EMPTY = """TRUNCATE waitlist_subscriber, waitlist_consentrecord, waitlist_outboundemail,
    waitlist_campaign, waitlist_delivery, waitlist_counter RESTART IDENTITY CASCADE"""


def generate(stack: Stack, people: int) -> float:
    started = time.perf_counter()
    stack.sql(EMPTY)
    stack.sql(PEOPLE, {"people": people, "states": STATES})
    stack.sql(CONSENTS)
    stack.sql(EMAILS)
    stack.sql(COUNTER)
    for table in ("waitlist_subscriber", "waitlist_consentrecord", "waitlist_outboundemail"):
        stack.sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")
    stack.sql("VACUUM ANALYZE")
    return time.perf_counter() - started


# --- one measurement, in a process of its own ------------------------------------------------


def measure() -> dict[str, float]:
    """Every figure once, after one unmeasured run of each; seconds."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from waitlist.models import Campaign, OutboundEmail, Subscriber
    from waitlist.people import outbox, tokens
    from waitlist.tasks import count_campaign, recount_dashboard

    admin, _ = get_user_model().objects.get_or_create(
        username="scale", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin)
    people = Subscriber.objects.filter(status=Subscriber.Status.CONFIRMED)
    middle = people.filter(pk__gte=Subscriber.objects.count() // 2).order_by("pk").first()
    welcome = f"/waitlist/welcome/{tokens.make_token(tokens.PREFERENCES, key=middle.token_key)}/"
    row = OutboundEmail.objects.create(subscriber=middle, kind=OutboundEmail.Kind.WELCOME)
    everyone = Campaign(name="scale", subject="s", body="b")
    sending = Campaign.objects.filter(name=MEASURED).first()
    if sending is None:  # made once per data set, then kept with it
        sending = Campaign.objects.create(name=MEASURED, subject="s", body="b",
                                          status=Campaign.Status.SENDING)  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(SENDING, {"campaign": sending.pk})
            cursor.execute("ANALYZE waitlist_delivery")
    # The live figures pause it (`live`): its page is measured as it sends.
    Campaign.objects.filter(pk=sending.pk).update(status=Campaign.Status.SENDING)

    def page(path: str):
        def get():
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)

        return get

    def render_welcome():
        copies = outbox.Outbox().copies([(row.pk, middle.pk)])
        assert copies, "the welcome email was not rendered"

    figures = {
        "dashboard": page("/admin/waitlist/subscriber/dashboard/"),
        "dashboard CSV (states)": page("/admin/waitlist/subscriber/dashboard/?csv=states"),
        "consent records list": page("/admin/waitlist/consentrecord/"),
        "subscriber list": page("/admin/waitlist/subscriber/"),
        "subscriber list by state": page("/admin/waitlist/subscriber/?state__exact=TX"),
        "subscriber search by address": page(f"/admin/waitlist/subscriber/?q={middle.email}"),
        "audience count": lambda: everyone.audience().count(),
        "campaign page while sending": page(f"/admin/waitlist/campaign/{sending.pk}/change/"),
        "welcome page": page(welcome),
        "welcome email render": render_welcome,
    }
    # The figures the pages read, as the workers count them: each job's own time, once.
    seconds = {}
    for name, job in [
        ("dashboard's count (the job)", recount_dashboard),
        ("campaign's count (the job)", lambda: count_campaign(sending.pk)),
    ]:
        started = time.perf_counter()
        job()
        seconds[name] = time.perf_counter() - started
    for name, run in figures.items():
        run()
        started = time.perf_counter()
        run()
        seconds[name] = time.perf_counter() - started
    row.delete()
    return seconds


# --- the live figures: the site and a worker running on each data set --------------------------

LIVE = "live-"  # the address of everyone the live figures add; they are deleted after
CSRF = "scalebenchcsrfscalebenchcsrf0000"  # the cookie and the form's token: Django checks both
# No canary (it would hold all but 500 back for half an hour), no site-wide rate, and a
# dispatcher every 5 s.
LIVE_SETTINGS = {
    "CAMPAIGN_RATE_PER_SECOND": "100000", "CAMPAIGN_RATE_PER_HOUR": str(10**9),
    "CAMPAIGN_DISPATCH_SECONDS": "5", "CAMPAIGN_CANARY_FROM": "0", "OUTBOX_SWEEP_SECONDS": "3600",
}  # fmt: skip
WAITING = """INSERT INTO waitlist_subscriber (email, email_hash, canonical_email_hash, status,
    interests, state, placement, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
    referrer_url, referral_code, referral_credited, referral_outcome, token_key, created_at,
    suppression_reason, erasure_reason)
SELECT e, encode(sha256(e::bytea), 'hex'), encode(sha256(e::bytea), 'hex'), 'pending', '[]',
    'TX', 'home', '', '', '', '', '', '', 'lb' || n, false, '', left(md5('lb' || e), 16), now(),
    '', ''
FROM (SELECT n, %(prefix)s || n || '@example.org' AS e FROM generate_series(1, %(count)s) n) s"""
WAITING_CONSENTS = """INSERT INTO waitlist_consentrecord (subscriber_id, purpose,
    consent_version, consent_text, source, signed_up_at, signup_user_agent, gpc)
SELECT id, 'list', '2026-11', 'Email me updates about the launch.', '', created_at,
    'Mozilla/5.0 (bench)', false
FROM waitlist_subscriber WHERE email LIKE %(prefix)s || '%%'"""
LIVE_CAMPAIGN = "(SELECT id FROM waitlist_campaign WHERE name = 'scale: live')"
LIVE_PEOPLE = f"(SELECT id FROM waitlist_subscriber WHERE email LIKE '{LIVE}%')"
FORGET_LIVE = [
    f"DELETE FROM waitlist_delivery WHERE campaign_id IN {LIVE_CAMPAIGN}",
    f"DELETE FROM waitlist_campaignwave WHERE campaign_id IN {LIVE_CAMPAIGN}",
    "DELETE FROM waitlist_campaign WHERE name = 'scale: live'",
    *(
        f"DELETE FROM waitlist_{table} WHERE subscriber_id IN {LIVE_PEOPLE}"
        for table in ("delivery", "outboundemail", "consentrecord")
    ),
    f"DELETE FROM waitlist_subscriber WHERE email LIKE '{LIVE}%'",
]


def tokens_for(prefix: str) -> list[str]:
    """(In a process of its own, on one data set.) The confirmation link's token of each
    person waiting whose address starts with `prefix`, in the order they joined."""
    import django

    django.setup()
    from waitlist.models import ConsentRecord
    from waitlist.people import tokens

    records = ConsentRecord.objects.filter(
        subscriber__email__startswith=prefix, subscriber__status="pending"
    ).order_by("subscriber_id")
    return [
        tokens.make_token(tokens.CONFIRM, key=key, consent_id=pk)
        for pk, key in records.values_list("pk", "subscriber__token_key")
    ]


def new_campaign() -> int:
    """(In a process of its own.) A campaign to everyone, due now: the dispatcher starts it."""
    import django

    django.setup()
    from django.utils import timezone

    from waitlist.models import Campaign

    return Campaign.objects.create(
        name="scale: live", subject="We're live", body="## We're live\n\nBook a visit.",
        status=Campaign.Status.SCHEDULED, send_at=timezone.now(), in_archive=False,
    ).pk  # fmt: skip


def in_process(stack: Stack, *args: str):
    done = subprocess.run(
        [BIN / "python", __file__, *args], cwd=ROOT, capture_output=True, text=True,
        env={**stack.env, "DJANGO_SETTINGS_MODULE": "halftime.settings",
             "PYTHONPATH": str(ROOT)},
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def per_second(answers: list, status: int, what: str) -> float:
    wrong = [a.status for a in answers if a.status != status]
    if wrong:
        raise RuntimeError(f"{what}: {len(wrong)} answered otherwise, e.g. {wrong[:5]}")
    return len(answers) / (max(a.done for a in answers) - min(a.due for a in answers))


def confirming(base: str, links: list[str]):
    def request(i: int) -> tuple[str, bytes]:
        raw = load.form_post(f"{base}/waitlist/confirm/{links[i]}/",
                             f"csrfmiddlewaretoken={CSRF}", cookie=f"csrftoken={CSRF}")  # fmt: skip
        return links[i], raw

    return request


def drained(stack: Stack, count: int, prefix: str, *, campaign: bool, timeout: float) -> list:
    """The arrival times of the first `count` messages of a kind at the sink, once there."""

    def arrived() -> list[float]:
        return sorted(
            a.time for a in stack.sink.arrivals()
            if a.recipient.startswith(prefix) and a.message_id.startswith("<campaign.") == campaign
        )  # fmt: skip

    wait_until(lambda: len(arrived()) >= count, timeout=timeout, what=f"{count} messages", every=1)
    return arrived()[:count]


def rate_over(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0])


def live(stack: Stack, args) -> dict[str, float]:
    """Signups, confirmations, a burst of confirmations with their welcome emails, and the first
    messages of a campaign to everyone: each a rate per second; and the worker's peak RSS."""
    for statement in FORGET_LIVE:
        stack.sql(statement)
    # The campaign whose page is measured is not sent meanwhile: only the live one goes out.
    stack.sql(f"UPDATE waitlist_campaign SET status = 'paused' WHERE name = '{MEASURED}'")
    base = stack.gunicorn(workers=2)
    worker = stack.worker(queues="mail,campaigns,default", concurrency=2)
    figures = {}

    def signup(i: int) -> tuple[str, bytes]:
        email = f"{LIVE}signup-{i}@example.org"
        return email, load.json_post(base + "/api/waitlist/", {"email": email})

    answers = load.closed_loop(base, signup, connections=32, count=args.signups)
    figures["signups/s"] = per_second(answers, 202, "signups")
    links = in_process(stack, "--tokens", f"{LIVE}signup-")
    answers = load.closed_loop(base, confirming(base, links), connections=32, count=len(links))
    figures["confirmations/s"] = per_second(answers, 302, "confirmations")

    stack.sql(WAITING, {"prefix": f"{LIVE}burst-", "count": args.burst})
    stack.sql(WAITING_CONSENTS, {"prefix": f"{LIVE}burst-"})
    stack.sql("ANALYZE waitlist_subscriber")
    links = in_process(stack, "--tokens", f"{LIVE}burst-")
    stack.sink.clear()
    load.closed_loop(base, confirming(base, links), connections=32, count=len(links))
    times = drained(stack, len(links), f"{LIVE}burst-", campaign=False, timeout=1800)
    figures["burst welcome emails/s"] = rate_over(times[: int(0.95 * len(times))])

    stack.sink.clear()
    schedule = RESULTS / "scale-beat-schedule"
    beat = stack.start("beat", [BIN / "celery", "-A", "halftime", "beat", "--loglevel",
                                "WARNING", "--schedule", schedule])  # fmt: skip
    audience = stack.sql(
        "SELECT count(*) FROM waitlist_subscriber WHERE status = 'confirmed'"
        " AND suppressed_at IS NULL AND email IS NOT NULL"
    )[0][0]
    first = min(args.campaign_first, audience)
    in_process(stack, "--campaign")
    times = drained(stack, first, "", campaign=True, timeout=3600)
    figures["campaign emails/s"] = rate_over(times)
    figures["worker peak RSS MB"] = peak_rss_mb(worker.pid)
    stack.sql("UPDATE waitlist_campaign SET status = 'cancelled' WHERE name = 'scale: live'")
    for process in (beat, worker):
        stack.stop(process)
    for statement in FORGET_LIVE:
        stack.sql(statement)
    return figures


# --- the run -----------------------------------------------------------------------------------

ADMIN = (
    "dashboard", "dashboard CSV (states)", "consent records list", "subscriber list",
    "subscriber list by state", "subscriber search by address", "audience count",
    "campaign page while sending",
)  # fmt: skip
PERSONAL = ("welcome page", "welcome email render")


def one_measurement(stack: Stack) -> dict[str, float]:
    return in_process(stack, "--measure")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--live-rounds", type=int, default=1,
                        help="rounds of the live figures (0: none)")  # fmt: skip
    parser.add_argument("--signups", type=int, default=2_000)
    parser.add_argument("--burst", type=int, default=20_000, help="confirmations at once")
    parser.add_argument("--campaign-first", type=int, default=50_000,
                        help="a campaign's rate is measured over its first messages")  # fmt: skip
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tokens", help=argparse.SUPPRESS)
    parser.add_argument("--campaign", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure()))
        return
    if args.tokens:
        print(json.dumps(tokens_for(args.tokens)))
        return
    if args.campaign:
        print(json.dumps(new_campaign()))
        return
    sizes = {"small": args.small, "big": args.big}
    stacks = {
        label: Stack(f"scale-{label}", database=f"halftime_scale_{people}", redis_db=7,
                     keep_data=True, PAGE_CACHE_SECONDS="0", **LIVE_SETTINGS)
        for label, people in sizes.items()
    }  # fmt: skip
    generated = {}
    for label, stack in stacks.items():
        with stack:
            have = stack.sql("SELECT count(*) FROM waitlist_subscriber")[0][0]
            if args.regenerate or have != sizes[label]:
                generated[label] = generate(stack, sizes[label])
                print(f"{sizes[label]:,} people generated in {generated[label]:.0f} s")
            elif stack.sql("SHOW autovacuum")[0][0] == "off":
                # What autovacuum would have done after the last run and any migration that
                # rewrote rows: without it, every scan reads their dead versions too.
                stack.sql("VACUUM ANALYZE")
                print(f"{sizes[label]:,}: vacuumed (this server's autovacuum is off)")
    runs: dict[str, list[dict]] = {"small": [], "big": []}
    for round_ in range(args.rounds):
        for label, stack in stacks.items():
            with stack:
                runs[label].append(one_measurement(stack))
        print(f"round {round_ + 1} of {args.rounds} measured")
    medians = {
        label: {name: statistics.median(run[name] for run in measured) for name in measured[0]}
        for label, measured in runs.items()
    }
    print(f"\n{'figure':<30} {sizes['small']:>10,} {sizes['big']:>10,}  ratio")
    for name in medians["small"]:
        small, big = medians["small"][name], medians["big"][name]
        print(f"{name:<30} {small * 1000:>8.1f} ms {big * 1000:>8.1f} ms  {big / small:5.1f}×")
    goals = []
    for name in ADMIN:
        small, big = medians["small"][name], medians["big"][name]
        goals.append(Goal(
            f"{name}: ≤ 2× and < 1 s at {args.big:,}",
            f"{big * 1000:.0f} ms vs {small * 1000:.0f} ms = {big / small:.1f}×",
            big / small <= 2 and big < 1,
        ))  # fmt: skip
    for name in PERSONAL:
        small, big = medians["small"][name], medians["big"][name]
        goals.append(Goal(
            f"{name}: ≤ 1.5×", f"{big * 1000:.1f} ms vs {small * 1000:.1f} ms = {big / small:.1f}×",
            big / small <= 1.5,
        ))  # fmt: skip
    lived: dict[str, list[dict]] = {"small": [], "big": []}
    for round_ in range(args.live_rounds):
        for label, stack in stacks.items():
            with stack:
                lived[label].append(live(stack, args))
        print(f"live round {round_ + 1} of {args.live_rounds} measured")
    if args.live_rounds:
        live_medians = {
            label: {name: statistics.median(run[name] for run in runs_) for name in runs_[0]}
            for label, runs_ in lived.items()
        }
        small, big = live_medians["small"], live_medians["big"]
        for name in small:
            ratio = big[name] / small[name]
            print(f"{name:<30} {small[name]:>10.1f} {big[name]:>10.1f}  {ratio:5.2f}×")
        for name, most in (("signups/s", 1.2), ("confirmations/s", 1.2)):
            goals.append(Goal(
                f"{name.split('/')[0]}: each takes ≤ {most}× as long at {args.big:,}",
                f"{big[name]:.0f}/s vs {small[name]:.0f}/s = {small[name] / big[name]:.2f}×",
                small[name] / big[name] <= most,
            ))  # fmt: skip
        for name, least, what in (
            ("burst welcome emails/s", 0.8, f"a burst of {args.burst:,} confirmations drained"),
            (
                "campaign emails/s",
                0.9,
                f"a campaign to everyone, its first {args.campaign_first:,}",
            ),
        ):
            goals.append(Goal(
                f"{what}: ≥ {least}× the rate at {args.small:,}",
                f"{big[name]:.0f}/s vs {small[name]:.0f}/s = {big[name] / small[name]:.2f}×",
                big[name] / small[name] >= least,
            ))  # fmt: skip
        rss = "worker peak RSS MB"
        goals.append(Goal(
            "the worker's peak memory: ≤ 1.1×",
            f"{big[rss]:.1f} MB vs {small[rss]:.1f} MB = {big[rss] / small[rss]:.2f}×",
            big[rss] / small[rss] <= 1.1,
        ))  # fmt: skip
    finish("scale", goals, {"sizes": sizes, "generated_s": generated, "runs": runs,
                            "medians": medians, "live": lived})  # fmt: skip


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
