"""Drill 8, launch day: a campaign to 50,000 people at four mailbox providers and others, each
provider at its own pace, through a sink that answers like them.

    .venv/bin/python bench/drill_launch.py                   # 50,000 people
    .venv/bin/python bench/drill_launch.py --people 5000     # a quick look

A local DNS server (dnslib, tests/dnsserver.py) gives each test domain its provider's mail
exchangers: gmail.test Google, outlook.test Microsoft, yahoo.test Yahoo, icloud.test Apple,
fastmail.test other, and refusing.test Microsoft. The SMTP sink (bench/lib/sink.py) answers
`421` (and closes) to 20% of gmail.test's first attempts, `454` to yahoo.test beyond 600 a
minute, and `550 5.7.515` (our sender not authenticated) to refusing.test. Each provider's pace
is set (Google 3,000 a minute, Microsoft 1,500, Yahoo 540, Apple 600, other no limit); two
Celery workers as the Procfile runs them and one beat send a campaign to everyone, scheduled
for now, with no canary.

Goals: every recipient but refusing.test's got the message, once; no row is shown as sent
before the sink accepted it; each provider's pace at the sink (attempts a minute, from its
fifth second to when nine in ten of its attempts were made) within ±10% of its setting;
refusing.test's mail held, nobody suppressed, the campaign paused naming it.

Then the canary (`--canary-people`, 10,000): the site sends through an email service
(Postmark's API, played by a local HTTP server: the one thing outside this machine), a
campaign's first 1% goes out, and one spam complaint is posted to the site's Postmark webhook
(through gunicorn) while the rest waits CAMPAIGN_CANARY_MINUTES (1 here). Goals: the campaign
pauses before its second wave with the complaint rate in its reason, nobody past the canary is
mailed, and the operator's Resume sends the rest, each once. Figures in
bench/results/drill_launch.json."""

import argparse
import base64
import collections
import json
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lib.report import Goal, finish
from lib.stack import BIN, RESULTS, ROOT, Stack, free_port, wait_until

sys.path.insert(0, str(ROOT))
from tests.dnsserver import ZoneServer  # noqa: E402  (the tests' DNS server, from the root)

QUEUES = "mail,campaigns,default"  # the Procfile's worker line
# domain: (its provider, its mail exchanger, its share of the people, in hundredths)
DOMAINS = {
    "gmail.test": ("google", "gmail-smtp-in.l.google.com", 40),
    "outlook.test": ("microsoft", "outlook-test.mail.protection.outlook.com", 20),
    "yahoo.test": ("yahoo", "mta5.am0.yahoodns.net", 8),
    "icloud.test": ("apple", "mx01.mail.icloud.com", 8),
    "fastmail.test": ("other", "in1-smtp.messagingengine.com", 23),
    "refusing.test": ("microsoft", "refusing-test.mail.protection.outlook.com", 1),
}
PACES = {"google": 3000, "microsoft": 1500, "yahoo": 540, "apple": 600, "other": None}
REFUSAL = "550 5.7.515 Access denied, sending domain does not meet the authentication level."
RULES = {
    "first_421": {"gmail.test": 0.2},
    "limit_454": {"yahoo.test": 600},
    "refuse": {"refusing.test": REFUSAL},
}
SETTINGS = {
    "CAMPAIGN_DISPATCH_SECONDS": "5",
    "CAMPAIGN_RATE_PER_SECOND": "1000",
    "CAMPAIGN_RATE_PER_HOUR": str(10**9),
    "CAMPAIGN_CANARY_FROM": "0",
    "OUTBOX_SWEEP_SECONDS": "3600",
}
# The people, each at a domain by the hundredths above.
SEED = """
INSERT INTO waitlist_subscriber (email, email_hash, canonical_email_hash, status, interests,
    state, placement, utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer_url,
    referral_code, referral_credited, referral_outcome, token_key, created_at, confirmed_at,
    suppression_reason, erasure_reason)
SELECT e, md5(e) || md5('#' || e), md5(e) || md5('#' || e), 'confirmed', '["sleep"]', 'TX', '',
       '', '', '', '', '', '', 'r' || g, false, '', left(md5('key' || g), 16), now(), now(), '', ''
FROM (SELECT g, 'p' || g || '@' || (%(domains)s::text[])[1 + (SELECT count(*)
             FROM unnest(%(bounds)s::int[]) AS b WHERE mod(g, 100) >= b)::int] AS e
      FROM generate_series(1, %(n)s) AS g) AS people
"""
CAMPAIGN = (
    "from django.utils import timezone; from waitlist.models import Campaign; "
    "Campaign.objects.create(name='Launch drill', subject='Halftime Health is live in Texas', "
    "body='## We are live in Texas\\n\\n[Book your first video visit](https://x.org/book)', "
    "status='scheduled', send_at=timezone.now())"
)


