"""Sending at a time of day in each recipient's own time zone: the waves, the quiet-hours guard,
and a campaign for 09:00 local time sent by real Celery worker and beat processes whose clock
the test sets (libfaketime, from a file the test writes)."""

import contextlib
import datetime as dt
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
from django.conf import settings

from tests.conftest import worker_env
from tests.factories import CampaignFactory, SubscriberFactory
from tests.processes import SIDE_BROKER, celery_beat, celery_worker, wait_until
from waitlist.campaigns import actions, dispatch
from waitlist.models import Campaign, Delivery

pytestmark = pytest.mark.django_db

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
CENTRAL = ZoneInfo("America/Chicago")
UTC = dt.UTC
# A Wednesday away from any change of daylight time; 09:00 on it in the site's zone.
NINE = dt.datetime(2027, 3, 10, 9, 0, tzinfo=CENTRAL)
WAVES = {  # who, and when 09:00 comes where they live
    "NY": dt.datetime(2027, 3, 10, 14, 0, tzinfo=UTC),  # 09:00 Eastern
    "TX": dt.datetime(2027, 3, 10, 15, 0, tzinfo=UTC),  # 09:00 Central
    "": dt.datetime(2027, 3, 10, 15, 0, tzinfo=UTC),  # no state: the site's zone, Central
    "CA": dt.datetime(2027, 3, 10, 17, 0, tzinfo=UTC),  # 09:00 Pacific
}


def local_campaign(**fields) -> Campaign:
    defaults = {
        "name": "Good morning",
        "subject": "Good morning from Halftime Health",
        "body": "We open today.",
        "local_time": True,
        "send_at": NINE,
    }
    return CampaignFactory(**{**defaults, **fields})


def everyone() -> dict[str, list]:
    return {
        state: [SubscriberFactory(state=state, email=f"{state or 'none'}{n}@example.com")
                for n in range(2)]
        for state in WAVES
    }  # fmt: skip


def test_the_preflight_shows_one_wave_per_time_zone_at_its_own_nine():
    everyone()
    check = actions.preflight(local_campaign())
    assert [(wave.zone, wave.leaves_at, wave.people) for wave in check.zones] == [
        ("America/New_York", WAVES["NY"], 2),
        ("America/Chicago", WAVES["TX"], 4),
        ("America/Los_Angeles", WAVES["CA"], 2),
    ]
    assert all(wave.local.hour == 9 for wave in check.zones)


def test_quiet_hours_are_refused_unless_the_operator_says_so():
    everyone()
    late = local_campaign(send_at=NINE.replace(hour=21, minute=30))
    (problem,) = [p for p in actions.preflight(late).problems if "quiet" in p]
    assert "21:30 in America/New_York (2 people), in quiet hours (21:00–08:00)" in problem
    late.quiet_hours_override = True
    assert not [p for p in actions.preflight(late).problems if "quiet" in p]
    # One moment for everyone: 07:30 in California is said, not refused.
    at_once = local_campaign(local_time=False, send_at=NINE.replace(hour=9, minute=30))
    check = actions.preflight(at_once)
    assert not [p for p in check.problems if "quiet" in p]
    assert check.notes == [
        "It arrives at 07:30 in America/Los_Angeles (2 people), in quiet hours (21:00–08:00)."
    ]


def test_each_delivery_waits_for_nine_in_its_person_s_zone():
    people = everyone()
    campaign = local_campaign(status=Campaign.Status.SENDING)
    assert dispatch.create_deliveries(campaign) == 8
    for state, group in people.items():
        for person in group:
            row = Delivery.objects.get(campaign=campaign, subscriber=person)
            assert row.not_before == WAVES[state]
    assert dispatch.starts_at(campaign) == WAVES["NY"]


