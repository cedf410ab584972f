"""A campaign's waves: the warm-up's daily allowance, the canary and the figures that hold the
rest back, and the watch that pauses a campaign while it sends."""

import datetime as dt

import pytest
from django.utils import timezone

from tests.conftest import run_lanes
from tests.factories import CampaignFactory, StaffFactory, SubscriberFactory
from waitlist import feedback, tasks
from waitlist.campaigns import actions, dispatch, waves
from waitlist.models import Campaign, CampaignWave, Delivery, WarmUp

START = dt.datetime(2027, 3, 1, 15, 0, tzinfo=dt.UTC)


def test_the_warm_up_goes_from_200_to_200000_in_42_days_then_has_no_limit():
    days = [waves.allowance(day) for day in range(43)]
    assert days[:4] == [200, 237, 280, 332]
    assert days[41] == 200_000 and days[42] is None
    assert all(1.18 < days[n + 1] / days[n] < 1.19 for n in range(40))


def sizes(plan) -> list[tuple[str, int, int, bool]]:
    return [(w.kind, w.day, w.size, w.gated) for w in plan]


def test_a_small_campaign_from_a_warm_domain_is_one_wave():
    (wave,) = waves.plan(1_000, start=START, day=None)
    assert (wave.kind, wave.first, wave.last, wave.leaves_at) == ("all", 1, 1000, START)


def test_a_large_campaign_starts_with_a_canary_and_holds_the_rest():
    canary, rest = waves.plan(10_000, start=START, day=None)
    assert (canary.kind, canary.size, canary.leaves_at) == ("canary", 100, START)
    assert not canary.gated
    assert (rest.kind, rest.first, rest.size, rest.gated) == ("rest", 101, 9_900, True)
    assert rest.leaves_at == START + dt.timedelta(minutes=30)
    big, _ = waves.plan(1_000_000, start=START, day=None)
    assert big.size == 500, "1%, at most 500"


def test_a_domain_on_its_second_day_sends_30000_people_in_the_plan_s_daily_waves():
    plan = waves.plan(30_000, start=START, day=1)
    expected = [waves.allowance(day) for day in range(1, 30)]
    assert plan[0].kind == "canary" and plan[0].size == 237, "the first day is the canary"
    assert plan[1].gated and plan[1].day == 1
    assert [w.size for w in plan[1:-1]] == expected[1 : len(plan) - 1]
    assert sum(w.size for w in plan) == 30_000
    assert [w.leaves_at for w in plan] == [START + dt.timedelta(days=w.day) for w in plan]
    assert [w.day for w in plan] == list(range(len(plan)))
    assert plan[-1].day == 18, "everyone has it on the 19th day"


def test_what_was_sent_today_counts_against_today_s_allowance():
    plan = waves.plan(1_000, start=START, day=0, sent_today=150)
    assert [(w.day, w.size) for w in plan] == [(0, 50), (1, 237), (2, 280), (3, 332), (4, 101)]


# --- in the database ---------------------------------------------------------------------------


@pytest.fixture
def canary(settings):
    """A canary from 10 people: 20% of them, the rest 30 minutes later."""
    settings.CAMPAIGN_CANARY_FROM = 10
    settings.CAMPAIGN_CANARY_SHARE = 0.2
    settings.CAMPAIGN_RATE_PER_SECOND = 10_000


def started(count: int, **fields) -> Campaign:
    people = [SubscriberFactory(**fields) for _ in range(count)]
    # The most recently confirmed first: give each a distinct time, oldest first.
    for n, person in enumerate(people):
        person.confirmed_at = timezone.now() - dt.timedelta(minutes=count - n)
        person.save(update_fields=["confirmed_at"])
    campaign = CampaignFactory(status=Campaign.Status.SCHEDULED, send_at=timezone.now())
    dispatch.dispatch()
    campaign.refresh_from_db()
    return campaign


