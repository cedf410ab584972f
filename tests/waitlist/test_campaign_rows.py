"""A starting campaign's rows, made a chunk of people at a time, each chunk committed with how
far it got: nothing is sent before every row exists, a dispatcher that dies or runs out of time
leaves the rest to the next run, and the send order is the most recently confirmed first."""

import pytest
from django.utils import timezone

from tests.factories import CampaignFactory, SubscriberFactory
from waitlist import tasks
from waitlist.campaigns import console, dispatch, lifecycle
from waitlist.models import Campaign, Delivery, Subscriber

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_chunk_a_run(settings, monkeypatch):
    """Chunks of three people, and a dispatcher whose time is up after one chunk."""
    monkeypatch.setattr(dispatch, "CHUNK", 3)
    settings.CAMPAIGN_DISPATCH_SECONDS = 0


def due_campaign() -> Campaign:
    return CampaignFactory(status=Campaign.Status.SCHEDULED, send_at=timezone.now())


def made(campaign: Campaign) -> list[str]:
    """Its rows' people in the send order."""
    rows = Delivery.objects.filter(campaign=campaign).order_by("position")
    return list(rows.values_list("subscriber__email", flat=True))


def test_rows_are_made_a_chunk_a_run_and_nothing_leaves_before_the_last(
    one_chunk_a_run, handed_out
):
    people = SubscriberFactory.create_batch(8)
    newest_first = [person.email for person in reversed(people)]
    campaign = due_campaign()
    assert dispatch.dispatch() == {"started": [campaign.pk], "lanes": 0}
    campaign.refresh_from_db()
    assert made(campaign) == newest_first[:3]
    assert console.status_label(campaign) == "Starting… 3 messages made so far"
    assert not campaign.waves.exists()
    assert handed_out == [(dispatch.DISPATCH_TASK,)], "the next run asked for at once, no lane"
    assert dispatch.dispatch()["lanes"] == 0
    assert made(campaign) == newest_first[:6]
    opened = dispatch.dispatch()["lanes"]
    campaign.refresh_from_db()
    lanes = [task for task in handed_out if task[0] == dispatch.LANE_TASK]
    assert opened > 0 and len(lanes) == opened, "the lanes open with the last chunk"
    assert made(campaign) == newest_first
    assert list(Delivery.objects.order_by("position").values_list("position", flat=True)) == [
        1, 2, 3, 4, 5, 6, 7, 8
    ]  # fmt: skip
    assert (campaign.rows_from, campaign.rows_made) == (None, 8)
    assert campaign.waves.get().last == 8
    assert console.status_label(campaign) == "Sending"


def test_a_dispatcher_that_dies_mid_chunk_loses_that_chunk_only_and_the_next_run_goes_on(
    one_chunk_a_run, handed_out, monkeypatch
):
    SubscriberFactory.create_batch(7)
    campaign = due_campaign()
    dispatch.dispatch()
    making = dispatch.create_deliveries

    def dies(campaign, people=None, leaves=None, *, after=0):
        making(campaign, people, leaves, after=after)
        raise SystemExit("the worker was killed")

    monkeypatch.setattr(dispatch, "create_deliveries", dies)
    with pytest.raises(SystemExit):
        dispatch.dispatch()
    assert Delivery.objects.count() == 3, "the chunk being made was rolled back"
    monkeypatch.setattr(dispatch, "create_deliveries", making)
    while dispatch.dispatch()["lanes"] == 0:
        pass
    rows = Delivery.objects.filter(campaign=campaign)
    assert rows.count() == 7 == rows.values("subscriber").distinct().count()
    assert sorted(rows.values_list("position", flat=True)) == list(range(1, 8))


def test_the_audience_is_everyone_confirmed_at_the_start_as_each_chunk_finds_them(
    one_chunk_a_run, handed_out
):
    people = SubscriberFactory.create_batch(6)
    campaign = due_campaign()
    dispatch.dispatch()  # the three who confirmed last
    Subscriber.objects.filter(pk=people[0].pk).update(status="unsubscribed")
    later = SubscriberFactory(email="late@example.com")
    while dispatch.dispatch()["lanes"] == 0:
        pass
    emails = set(made(campaign))
    assert people[0].email not in emails, "left before their chunk was made"
    assert later.email not in emails, "confirmed after the campaign started"
    assert emails == {person.email for person in people[1:]}


def test_a_campaign_paused_while_its_rows_are_made_goes_on_making_them_once_resumed(
    one_chunk_a_run, handed_out
):
    SubscriberFactory.create_batch(5)
    campaign = due_campaign()
    dispatch.dispatch()
    lifecycle.move(Campaign.objects.get(pk=campaign.pk), "pause", why="An operator paused it.")
    dispatch.dispatch()
    assert Delivery.objects.count() == 3, "nothing is made while it is paused"
    lifecycle.move(Campaign.objects.get(pk=campaign.pk), "resume", why="Resumed.")
    while dispatch.dispatch()["lanes"] == 0:
        pass
    for task, *lane in handed_out[:]:
        if task == dispatch.LANE_TASK:
            tasks.send_campaign_lane(*lane)
    assert Delivery.objects.filter(status="sent").count() == 5