def test_a_local_time_campaign_cannot_be_sent_now(staff_client):
    everyone()
    campaign = local_campaign()
    page = staff_client.get(f"/admin/waitlist/campaign/{campaign.pk}/confirm/send_now/")
    assert "leaves on its schedule: use Schedule" in page.content.decode()
    schedule = staff_client.get(f"/admin/waitlist/campaign/{campaign.pk}/confirm/schedule/")
    page = schedule.content.decode()
    assert "The waves, one per time zone, at 09:00 local time" in page
    # Each wave at 09:00 in its own zone, and when that is at the site.
    assert '<th scope="row">America/Los_Angeles</th><td>Wed, Mar 10, 09:00 PST</td>' in page
    assert "<td>Wed, Mar 10, 11:00 CST</td>" in page


# --- through the real dispatcher and worker, on a clock the test sets -------------------------


class Clock:
    """The time of the worker and beat processes: libfaketime reads it from this file at every
    call, and from the moment it is written the clock runs on from there. It reads the file as
    the process's local time, which Django sets to TIME_ZONE."""

    def __init__(self, path: Path):
        self.path = path

    def set(self, moment: dt.datetime) -> None:
        local = moment.astimezone(ZoneInfo(settings.TIME_ZONE))
        self.path.write_text(f"@{local:%Y-%m-%d %H:%M:%S}\n")

    def env(self) -> dict[str, str]:
        return {
            "LD_PRELOAD": LIBFAKETIME,
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_NO_CACHE": "1",
            "TZ": settings.TIME_ZONE,
        }


@contextlib.contextmanager
def clocked_processes(smtp_sink, clock: Clock, broker: str, **extra: str):
    """A Celery worker and beat on `clock`'s time, with a broker database of their own;
    `extra`: more of their environment."""
    redis.Redis.from_url(broker).flushdb()
    env = worker_env(
        smtp_sink,
        CELERY_BROKER_URL=broker,
        CAMPAIGN_DISPATCH_SECONDS="1",
        OUTBOX_SWEEP_SECONDS="3600",
        CAMPAIGN_RATE_PER_SECOND="5000",
        **{**clock.env(), **extra},
    )
    worker = celery_worker(env, queues="campaigns,default")
    beat = celery_beat(env)
    try:
        yield
    finally:
        beat.stop()
        worker.stop()
        redis.Redis.from_url(broker).flushdb()


@pytest.fixture
def clocked_engine(smtp_sink, tmp_path, django_db_setup):
    clock = Clock(tmp_path / "clock")
    clock.set(WAVES["NY"] - dt.timedelta(minutes=2))
    with clocked_processes(smtp_sink, clock, SIDE_BROKER):
        yield clock


@pytest.mark.django_db(transaction=True)
def test_nine_o_clock_reaches_each_zone_at_its_nine_and_no_one_before(clocked_engine, smtp_sink):
    clock = clocked_engine
    smtp_sink.clear()
    people = everyone()
    campaign = local_campaign(status=Campaign.Status.SCHEDULED)
    address = {person.pk: state for state, group in people.items() for person in group}

    def sent() -> dict[str, list[dt.datetime]]:
        rows = Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT)
        by_state: dict[str, list[dt.datetime]] = {}
        for row in rows:
            by_state.setdefault(address[row.subscriber_id], []).append(row.sent_at)
        return by_state

    for states in (["NY"], ["TX", ""], ["CA"]):
        wave = WAVES[states[0]]
        clock.set(wave - dt.timedelta(seconds=40))
        time.sleep(4)  # four dispatches (one a second) at 08:59:20 where these people live
        assert not any(state in sent() for state in states), f"{states} before their 09:00"
        clock.set(wave + dt.timedelta(seconds=5))
        wait_until(
            lambda states=states: all(len(sent().get(state, [])) == 2 for state in states),
            timeout=40,
            message=f"{states} not sent after their 09:00: {sent()}",
        )
        for state in states:
            for moment in sent()[state]:
                assert wave <= moment <= wave + dt.timedelta(minutes=2), (state, moment)
    assert sorted(len(m.envelope_to) for m in smtp_sink.messages) == [1] * 8
    assert {m.envelope_to[0] for m in smtp_sink.messages} == {
        person.email for group in people.values() for person in group
    }
    wait_until(
        lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT,
        timeout=20,
        message="the campaign was not closed once every wave had gone",
    )
