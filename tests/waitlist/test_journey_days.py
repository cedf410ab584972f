"""The welcome journey on a clock the test sets (libfaketime, as the local-time tests do),
through real Celery worker and beat processes: its three emails arrive on days 0, 3 and 10,
once each; nothing more reaches someone who unsubscribed; and a campaign that would be a
person's third email that week waits for their free slot."""

import datetime as dt
from collections import Counter

import pytest
from django.utils import timezone

from tests.factories import CampaignFactory, SubscriberFactory
from tests.processes import SIDE_BROKER, wait_until
from tests.waitlist.test_local_time import Clock, clocked_processes
from waitlist.campaigns import journeys
from waitlist.models import Campaign, Delivery, Journey, JourneyStep
from waitlist.people import links

DAY0 = dt.datetime(2027, 3, 1, 15, 0, tzinfo=dt.UTC)  # 09:00 in the site's Chicago
UPDATE = "We open in Texas next month"


@pytest.fixture
def clock(smtp_sink, tmp_path, django_db_setup):
    clock = Clock(tmp_path / "clock")
    clock.set(DAY0 - dt.timedelta(minutes=1))
    with clocked_processes(smtp_sink, clock, SIDE_BROKER, JOURNEY_SECONDS="1"):
        yield clock


def welcome() -> Journey:
    journey = journeys.ensure_welcome()
    journeys.switch_on(journey)
    # Switched on a minute before the first day, on the processes' clock.
    on = DAY0 - dt.timedelta(minutes=1)
    Journey.objects.filter(pk=journey.pk).update(switched_on_at=on)
    JourneyStep.objects.filter(journey=journey).update(scheduled_through=on)
    return journey


def received(smtp_sink) -> Counter:
    return Counter((m.envelope_to[0], m.message["Subject"]) for m in smtp_sink.messages)


def sent_on(email: str, subject: str) -> dt.date:
    """The day the ledger stamped it sent: a moment after the sink has the message."""
    rows = Delivery.objects.filter(subscriber__email=email, campaign__subject=subject,
                                   status="sent")  # fmt: skip
    wait_until(rows.exists, timeout=30, message=f"{subject} to {email} never marked sent")
    return timezone.localdate(rows.get().sent_at)


@pytest.mark.django_db(transaction=True)
def test_the_welcome_journey_on_days_0_3_and_10_and_the_cap(clock, smtp_sink):
    smtp_sink.clear()
    journey = welcome()
    subjects = [step.campaign.subject for step in journey.steps.order_by("delay")]
    confirmed = DAY0 - dt.timedelta(seconds=30)
    stays = SubscriberFactory(email="stays@example.com", confirmed_at=confirmed)
    leaves = SubscriberFactory(email="leaves@example.com", confirmed_at=confirmed)
    SubscriberFactory(email="earlier@example.com", confirmed_at=DAY0 - dt.timedelta(days=5))

    def on_day(day: int, *expected: tuple[str, str]) -> None:
        clock.set(DAY0 + dt.timedelta(days=day, minutes=1))
        wait_until(
            lambda: all(received(smtp_sink)[each] for each in expected),
            timeout=60,
            message=f"day {day}: {expected} not all received: {received(smtp_sink)}",
        )

    on_day(0, ("stays@example.com", subjects[0]), ("leaves@example.com", subjects[0]))
    on_day(3, ("stays@example.com", subjects[1]), ("leaves@example.com", subjects[1]))
    links.unsubscribe(subscriber_id=leaves.pk)

    # Day 4: an update to everyone. For "stays" it would be the third email in a week.
    update = CampaignFactory(subject=UPDATE, status=Campaign.Status.SCHEDULED,
                             send_at=DAY0 + dt.timedelta(days=4))  # fmt: skip
    on_day(4, ("earlier@example.com", UPDATE))
    wait_until(
        lambda: Delivery.objects.filter(campaign=update, subscriber=stays, cap_waits=1).exists(),
        timeout=30,
        message="the update did not wait for the cap",
    )
    assert not received(smtp_sink)[("stays@example.com", UPDATE)]
    held = Delivery.objects.get(campaign=update, subscriber=stays)
    first = Delivery.objects.get(subscriber=stays, campaign__subject=subjects[0])
    assert held.not_before == first.sent_at + dt.timedelta(days=7), "its next free slot"

    on_day(7, ("stays@example.com", UPDATE))
    on_day(10, ("stays@example.com", subjects[2]))

    assert [sent_on("stays@example.com", subject) for subject in subjects] == [
        timezone.localdate(DAY0 + dt.timedelta(days=day)) for day in (0, 3, 10)
    ]
    assert sent_on("stays@example.com", UPDATE) == timezone.localdate(DAY0 + dt.timedelta(days=7))
    got = received(smtp_sink)
    assert all(count == 1 for count in got.values()), f"each email once: {got}"
    assert {subject for (to, subject) in got if to == "leaves@example.com"} == set(subjects[:2])
    assert {subject for (to, subject) in got if to == "earlier@example.com"} == {UPDATE}, (
        "triggers before it was switched on do not count"
    )
