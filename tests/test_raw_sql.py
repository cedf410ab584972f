"""Every SQL statement the project writes by hand, run on the database of this run. The suite
runs on PostgreSQL and again on SQLite (`dev.py test`), so each of these runs on both."""

import ast
import datetime as dt
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from tests.factories import CampaignFactory, SubscriberFactory
from waitlist.campaigns import dispatch
from waitlist.models import Campaign, Delivery, Subscriber
from waitlist.people import importing, places

ROOT = Path(__file__).resolve().parents[1]
APPS = ("halftime", "articles", "waitlist")

# (file, function) of every `cursor.execute` in the apps; each has a test below.
RAW_STATEMENTS = {
    ("halftime/views.py", "_database_ok"),
    ("waitlist/admin/paging.py", "estimated_rows"),
    ("waitlist/campaigns/dispatch.py", "create_deliveries"),
    ("waitlist/campaigns/dispatch.py", "make_rows"),
    ("waitlist/models/engine.py", "claim"),
    ("waitlist/people/importing.py", "_insert"),
    ("waitlist/people/places.py", "number_new"),
}

pytestmark = pytest.mark.django_db


def raw_statements_in_the_code() -> set[tuple[str, str]]:
    found = set()
    for path in sorted(p for app in APPS for p in (ROOT / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "execute":
                    found.add((str(path.relative_to(ROOT)), function.name))
    return found


def test_every_hand_written_statement_is_one_this_module_runs():
    assert raw_statements_in_the_code() == RAW_STATEMENTS


def test_readiness_asks_the_database(client):
    assert client.get("/readyz").json()["checks"]["database"] is True


def test_a_table_s_size_is_read_from_the_planner_where_it_keeps_one():
    from django.db import connection

    from waitlist.admin import paging

    SubscriberFactory.create_batch(3)
    if connection.vendor != "postgresql":
        assert paging.estimated_rows(Subscriber.objects.all()) is None  # SQLite keeps none
        return
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE waitlist_subscriber")
    assert paging.estimated_rows(Subscriber.objects.all()) == 3


def campaign_to(**audience) -> Campaign:
    return CampaignFactory(
        name="Live", subject="Live", body="Hello", status=Campaign.Status.SENDING, **audience
    )


def test_delivery_rows_are_made_for_the_segment_once():
    texas_sleep = SubscriberFactory(state="TX", interests=["sleep"])
    SubscriberFactory(state="TX", interests=["weight"])
    SubscriberFactory(state="CA", interests=["sleep"])
    SubscriberFactory(state="TX", interests=["sleep"], status="pending", confirmed_at=None)
    campaign = campaign_to(audience_states=["TX"], audience_interests=["sleep"])

    assert dispatch.create_deliveries(campaign) == 1
    assert dispatch.create_deliveries(campaign) == 0
    assert list(Delivery.objects.values_list("campaign", "subscriber", "status")) == [
        (campaign.pk, texas_sleep.pk, "queued")
    ]


def test_each_row_s_place_in_the_send_order_puts_the_most_recently_confirmed_first():
    now = timezone.now()
    for email, ago in [("three@example.com", 3), ("two@example.com", 2), ("one@example.com", 1)]:
        SubscriberFactory(email=email, confirmed_at=now - dt.timedelta(hours=ago))  # in turn
    dispatch.create_deliveries(campaign_to())
    assert list(
        Delivery.objects.order_by("position").values_list("position", "subscriber__email")
    ) == [(1, "one@example.com"), (2, "two@example.com"), (3, "three@example.com")]


def test_a_claim_takes_only_queued_rows_that_are_due_and_counts_the_attempt():
    people = SubscriberFactory.create_batch(4)
    campaign = campaign_to()
    dispatch.create_deliveries(campaign)
    rows = {d.subscriber_id: d for d in Delivery.objects.all()}
    Delivery.objects.filter(pk=rows[people[1].pk].pk).update(status="sent")
    later = timezone.now() + dt.timedelta(minutes=5)
    Delivery.objects.filter(pk=rows[people[2].pk].pk).update(not_before=later)
    low, high = min(d.pk for d in rows.values()), max(d.pk for d in rows.values())

    in_range = Delivery.objects.filter(campaign=campaign, pk__range=(low, high))
    claimed = in_range.claim()

    assert claimed == sorted((rows[p.pk].pk, p.pk) for p in (people[0], people[3])), (
        "only queued rows that are due"
    )
    assert in_range.claim() == [], "a row is claimed once"
    mine = Delivery.objects.filter(pk__in=[d for d, _ in claimed])
    assert set(mine.values_list("status", "attempts")) == {("sending", 1)}
    assert all(d.claimed_at is not None for d in mine)


def test_a_claim_takes_at_most_its_limit_in_the_order_asked():
    people = SubscriberFactory.create_batch(5)
    campaign = campaign_to()
    dispatch.create_deliveries(campaign)
    newest_first = Delivery.objects.order_by("-pk")
    expected = sorted(newest_first.values_list("pk", "subscriber_id")[:2])
    assert newest_first.claim(limit=2) == expected
    assert len(newest_first.claim(limit=10)) == len(people) - 2


def test_a_claim_takes_no_more_than_its_limit_however_the_database_finds_the_rows():
    """A lane's claim: found through the (campaign, status, provider) index, in no order."""
    SubscriberFactory.create_batch(6)
    campaign = campaign_to()
    dispatch.create_deliveries(campaign)
    lane = Delivery.objects.filter(campaign=campaign, provider="other")
    assert [len(lane.claim(limit=limit)) for limit in (2, 3, 3)] == [2, 3, 1]
    assert Delivery.objects.filter(status="sending").count() == 6


def test_an_import_writes_each_person_with_their_consent_and_email():
    """PostgreSQL's COPY with ids taken from the sequence (bulk_create on SQLite)."""
    data = (
        b"email,consented_at,consent_source,consent_wording\n"
        b"kept@example.com,2026-05-01T14:30:00Z,Old list,Email me.\n"
        b"asked@example.com,,,\n"
    )
    importing.import_csv(data)
    kept, asked = (
        Subscriber.objects.get(email="kept@example.com"),
        Subscriber.objects.get(email="asked@example.com"),
    )
    assert kept.consents.get().source == "Old list" and not kept.emails.exists()
    (email,) = asked.emails.all()
    assert email.consent == asked.consents.get() and email.kind == "reconfirm"
    assert SubscriberFactory().pk > asked.pk  # the sequence moved past the ids it gave


def test_the_people_a_transaction_confirmed_are_numbered_behind_everyone_in_their_order():
    SubscriberFactory()
    later = SubscriberFactory.create_batch(2, status="pending", confirmed_at=None)
    with transaction.atomic():
        Subscriber.objects.filter(pk__in=[p.pk for p in later]).update(status="confirmed")
        assert places.number_new() == 2
    numbers = Subscriber.objects.order_by("pk").values_list("confirmed_number", flat=True)
    assert list(numbers) == [1, 2, 3]
    assert places.number_new() == 0


def test_a_started_campaign_s_rows_are_made_and_their_statistics_renewed(handed_out):
    SubscriberFactory.create_batch(2)
    campaign = CampaignFactory(status=Campaign.Status.SCHEDULED, send_at=timezone.now())
    assert dispatch.dispatch()["started"] == [campaign.pk]
    assert Delivery.objects.filter(campaign=campaign).count() == 2
