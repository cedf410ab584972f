"""Campaigns end to end: real Celery worker and beat processes, Redis, PostgreSQL and an SMTP
sink. A broker database of their own keeps other tests' workers out of these campaigns."""

import os
import signal
from collections import Counter

import pytest
import redis
from django.utils import timezone

from tests.conftest import worker_env
from tests.factories import CampaignFactory
from tests.processes import SIDE_BROKER, celery_beat, celery_worker, wait_until
from waitlist.campaigns import emails
from waitlist.models import Campaign, Delivery, Subscriber, email_hash
from waitlist.people import links

pytestmark = pytest.mark.django_db(transaction=True)


def people(count: int, *, prefix: str, **fields) -> list[Subscriber]:
    rows = [
        Subscriber(
            email=f"{prefix}{i}@example.com",
            email_hash=email_hash(f"{prefix}{i}@example.com"),
            canonical_email_hash=email_hash(f"{prefix}{i}@example.com"),
            status=fields.get("status", Subscriber.Status.CONFIRMED),
            confirmed_at=timezone.now(),
            state=fields.get("state", "TX"),
            interests=fields.get("interests", ["sleep"]),
            referral_code=f"{prefix[:8]}{i}",
        )
        for i in range(count)
    ]
    return Subscriber.objects.bulk_create(rows)


@pytest.fixture
def engine(smtp_sink, django_db_setup):
    """Start worker and beat processes on the campaigns' own broker; stop them at the end."""
    redis.Redis.from_url(SIDE_BROKER).flushdb()
    started = []

    def start(*, beat: bool = True, **extra: str):
        env = worker_env(
            smtp_sink,
            CELERY_BROKER_URL=SIDE_BROKER,
            CAMPAIGN_DISPATCH_SECONDS="1",
            OUTBOX_SWEEP_SECONDS="3600",
            **{"CAMPAIGN_RATE_PER_SECOND": "5000", **extra},
        )
        process = celery_worker(env, queues="campaigns,default")
        started.append(process)
        if beat:
            started.append(celery_beat(env))
        return process

    yield start
    for process in started:
        process.stop()
    redis.Redis.from_url(SIDE_BROKER).flushdb()


def launch(**fields) -> Campaign:
    return CampaignFactory(
        name="Live in Texas",
        subject="We're live in Texas",
        body="## We're live\n\nBook your first visit.",
        audience_states=["TX"],
        audience_interests=["sleep"],
        status=Campaign.Status.SCHEDULED,
        send_at=timezone.now(),
        **fields,
    )


def test_a_scheduled_campaign_reaches_each_right_address_exactly_once(engine, smtp_sink):
    smtp_sink.clear()
    segment = people(1000, prefix="tx")
    people(100, prefix="ca", state="CA")
    people(50, prefix="peptides", interests=["peptides"])
    people(50, prefix="pending", status=Subscriber.Status.PENDING)
    campaign = launch()
    engine(CAMPAIGN_RATE_PER_SECOND="400")

    smtp_sink.wait_for(100, timeout=60)
    leavers = segment[:50]  # the earliest to confirm: the last in the send order
    for person in leavers:
        links.unsubscribe(subscriber_id=person.pk)
    wait_until(
        lambda: Campaign.objects.get(pk=campaign.pk).status == "sent",
        timeout=90,
        message="the campaign did not finish",
    )

    received = Counter(address for m in smtp_sink.messages for address in m.envelope_to)
    rows = {d.subscriber.email: d for d in Delivery.objects.select_related("subscriber")}
    assert set(rows) == {p.email for p in segment}
    assert set(received) <= set(rows), "mail reached someone outside the segment"
    for email, delivery in rows.items():
        assert received[email] == (1 if delivery.status == "sent" else 0), email
    leaver_emails = {p.email for p in leavers}
    assert all(rows[e].status == "sent" for e in rows if e not in leaver_emails)
    assert sum(1 for e in leaver_emails if rows[e].status == "skipped") > 0
    assert received.total() == 1000 - sum(1 for e in leaver_emails if rows[e].status == "skipped")

    sample = smtp_sink.to(segment[-1].email)[0].message
    assert sample["Message-ID"] == emails.campaign_message_id(campaign.pk, segment[-1].pk)
    assert sample["List-Unsubscribe"].strip().startswith("<http://localhost:8000/u/")
    assert "mailto:" in sample["List-Unsubscribe"]
    assert sample["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sample["List-Id"] == "Halftime Health launch updates <launch.localhost>"


def test_a_worker_killed_mid_campaign_loses_nobody_and_duplicates_only_what_was_in_flight(
    engine, smtp_sink
):
    smtp_sink.clear()
    segment = people(1500, prefix="crash")
    campaign = launch()
    doomed = engine(CAMPAIGN_RATE_PER_SECOND="300", CAMPAIGN_LEASE_SECONDS="3")

    smtp_sink.wait_for(300, timeout=60)
    os.killpg(doomed.popen.pid, signal.SIGKILL)
    doomed.popen.wait()
    in_flight = Delivery.objects.filter(status="sending").count()
    assert Campaign.objects.get(pk=campaign.pk).status == "sending"

    engine(beat=False, CAMPAIGN_RATE_PER_SECOND="2000", CAMPAIGN_LEASE_SECONDS="3")
    wait_until(
        lambda: Campaign.objects.get(pk=campaign.pk).status == "sent",
        timeout=120,
        message="the campaign did not finish after the crash",
    )

    copies = Counter(address for m in smtp_sink.messages for address in m.envelope_to)
    assert set(copies) == {p.email for p in segment}, "someone was skipped"
    duplicates = sum(n - 1 for n in copies.values())
    assert duplicates <= in_flight, (duplicates, in_flight)
    ids = {}
    for message in smtp_sink.messages:
        address = message.envelope_to[0]
        assert (
            ids.setdefault(address, message.message["Message-ID"]) == message.message["Message-ID"]
        )
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


def test_a_server_that_asks_everyone_to_try_later_once_delays_the_campaign_seconds_not_minutes(
    engine, smtp_sink
):
    smtp_sink.clear()
    segment = people(50, prefix="later")
    smtp_sink.answer_rcpt = lambda address, offered: (
        "421 4.7.0 Try again later, closing connection" if offered == 1 else None
    )
    campaign = launch()
    engine()
    wait_until(
        lambda: Campaign.objects.get(pk=campaign.pk).status == "sent",
        timeout=60,
        message="the campaign did not finish within a minute",
    )
    received = Counter(address for m in smtp_sink.messages for address in m.envelope_to)
    assert received == Counter({p.email: 1 for p in segment})
    assert set(smtp_sink.offered.values()) == {2}, "each tried twice: refused, then accepted"
    assert set(Delivery.objects.values_list("status", "attempts", "deferrals")) == {("sent", 1, 1)}