def canary_time_over(campaign: Campaign) -> None:
    CampaignWave.objects.filter(campaign=campaign).update(
        leaves_at=timezone.now() - dt.timedelta(seconds=1)
    )


@pytest.mark.django_db
def test_only_the_canary_goes_first_the_most_recently_confirmed(canary, mail, handed_out):
    campaign = started(10)
    assert campaign.status == "sending" and campaign.released_through == 2
    canary_time_over(campaign)
    dispatch.dispatch()
    campaign.refresh_from_db()
    assert campaign.released_through == 2, "its time came, but the canary is not out yet"
    CampaignWave.objects.filter(number=1).update(leaves_at=timezone.now() + dt.timedelta(hours=1))
    run_lanes(campaign)
    newest = Delivery.objects.order_by("-subscriber__confirmed_at")[:2]
    assert sorted(m.envelope_to[0] for m in mail.messages) == sorted(
        d.subscriber.email for d in newest
    )
    assert Delivery.objects.filter(status="queued").count() == 8
    dispatch.dispatch()
    assert len(mail.messages) == 2, "the rest waits for the canary's time"
    canary_time_over(campaign)
    dispatch.dispatch()
    run_lanes(campaign)
    dispatch.dispatch()
    campaign.refresh_from_db()
    assert campaign.status == "sent" and len(mail.messages) == 10


@pytest.mark.django_db
def test_a_complaint_in_the_canary_holds_the_rest_until_the_operator_resumes(
    canary, mail, handed_out
):
    operator = StaffFactory(is_superuser=True, email="ops@example.com")
    campaign = started(10)
    run_lanes(campaign)
    complainer = Delivery.objects.filter(status="sent").first()
    feedback.record_tracking_event(
        event_type="complained", recipient=complainer.subscriber.email,
        message_id=complainer.message_id,
    )  # fmt: skip
    canary_time_over(campaign)
    dispatch.dispatch()
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    assert campaign.pause_reason.startswith("Paused before wave 2 of 2: the canary's spam ")
    assert "spam complaints 50.0% (1 of 2), over the 0.1% limit" in campaign.pause_reason
    assert Delivery.objects.filter(status="queued").count() == 8
    (told,) = mail.to("ops@example.com")
    assert told.message["Subject"] == f"Paused: {campaign.name}"
    assert "spam complaints 50.0%" in told.text

    actions.resume(campaign, by=operator)
    campaign.refresh_from_db()
    assert campaign.released_through == 10, "the operator's word sends the rest"
    run_lanes(campaign)
    assert Delivery.objects.filter(status="sent").count() == 9  # the complainer's row failed


@pytest.mark.django_db
def test_hard_bounces_in_the_canary_hold_the_rest(canary, mail, handed_out):
    SubscriberFactory.create_batch(9, confirmed_at=timezone.now() - dt.timedelta(days=1))
    SubscriberFactory(email="gone+reject@example.com")  # the most recently confirmed
    campaign = started(0)
    run_lanes(campaign)
    canary_time_over(campaign)
    dispatch.dispatch()
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    assert "hard bounces 50.0% (1 of 2), over the 2.0% limit" in campaign.pause_reason


@pytest.mark.django_db
def test_bounces_over_the_limit_while_sending_pause_the_campaign_once(mail, handed_out, settings):
    settings.CAMPAIGN_WATCH_MIN_SAMPLE = 4
    settings.CAMPAIGN_RATE_PER_SECOND = 10_000
    SubscriberFactory.create_batch(3)
    SubscriberFactory(email="gone+reject@example.com")
    campaign = started(0)
    run_lanes(campaign)
    dispatch.dispatch()
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    assert "hard bounces 25.0% (1 of 4), over the 2.0% limit" in campaign.pause_reason
    assert campaign.pause_reason.startswith("Paused while sending: in the last ")
    actions.resume(campaign)
    dispatch.dispatch()
    campaign.refresh_from_db()
    assert campaign.status == "sent", "what came before the resume is not counted again"


