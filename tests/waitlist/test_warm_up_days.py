"""A new sending domain's warm-up, on a clock the test sets (libfaketime, as the local-time
tests do): a 30,000-person campaign from its first day leaves in the plan's waves, each on the
plan's day, the most recently confirmed first; real Celery worker and beat processes."""

import datetime as dt

import pytest
from django.utils import timezone

from tests.processes import SIDE_BROKER, wait_until
from tests.waitlist.test_campaign_e2e import people
from tests.waitlist.test_local_time import Clock, clocked_processes
from waitlist.campaigns import waves
from waitlist.models import Campaign, Delivery, WarmUp

FIRST_DAY = dt.datetime(2027, 3, 2, 15, 0, tzinfo=dt.UTC)  # 09:00 in the site's Chicago
PEOPLE = 30_000


@pytest.fixture
def clocked(smtp_sink, tmp_path, django_db_setup):
    clock = Clock(tmp_path / "clock")
    clock.set(FIRST_DAY - dt.timedelta(minutes=1))
    with clocked_processes(smtp_sink, clock, SIDE_BROKER):
        yield clock


@pytest.mark.django_db(transaction=True)
def test_a_new_domain_sends_30000_people_in_the_plan_s_waves_on_the_plan_s_days(clocked, smtp_sink):
    smtp_sink.clear()
    WarmUp.objects.create(first_day=timezone.localdate(FIRST_DAY))
    people(PEOPLE, prefix="warm")
    plan = waves.plan(PEOPLE, start=FIRST_DAY, day=0)
    days = plan[-1].day + 1
    campaign = Campaign.objects.create(
        name="Live in Texas", subject="We're live in Texas", send_at=FIRST_DAY,
        body="## We're live\n\n[Book your first visit](https://example.org/book)",
        status=Campaign.Status.SCHEDULED,
    )  # fmt: skip
    for day in range(days):
        if day == 0:
            clocked.set(FIRST_DAY + dt.timedelta(minutes=1))
        else:  # the moment the day's wave leaves: a day after the rows were all made
            leaves = campaign.waves.filter(day=day).order_by("leaves_at").first().leaves_at
            clocked.set(leaves + dt.timedelta(seconds=1))
        due = sum(wave.size for wave in plan if wave.day <= day)
        # The day is over once the ledger, not just the sink, has every message: a row is
        # stamped sent after the server's 250, and the clock moves on only after that.
        wait_until(
            lambda due=due: (
                len(smtp_sink.messages) >= due
                and Delivery.objects.filter(campaign=campaign, status="sent").count() >= due
            ),
            timeout=60,
            message=f"day {day + 1}: {due} messages by now",
        )
        assert len(smtp_sink.messages) == due, f"day {day + 1}: no more than the plan allows"
    wait_until(
        lambda: Campaign.objects.get(pk=campaign.pk).status == "sent",
        timeout=30,
        message="the campaign did not finish on its last day",
    )

    made = list(campaign.waves.order_by("number"))
    assert [(w.day, w.first, w.last) for w in made] == [(w.day, w.first, w.last) for w in plan]
    assert made[0].kind == "canary" and made[0].size == 200, "day 1: 200, as a canary"
    for wave in made:
        sent_on = {
            timezone.localdate(row.sent_at)
            for row in Delivery.objects.filter(
                campaign=campaign, position__range=(wave.first, wave.last)
            )
        }
        assert sent_on == {timezone.localdate(FIRST_DAY + dt.timedelta(days=wave.day))}, wave
    assert days == 20 and Delivery.objects.filter(status="sent").count() == PEOPLE
    newest = Delivery.objects.order_by("-subscriber__confirmed_at", "-subscriber_id").first()
    assert newest.position == 1, "the most recently confirmed first"
