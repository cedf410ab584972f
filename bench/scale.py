"""The list at 10,000 and at 1,000,000 people: what each page and job costs at both sizes, measured
in one run, the two sizes interleaved.

    .venv/bin/python bench/scale.py                    # 10,000 and 1,000,000 (data kept)
    .venv/bin/python bench/scale.py --big 200000       # a quicker look
    .venv/bin/python bench/scale.py --regenerate       # make both data sets anew

Each size has a database of its own (halftime_scale_<size>), generated in SQL from the current
schema and kept between runs: realistic people (85% confirmed, 10% pending, 5% unsubscribed,
joined over a year, one in five referred by someone earlier, interests and states spread), a
consent record each, and the confirmation and welcome emails sent to everyone confirmed.

Each round measures every figure once at 10,000 and then once at the big size, in a process of
its own (`--measure`), after one unmeasured request to warm it; the figure is the median of
`--rounds`, and the ratio is big ÷ small. The admin pages are read as a signed-in superuser
through Django's test client (the whole request: middleware, view, template).

Goals (issue 31): every admin page and the audience count ≤ 2× and under 1 s at the big size;
the welcome page and the welcome email's render ≤ 1.5×."""

import argparse
import json
import statistics
import subprocess
import sys
import time

from lib.report import Goal, finish
from lib.stack import BIN, ROOT, Stack

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
    from waitlist.tasks import recount_dashboard

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
    sending = Campaign.objects.filter(name="scale: sending").first()
    if sending is None:  # made once per data set, then kept with it
        sending = Campaign.objects.create(name="scale: sending", subject="s", body="b",
                                          status=Campaign.Status.SENDING)  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(SENDING, {"campaign": sending.pk})
            cursor.execute("ANALYZE waitlist_delivery")

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
    # The dashboard's figures as the periodic job counts them: the job's own time, once.
    started = time.perf_counter()
    recount_dashboard()
    seconds = {"dashboard's count (the job)": time.perf_counter() - started}
    for name, run in figures.items():
        run()
        started = time.perf_counter()
        run()
        seconds[name] = time.perf_counter() - started
    row.delete()
    return seconds


# --- the run -----------------------------------------------------------------------------------

ADMIN = (
    "dashboard", "dashboard CSV (states)", "consent records list", "subscriber list",
    "subscriber list by state", "subscriber search by address", "audience count",
    "campaign page while sending",
)  # fmt: skip
PERSONAL = ("welcome page", "welcome email render")


def one_measurement(stack: Stack) -> dict[str, float]:
    done = subprocess.run(
        [BIN / "python", __file__, "--measure"], cwd=ROOT, capture_output=True, text=True,
        env={**stack.env, "DJANGO_SETTINGS_MODULE": "halftime.settings",
             "PYTHONPATH": str(ROOT)},
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure()))
        return
    sizes = {"small": args.small, "big": args.big}
    stacks = {
        label: Stack(f"scale-{label}", database=f"halftime_scale_{people}", redis_db=7,
                     keep_data=True, PAGE_CACHE_SECONDS="0")
        for label, people in sizes.items()
    }  # fmt: skip
    generated = {}
    for label, stack in stacks.items():
        with stack:
            have = stack.sql("SELECT count(*) FROM waitlist_subscriber")[0][0]
            if args.regenerate or have != sizes[label]:
                generated[label] = generate(stack, sizes[label])
                print(f"{sizes[label]:,} people generated in {generated[label]:.0f} s")
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
    finish("scale", goals, {"sizes": sizes, "generated_s": generated, "runs": runs,
                            "medians": medians})  # fmt: skip


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