@pytest.mark.django_db
def test_a_warming_domain_s_campaign_waits_for_the_next_day_s_allowance(mail, handed_out):
    WarmUp.objects.create(first_day=timezone.localdate())
    campaign = started(250)
    waves_made = list(campaign.waves.values_list("day", "first", "last", "released_at"))
    assert [(day, first, last) for day, first, last, _ in waves_made] == [
        (0, 1, 200), (1, 201, 250)
    ]  # fmt: skip
    assert waves_made[1][3] is None and campaign.released_through == 200
    run_lanes(campaign)
    assert len(mail.messages) == 200


@pytest.mark.django_db
def test_the_campaign_page_shows_its_waves_and_each_provider_s_progress(
    canary, mail, handed_out, staff_client
):
    campaign = started(10)
    run_lanes(campaign)
    tasks.count_campaign(campaign.pk)  # as the worker the page asks does
    page = staff_client.get(f"/admin/waitlist/campaign/{campaign.pk}/change/").content.decode()
    assert "Sending plan" in page and "2 waves; everyone has it from" in page
    for words in ("Canary", "After the canary", "Let go", "Waits for the canary&#x27;s figures"):
        assert words in page, words
    assert "By mailbox provider" in page
    cells = "<td>2</td><td>8</td>" + "<td>0</td>" * 4 + "<td>no limit of its own</td>"
    assert f'<th scope="row">Other</th>{cells}' in page


@pytest.mark.django_db
def test_the_warm_up_plan_is_one_page_that_shows_each_day(staff_client):
    answer = staff_client.get("/admin/waitlist/warmup/")
    plan = WarmUp.objects.get()
    assert answer.status_code == 302 and answer.url == f"/admin/waitlist/warmup/{plan.pk}/change/"
    page = staff_client.get(answer.url).content.decode()
    assert "Warm: a campaign goes to everyone on its first day." in page
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    saved = staff_client.post(answer.url, {"first_day": yesterday.isoformat(), "_continue": "1"})
    assert saved.status_code == 302
    page = staff_client.get(answer.url).content.decode()
    assert "Day 2 of 42: up to 237 campaign messages today (0 sent so far)." in page
    assert "(today)</td><td>237</td>" in page
    assert "<td>42</td>" in page and "From day 43 on: no limit." in page


@pytest.mark.django_db
def test_the_confirmation_says_which_day_each_wave_leaves_before_anything_does(staff_client):
    WarmUp.objects.create(first_day=timezone.localdate())
    SubscriberFactory.create_batch(250)
    campaign = CampaignFactory(status=Campaign.Status.DRAFT)
    page = staff_client.get(f"/admin/waitlist/campaign/{campaign.pk}/confirm/send_now/")
    text = page.content.decode()
    tomorrow = timezone.localtime() + dt.timedelta(days=1)
    assert "It goes out in 2 waves; everyone has it from " + f"{tomorrow:%a, %b} " in text
    assert "<td>What that day of the warm-up allows</td><td>200</td>" in text
    assert "<td>What that day of the warm-up allows</td><td>50</td>" in text
    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_the_live_progress_carries_the_plan_as_the_page_shows_it(
    canary, mail, handed_out, staff_client
):
    WarmUp.objects.create(first_day=timezone.localdate() - dt.timedelta(days=2))
    campaign = started(10)
    data = staff_client.get(f"/admin/waitlist/campaign/{campaign.pk}/progress/").json()
    assert "The domain is on day 3 of 42 of its warm-up: up to 280 campaign" in data["plan_html"]
    assert "The next wave, 8 people, leaves " in data["plan_html"]
    assert "if the canary’s figures allow." in data["plan_html"]
    page = staff_client.get(f"/admin/waitlist/campaign/{campaign.pk}/change/").content.decode()
    assert data["plan_html"].strip() in page
