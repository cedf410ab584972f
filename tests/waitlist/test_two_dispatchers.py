"""Two dispatchers at once on one campaign (two beats, or a dispatch slower than beat's tick):
its rows are made once and each of its lanes is handed to a worker once."""

import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from tests.factories import CampaignFactory, SubscriberFactory
from waitlist.campaigns import dispatch
from waitlist.models import Campaign, Delivery

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def test_two_dispatchers_the_first_slowed_make_each_row_once_and_hand_each_lane_out_once(
    handed_out, monkeypatch
):
    people = SubscriberFactory.create_batch(40)
    campaign = CampaignFactory(status=Campaign.Status.SCHEDULED, send_at=timezone.now())
    making = dispatch.create_deliveries
    first = threading.Event()

    def slow_for_the_first(campaign, *args, **kwargs):
        made = making(campaign, *args, **kwargs)
        if not first.is_set():
            first.set()
            time.sleep(2)  # its transaction stays open: the other dispatcher runs meanwhile
        return made

    monkeypatch.setattr(dispatch, "create_deliveries", slow_for_the_first)
    outcomes, errors = [], []

    def run():
        try:
            outcomes.append(dispatch.dispatch())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run)]
    threads[0].start()
    assert first.wait(10), "the first dispatcher never made its rows"
    threads.append(threading.Thread(target=run))
    threads[1].start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(o["started"] for o in outcomes) == [[], [campaign.pk]], "started once"
    rows = Delivery.objects.filter(campaign=campaign)
    assert rows.count() == len(people) == rows.values("subscriber").distinct().count()
    assert set(rows.values_list("status", flat=True)) == {"queued"}
    lanes = [task for task in handed_out if task[0] == dispatch.LANE_TASK]
    assert lanes and len(lanes) == len(set(lanes)), f"a lane handed out twice: {lanes}"