def engine(stack: Stack) -> None:
    """Two workers as the Procfile runs them, and one beat."""
    for _ in range(2):
        stack.worker(queues=QUEUES)
    stack.start("beat", [BIN / "celery", "-A", "halftime", "beat", "--loglevel", "INFO",
                         "--schedule", RESULTS / f"{stack.name}-beat.schedule"])  # fmt: skip


def zone() -> str:
    return "\n".join(
        f"{domain}. 3600 IN MX 10 {exchanger}." for domain, (_, exchanger, _) in DOMAINS.items()
    )


def bounds() -> list[int]:
    """Where each domain's hundredths end, but the last."""
    ends, total = [], 0
    for _, _, share in list(DOMAINS.values())[:-1]:
        total += share
        ends.append(total)
    return ends


def paces(stack: Stack) -> None:
    for provider, per_minute in PACES.items():
        stack.sql(
            "UPDATE waitlist_pace SET per_minute = %s, sessions = %s WHERE provider = %s",
            [per_minute, 4 if provider in ("google", "other") else 2, provider],
        )


def steady_rate(times: list[float]) -> float | None:
    """Attempts a minute at full speed: from the fifth second to when nine in ten attempts were
    made (the last tenth is the tail of deferred messages, each waiting its own time)."""
    if len(times) < 20:
        return None
    start, end = times[0] + 5, times[int(len(times) * 0.9)]
    if end - start < 15:
        return None
    return sum(start <= t <= end for t in times) / (end - start) * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--canary-people", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    figures, goals = paced(args)
    canary_figures, canary_goals = canary(args)
    figures["canary"] = canary_figures
    sys.exit(0 if finish("drill_launch", goals + canary_goals, figures) else 1)


def paced(args) -> tuple[dict, list[Goal]]:
    dns = ZoneServer(zone()).start()
    stack = Stack("drill-launch", database="halftime_drill_launch", redis_db=7,
                  DNS_RESOLVER=dns.address, **SETTINGS)  # fmt: skip
    stack.sink.rules = RULES
    try:
        with stack:
            stack.sql("TRUNCATE waitlist_maildomain")
            domains = list(DOMAINS)
            stack.sql(SEED, {"n": args.people, "domains": domains, "bounds": bounds()})
            paces(stack)
            stack.manage("shell", "-v", "0", "-c",
                         "from waitlist.people import domains; domains.refresh()")  # fmt: skip
            known = dict(stack.sql("SELECT domain, provider FROM waitlist_maildomain"))
            engine(stack)
            started = time.time()
            stack.manage("shell", "-v", "0", "-c", CAMPAIGN)

            def ended() -> bool:
                return stack.sql("SELECT status FROM waitlist_campaign")[0][0] in (
                    "paused", "sent", "cancelled"
                )  # fmt: skip

            wait_until(ended, timeout=args.timeout, what="the campaign to end", every=1)
            took = time.time() - started
            time.sleep(3)
            return check(stack, args.people, known, took)
    finally:
        dns.stop()


