"""Journeys and the frequency cap, in one process: who each step hands the engine and when,
what stops them, and how the cap holds a campaign back."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tests.conftest import run_lanes
from tests.factories import CampaignFactory, SubscriberFactory
from waitlist.campaigns import dispatch, journeys
from waitlist.campaigns import figures as campaign_figures
from waitlist.models import (
    Campaign,
    Delivery,
    Invitation,
    Journey,
    JourneyStep,
    Milestone,
    MilestoneReached,
    OpenState,
)
from waitlist.people import links

pytestmark = [pytest.mark.django_db]

CHICAGO = ZoneInfo("America/Chicago")
NOON = dt.datetime(2027, 3, 1, 12, 0, tzinfo=CHICAGO)


def journey(trigger="confirmed", days=(0, 3, 10), **segment) -> Journey:
    made = Journey.objects.create(name="Welcome", trigger=trigger)
    for day in days:
        campaign = CampaignFactory(
            kind="journey", name=f"day {day}", subject=f"Day {day}", in_archive=False,
            **segment,
        )  # fmt: skip
        JourneyStep.objects.create(journey=made, delay=dt.timedelta(days=day), campaign=campaign)
    return made


def switched_on(made: Journey, at: dt.datetime) -> Journey:
    journeys.switch_on(made)
    Journey.objects.filter(pk=made.pk).update(switched_on_at=at)
    JourneyStep.objects.filter(journey=made).update(scheduled_through=at)
    dispatch.dispatch()  # the steps' campaigns start
    return made


def handed(person) -> list[str]:
    rows = Delivery.objects.filter(subscriber=person).order_by("campaign__journey_step__delay")
    return [row.campaign.subject for row in rows]


def test_each_step_comes_due_on_its_day_once(settings):
    settings.FREQUENCY_CAP_EMAILS = 0
    made = switched_on(journey(), NOON - dt.timedelta(hours=1))
    before = SubscriberFactory(confirmed_at=NOON - dt.timedelta(hours=2))
    person = SubscriberFactory(confirmed_at=NOON - dt.timedelta(minutes=30))
    journeys.run(NOON)
    assert handed(person) == ["Day 0"]
    assert handed(before) == [], "triggers before it was switched on do not count"
    journeys.run(NOON + dt.timedelta(days=2))
    journeys.run(NOON + dt.timedelta(days=3))
    assert handed(person) == ["Day 0", "Day 3"]
    journeys.run(NOON + dt.timedelta(days=3, hours=1))
    journeys.run(NOON + dt.timedelta(days=11))
    assert handed(person) == ["Day 0", "Day 3", "Day 10"], "each once"
    assert Campaign.objects.filter(journey_step__journey=made, status="sending").count() == 3


def test_quiet_hours_hold_a_step_until_eight_in_the_person_s_zone():
    switched_on(journey(days=(0,)), NOON)
    three_am = dt.datetime(2027, 3, 2, 3, 0, tzinfo=CHICAGO)
    texan = SubscriberFactory(state="TX", confirmed_at=three_am - dt.timedelta(minutes=1))
    journeys.run(three_am)
    row = Delivery.objects.get(subscriber=texan)
    assert row.not_before == dt.datetime(2027, 3, 2, 8, 0, tzinfo=CHICAGO)


def test_nobody_unsubscribed_erased_or_activated_is_due_and_the_engine_checks_again(mail):
    # At noon: outside quiet hours, whatever the time the suite runs.
    switched_on(journey(days=(0,)), NOON - dt.timedelta(hours=1))
    stays, leaves, activated = (
        SubscriberFactory(email=f"{name}@example.com",
                          confirmed_at=NOON - dt.timedelta(minutes=5))
        for name in ("stays", "leaves", "activated")
    )  # fmt: skip
    Invitation.objects.create(subscriber=activated)
    Invitation.objects.filter(pk=activated.pk).update(status="activated")
    journeys.run(NOON)
    assert handed(activated) == []
    links.unsubscribe(subscriber_id=leaves.pk)  # after it was handed over, before it is sent
    step = JourneyStep.objects.get()
    run_lanes(step.campaign)
    assert [m.envelope_to[0] for m in mail.messages] == ["stays@example.com"]
    assert Delivery.objects.get(subscriber=leaves).status == "skipped"


def test_switched_off_nothing_more_goes_out_and_on_again_only_new_triggers_count():
    made = switched_on(journey(days=(0,)), timezone.now() - dt.timedelta(hours=1))
    journeys.switch_off(made)
    assert Campaign.objects.get(journey_step__journey=made).status == "paused"
    SubscriberFactory(confirmed_at=timezone.now() - dt.timedelta(minutes=1))
    assert journeys.run() == 0
    journeys.switch_on(made)
    assert Campaign.objects.get(journey_step__journey=made).status == "sending"
    assert journeys.run() == 0, "who confirmed while it was off is not mailed after"


def test_the_triggers():
    now = timezone.now()
    window = (now - dt.timedelta(hours=1), now)
    milestone = Milestone.objects.create(referrals=3, reward="Early access")
    person = SubscriberFactory(state="OK", last_active_at=now - dt.timedelta(minutes=5))
    invited = SubscriberFactory()
    Invitation.objects.create(subscriber=invited)
    Invitation.objects.filter(pk=invited.pk).update(
        status="invited", invited_at=now - dt.timedelta(minutes=5),
        expires_at=now + dt.timedelta(hours=47, minutes=30),
    )  # fmt: skip
    OpenState.objects.create(state="OK", opened_on=timezone.localdate(now))
    assert list(journeys.triggered("inactive", *window)) == [person]
    assert list(journeys.triggered("invited", *window)) == [invited]
    assert list(journeys.triggered("expiring", *window)) == [invited]
    MilestoneReached.objects.create(subscriber=invited, milestone=milestone, reached_at=now)
    assert list(journeys.triggered("milestone", *window)) == [invited]
    zone = timezone.get_current_timezone()
    midnight = dt.datetime.combine(timezone.localdate(now), dt.time(), tzinfo=zone)
    opening = (midnight - dt.timedelta(seconds=1), midnight)
    assert list(journeys.triggered("state_opened", *opening)) == [person]


# --- the frequency cap -------------------------------------------------------------------------


def sent_before(person, *days_ago: float) -> None:
    for ago in days_ago:
        campaign = CampaignFactory(status="sent")
        Delivery.objects.create(
            campaign=campaign, subscriber=person, status="sent",
            sent_at=timezone.now() - dt.timedelta(days=ago),
        )  # fmt: skip


def test_a_campaign_that_would_be_the_third_email_this_week_waits_for_the_free_slot(mail):
    busy, free = SubscriberFactory(email="busy@example.com"), SubscriberFactory()
    sent_before(busy, 1, 5)
    sent_before(free, 1, 8)
    campaign = CampaignFactory(status="sending")
    dispatch.create_deliveries(campaign)
    run_lanes(campaign)
    assert [m.envelope_to[0] for m in mail.messages] == [free.email]
    held = Delivery.objects.get(campaign=campaign, subscriber=busy)
    assert held.status == "queued" and held.cap_waits == 1
    slot = Delivery.objects.get(subscriber=busy, sent_at__lt=timezone.now() - dt.timedelta(days=4))
    assert held.not_before == slot.sent_at + dt.timedelta(days=7)
    assert Campaign.objects.get(pk=campaign.pk).status == "sending", "it waits; it is not done"
    figures = campaign_figures.results(Campaign.objects.filter(pk=campaign.pk))[campaign.pk]
    assert (figures["sent"], figures["waited"], figures["capped"]) == (1, 1, 0)


def test_a_campaign_can_leave_out_whoever_is_at_the_cap_and_invitations_are_never_held(mail):
    busy = SubscriberFactory()
    sent_before(busy, 1, 2)
    dropping = CampaignFactory(status="sending", when_capped="drop")
    dispatch.create_deliveries(dropping)
    run_lanes(dropping)
    row = Delivery.objects.get(campaign=dropping)
    assert row.status == "skipped" and "frequency cap" in row.answer
    assert campaign_figures.results([dropping.pk])[dropping.pk]["capped"] == 1
    wave = CampaignFactory(status="sending", kind="invitation", in_archive=False)
    Delivery.objects.create(campaign=wave, subscriber=busy)
    run_lanes(wave)
    assert Delivery.objects.get(campaign=wave).status == "sent"


def test_no_cap_when_it_is_set_to_zero(mail, settings):
    settings.FREQUENCY_CAP_EMAILS = 0
    busy = SubscriberFactory()
    sent_before(busy, 1, 2, 3)
    campaign = CampaignFactory(status="sending")
    dispatch.create_deliveries(campaign)
    run_lanes(campaign)
    assert Delivery.objects.get(campaign=campaign).status == "sent"


def test_a_later_step_never_reaches_back_before_the_switch(settings):
    settings.FREQUENCY_CAP_EMAILS = 0
    switched_on(journey(days=(10,)), NOON)
    earlier = SubscriberFactory(confirmed_at=NOON - dt.timedelta(days=5))
    for day in range(1, 12):
        journeys.run(NOON + dt.timedelta(days=day))
    assert handed(earlier) == []


def test_the_operator_switches_a_journey_on_and_off_in_admin(staff_client):
    staff_client.get("/admin/waitlist/journey/")  # the welcome journey appears, switched off
    welcome = Journey.objects.get(name="Welcome")
    assert not welcome.active and welcome.steps.count() == 3
    switch = f"/admin/waitlist/journey/{welcome.pk}/switch/"
    answer = staff_client.post(switch, {"to": "on"}, follow=True)
    assert "Switched on" in answer.text
    welcome.refresh_from_db()
    assert welcome.active
    assert set(Campaign.objects.filter(journey_step__journey=welcome)
               .values_list("status", flat=True)) == {"scheduled"}  # fmt: skip
    again = staff_client.post(switch, {"to": "on"}, follow=True)
    assert "already switched on" in again.text
    delete = staff_client.get(f"/admin/waitlist/journey/{welcome.pk}/delete/")
    assert delete.status_code == 403, "switch it off first"
    staff_client.post(switch, {"to": "off"})
    welcome.refresh_from_db()
    assert not welcome.active
    staff_client.get("/admin/waitlist/journey/")
    assert Journey.objects.count() == 1, "the welcome journey is made once"


def test_an_operator_chooses_to_leave_out_whoever_is_at_the_cap(staff_client):
    form = {"name": "Flash", "subject": "Today only", "body": "Hi", "send_at_0": "",
            "send_at_1": "", "in_archive": "on"}  # fmt: skip
    staff_client.post("/admin/waitlist/campaign/add/", {**form, "when_capped": "drop"})
    staff_client.post("/admin/waitlist/campaign/add/", {**form, "name": "Usual"})
    assert Campaign.objects.get(name="Flash").when_capped == "drop"
    assert Campaign.objects.get(name="Usual").when_capped == "wait", "the default"