def check(stack: Stack, people: int, known: dict, took: float) -> tuple[dict, list[Goal]]:
    rows = stack.sql(
        "SELECT s.email, d.status, extract(epoch FROM d.sent_at), s.suppressed_at IS NOT NULL"
        " FROM waitlist_delivery d JOIN waitlist_subscriber s ON s.id = d.subscriber_id"
    )
    status, reason = stack.sql("SELECT status, pause_reason FROM waitlist_campaign")[0]
    arrivals = collections.defaultdict(list)
    attempts = collections.defaultdict(list)
    for arrival in stack.sink.arrivals():
        arrivals[arrival.recipient].append(arrival.time)
        attempts[DOMAINS[arrival.recipient.rpartition("@")[2]][0]].append(arrival.time)
    refusals = stack.sink.refusals()
    for refusal in refusals:
        domain = refusal.recipient.rpartition("@")[2]
        if domain != "refusing.test":
            attempts[DOMAINS[domain][0]].append(refusal.time)
    expected = {email for email, *_ in rows if not email.endswith("@refusing.test")}
    missing = expected - arrivals.keys()
    duplicates = sum(len(times) - 1 for times in arrivals.values() if len(times) > 1)
    early = sum(
        1
        for email, state, sent_at, _ in rows
        if state == "sent"
        and (email not in arrivals or min(arrivals[email]) > float(sent_at) + 0.5)
    )
    held = [state for email, state, *_ in rows if email.endswith("@refusing.test")]
    suppressed = sum(1 for *_, was in rows if was)
    rates = {}
    for provider, per_minute in PACES.items():
        rate = steady_rate(sorted(attempts[provider]))
        rates[provider] = {"setting": per_minute, "measured": rate and round(rate)}
    codes = collections.Counter(refusal.code for refusal in refusals)
    figures = {
        "people": people,
        "providers_known": known,
        "seconds_to_end": round(took),
        "campaign": status,
        "pause_reason": reason,
        "rows": dict(collections.Counter(state for _, state, *_ in rows)),
        "refusals_by_code": dict(codes),
        "paces_a_minute": rates,
    }
    goals = [
        Goal("every recipient but the refusing domain's got the message",
             f"{len(missing)} skipped of {len(expected):,}", not missing),
        Goal("nobody got it twice", f"{duplicates} duplicates", duplicates == 0),
        Goal("no row shown as sent before the sink accepted it", f"{early} rows", early == 0),
        Goal("4xx answers were a delay: deferred and sent",
             f"{codes.get(421, 0)} × 421, {codes.get(454, 0)} × 454", codes.get(421, 0) > 0),
        Goal("the 5.7.515 domain's mail held, nobody suppressed, the campaign paused naming it",
             f"{held.count('held')} of {len(held)} held, {suppressed} suppressed, {status}",
             held and set(held) == {"held"} and suppressed == 0 and status == "paused"
             and "refusing.test" in reason),
    ]  # fmt: skip
    for provider, figure in rates.items():
        setting, measured = figure["setting"], figure["measured"]
        if setting is None:
            continue
        goals.append(Goal(
            f"{provider}'s pace within ±10% of {setting:,} a minute",
            "too short to measure" if measured is None else f"{measured:,} a minute",
            measured is not None and abs(measured - setting) <= setting * 0.10,
        ))  # fmt: skip
    return figures, goals


# --- the canary, through an email service ---------------------------------------------------


class FakePostmark:
    """Postmark's sending API as a local HTTP server: each message accepted with an id of its
    own, its recipient and time kept."""

    def __init__(self):
        self.accepted: list[tuple[float, str, str]] = []  # (time, recipient, its id)
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                message_id = str(uuid.uuid4())
                with owner.lock:
                    owner.accepted.append((time.time(), body["To"], message_id))
                answer = json.dumps({"To": body["To"], "MessageID": message_id,
                                     "ErrorCode": 0, "Message": "OK"}).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self) -> int:
        with self.lock:
            return len(self.accepted)

    def stop(self) -> None:
        self.server.shutdown()


def complain(site: str, recipient: str, message_id: str) -> int:
    """A spam complaint as Postmark's webhook posts it."""
    body = json.dumps({
        "RecordType": "SpamComplaint", "Type": "SpamComplaint", "TypeCode": 512,
        "MessageID": message_id, "Email": recipient, "BouncedAt": "2026-12-06T12:00:00Z",
        "Description": "The subscriber explicitly marked this message as spam.",
    }).encode()  # fmt: skip
    request = urllib.request.Request(
        f"{site}/anymail/postmark/tracking/", data=body, method="POST",
        headers={"Content-Type": "application/json",
                 "Authorization": "Basic " + base64.b64encode(b"drill:secret").decode()},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def canary(args) -> tuple[dict, list[Goal]]:
    api = FakePostmark()
    service = {
        "EMAIL_ESP": "postmark", "ANYMAIL_POSTMARK_SERVER_TOKEN": "drill",
        "ANYMAIL_POSTMARK_API_URL": api.url, "ANYMAIL_WEBHOOK_SECRET": "drill:secret",
        "CAMPAIGN_CANARY_FROM": "5000", "CAMPAIGN_CANARY_MINUTES": "1",
    }  # fmt: skip
    stack = Stack("drill-canary", database="halftime_drill_launch", redis_db=7,
                  **{**SETTINGS, **service})  # fmt: skip
    people = args.canary_people
    try:
        with stack:
            stack.sql(SEED, {"n": people, "domains": ["fastmail.test"], "bounds": [100]})
            site = stack.gunicorn()
            engine(stack)
            stack.manage("shell", "-v", "0", "-c", CAMPAIGN)
            first = min(500, -(-people // 100))
            wait_until(lambda: api.count() >= first, timeout=120, what="the canary at the API")
            when, recipient, message_id = api.accepted[0]
            status = complain(site, recipient, message_id)

            def campaign() -> tuple[str, str]:
                return stack.sql("SELECT status, pause_reason FROM waitlist_campaign")[0]

            wait_until(lambda: campaign()[0] != "sending", timeout=180, what="the canary's end")
            held, reason = campaign()
            at_pause = api.count()
            time.sleep(10)  # anything past the canary would arrive meanwhile
            after_pause = api.count()
            stack.manage("shell", "-v", "0", "-c", RESUME)
            wait_until(lambda: campaign()[0] == "sent", timeout=args.timeout,
                       what="the campaign to end after the resume", every=1)  # fmt: skip
            time.sleep(3)
    finally:
        api.stop()
    reached = collections.Counter(recipient for _, recipient, _ in api.accepted)
    twice = sum(reached.values()) - len(reached)
    figures = {
        "people": people, "canary": first, "webhook_status": status,
        "status_after_canary": held, "pause_reason": reason,
        "at_the_api_when_paused": at_pause, "ten_seconds_later": after_pause,
        "at_the_api_in_the_end": sum(reached.values()),
    }  # fmt: skip
    rate = f"spam complaints {1 / first:.1%} (1 of {first:,})"
    goals = [
        Goal("canary: a complaint pauses the campaign before its second wave, its rate said",
             f"{held}: {reason[:90]}…", held == "paused" and rate in reason),
        Goal("canary: nobody past the canary mailed while it is paused",
             f"{after_pause:,} at the API (canary {first:,})", after_pause == first),
        Goal("canary: the operator's Resume sends the rest, each once",
             f"{len(reached):,} of {people:,} reached, {twice} twice",
             len(reached) == people and twice == 0),
    ]  # fmt: skip
    return figures, goals


RESUME = (
    "from waitlist.models import Campaign; from waitlist.campaigns import actions; "
    "actions.resume(Campaign.objects.get())"
)


if __name__ == "__main__":
    main()
