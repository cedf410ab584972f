"""Campaigns in one process: the dispatcher, the batch sender and the operators' controls,
sending over SMTP to the test sink."""

import datetime as dt
import re
import threading

import pytest
from django.db import connection
from django.utils import timezone

from tests.conftest import run_lanes
from tests.factories import CampaignFactory, SubscriberFactory
from tests.faults import cut_database_connection_on_accept
from waitlist import feedback, tasks
from waitlist.campaigns import actions, dispatch, emails
from waitlist.engine import messages, sending, workers
from waitlist.models import Campaign, Delivery, MailDomain, Pace, Subscriber
from waitlist.people import links


def make_campaign(**fields) -> Campaign:
    defaults = {
        "name": "We're live in Texas",
        "subject": "Halftime Health is live in your state",
        "preheader": "Book your first visit",
        "body": "## We're live\n\nYou can now book a visit. [How a first visit works](https://example.org/x)",
        "status": Campaign.Status.SENDING,
    }
    return CampaignFactory(**{**defaults, **fields})


@pytest.fixture
def fast(settings):
    settings.CAMPAIGN_RATE_PER_SECOND = 10_000
    settings.CAMPAIGN_RATE_PER_HOUR = 10_000_000


pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast")]


def test_the_audience_is_confirmed_unsuppressed_people_in_the_segment():
    texas_sleep = SubscriberFactory(state="TX", interests=["sleep", "weight"])
    SubscriberFactory(state="TX", interests=["peptides"])
    SubscriberFactory(state="CA", interests=["sleep"])
    SubscriberFactory(state="TX", interests=["sleep"], status="pending", confirmed_at=None)
    SubscriberFactory(state="TX", interests=["sleep"], status="unsubscribed")
    SubscriberFactory(state="TX", interests=["sleep"], suppressed_at=timezone.now())
    campaign = make_campaign(audience_states=["TX"], audience_interests=["sleep", "testosterone"])
    assert list(campaign.audience()) == [texas_sleep]
    assert actions.audience_size(make_campaign()) == 3


def test_delivery_rows_are_made_in_one_statement_and_never_twice(django_assert_num_queries):
    SubscriberFactory.create_batch(5)
    campaign = make_campaign()
    with django_assert_num_queries(1):
        assert dispatch.create_deliveries(campaign) == 5
    assert dispatch.create_deliveries(campaign) == 0
    assert Delivery.objects.filter(campaign=campaign).count() == 5


def test_each_row_carries_its_recipient_s_provider_as_known_when_the_campaign_starts():
    SubscriberFactory(email="pat@gmail.com")
    SubscriberFactory(email="sam@contoso.example")
    SubscriberFactory(email="lee@unknown.example")
    now = timezone.now()
    for domain, provider in [("gmail.com", "google"), ("contoso.example", "microsoft")]:
        MailDomain.objects.create(
            domain=domain, provider=provider, looked_up_at=now, expires_at=now
        )
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    assert dict(Delivery.objects.values_list("subscriber__email", "provider")) == {
        "pat@gmail.com": "google",
        "sam@contoso.example": "microsoft",
        "lee@unknown.example": "other",
    }


def test_a_lane_sends_only_its_provider_s_share(mail):
    SubscriberFactory(email="pat@gmail.com")
    SubscriberFactory(email="lee@unknown.example")
    now = timezone.now()
    MailDomain.objects.create(
        domain="gmail.com", provider="google", looked_up_at=now, expires_at=now
    )
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    assert dispatch.send_batch(campaign.pk, "google").sent == 1
    assert [m.envelope_to for m in mail.messages] == [["pat@gmail.com"]]
    assert dispatch.send_batch(campaign.pk, "other").sent == 1
    assert dispatch.send_batch(campaign.pk, "google").claimed == 0


def test_a_batch_sends_each_person_one_message_with_the_required_headers(mail, settings):
    people = SubscriberFactory.create_batch(3)
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    (result,) = run_lanes(campaign)
    assert result.sent == 3
    assert sorted(m.envelope_to[0] for m in mail.messages) == sorted(p.email for p in people)
    message = mail.to(people[0].email)[0].message
    assert message["Subject"] == "Halftime Health is live in your state"
    delivery = Delivery.objects.get(subscriber=people[0])
    assert message["Message-ID"] == emails.campaign_message_id(campaign.pk, people[0].pk)
    assert re.fullmatch(
        rf"<campaign\.{campaign.pk}\.[0-9a-f]{{24}}@localhost>", message["Message-ID"]
    )
    assert delivery.status == "sent" and delivery.message_id == message["Message-ID"]
    unsubscribe, mailto = [part.strip(" <>") for part in message["List-Unsubscribe"].split(",")]
    assert unsubscribe.startswith(f"{settings.SITE_URL}/u/")
    assert mailto.startswith("mailto:")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "Halftime Health launch updates <launch.localhost>"
    assert message["Feedback-ID"] == f"{campaign.pk}:campaign:localhost", "nobody's data in it"
    received = mail.to(people[0].email)[0]
    assert unsubscribe in received.text and unsubscribe in received.html
    assert settings.POSTAL_ADDRESS in received.text and settings.POSTAL_ADDRESS in received.html
    assert f"{settings.SITE_URL}/privacy/" in received.text
    assert f'href="{settings.SITE_URL}/privacy/"' in received.html
    assert "<h2" in received.html and "Book your first visit" in received.html


def test_the_unsubscribe_link_in_a_campaign_works_with_one_click(mail, client):
    person = SubscriberFactory()
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    run_lanes(campaign)
    link = mail.messages[0].message["List-Unsubscribe"].split(",")[0].strip(" <>")
    path = link.split("localhost:8000", 1)[1]
    response = client.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    person.refresh_from_db()
    assert person.status == "unsubscribed"


def test_a_second_run_of_the_same_batch_sends_nothing(mail):
    SubscriberFactory.create_batch(2)
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    run_lanes(campaign)
    run_lanes(campaign)
    assert len(mail.messages) == 2


def test_someone_who_unsubscribes_before_their_batch_is_skipped(mail):
    stays, leaves = SubscriberFactory.create_batch(2)
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    links.unsubscribe(subscriber_id=leaves.pk)
    (result,) = run_lanes(campaign)
    assert (result.sent, result.skipped) == (1, 1)
    assert [m.envelope_to for m in mail.messages] == [[stays.email]]
    assert Delivery.objects.get(subscriber=leaves).status == "skipped"


def test_a_451_puts_the_row_back_with_a_backoff(mail):
    busy = SubscriberFactory(email="busy+tempfail@example.com")
    SubscriberFactory()
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    (result,) = run_lanes(campaign)
    assert (result.sent, result.deferred, result.retry_in) == (1, 1, 15)
    row = Delivery.objects.get(subscriber=busy)
    assert row.status == "queued" and row.not_before > timezone.now()
    assert "451" in row.answer and (row.attempts, row.deferrals) == (0, 1)
    assert dispatch.send_batch(campaign.pk).claimed == 0, "not before its wait is over"


@pytest.mark.django_db(transaction=True)
def test_past_the_hour_s_limit_a_lane_puts_the_rest_back_and_frees_its_worker(
    mail, settings, monkeypatch
):
    settings.CAMPAIGN_RATE_PER_HOUR = 3
    SubscriberFactory.create_batch(5)
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    asked = []
    monkeypatch.setattr(workers, "enqueue", lambda task, *args, countdown=None: asked.append(
        (task, *args, countdown)))  # fmt: skip
    results = []

    def run() -> None:  # as a worker would, in a thread: the test waits for it a while only
        results.append(dispatch.run_lane(campaign.pk, "other", 0))
        connection.close()

    lane = threading.Thread(target=run, daemon=True)
    lane.start()
    lane.join(timeout=30)
    assert not lane.is_alive(), "the lane waits for the next hour holding its worker"
    assert (results[0].sent, results[0].released) == (3, 2) and len(mail.messages) == 3
    rows = Delivery.objects.filter(campaign=campaign)
    assert sorted(rows.values_list("status", "attempts")) == [("queued", 0)] * 2 + [("sent", 1)] * 3
    ((task, *args, countdown),) = asked
    assert (task, *args) == (dispatch.LANE_TASK, campaign.pk, "other", 0)
    assert 0 < countdown <= 60, "it looks again within a minute, not at once"


def test_a_421_that_closes_the_session_delays_that_message_and_the_batch_goes_on(mail):
    people = SubscriberFactory.create_batch(5)
    first = people[1].email
    mail.answer_rcpt = lambda address, offered: (
        "421 4.7.0 Try again later, closing connection" if address == first and offered == 1
        else None
    )  # fmt: skip
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    (result,) = run_lanes(campaign)
    assert (result.sent, result.deferred, result.released) == (4, 1, 0)
    assert len({m.session for m in mail.messages}) == 2, "a new session after the 421"
    row = Delivery.objects.get(subscriber__email=first)
    assert (row.status, row.deferrals, row.attempts) == ("queued", 1, 0)
    assert row.answer.startswith("421 4.7.0")
    Delivery.objects.update(not_before=None)
    run_lanes(campaign)
    assert sorted(m.envelope_to[0] for m in mail.messages) == sorted(p.email for p in people)
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


@pytest.mark.parametrize(
    "answer",
    ["450 4.2.1 Mailbox busy", "451 4.3.0 Try later", "452 4.5.3 Too many recipients",
     "454 4.7.0 Sending rate exceeded"],
)  # fmt: skip
def test_a_throttling_answer_delays_that_message_only(mail, answer):
    people = SubscriberFactory.create_batch(4)
    throttled = people[2].email
    mail.answer_rcpt = lambda address, offered: (
        answer if address == throttled and offered == 1 else None
    )
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    (result,) = run_lanes(campaign)
    assert (result.sent, result.deferred, result.released) == (3, 1, 0)
    row = Delivery.objects.get(subscriber__email=throttled)
    assert (row.status, row.deferrals, row.answer) == ("queued", 1, answer)
    assert row.not_before is not None, "it waits its backoff, then goes again"
    Delivery.objects.update(not_before=None)
    run_lanes(campaign)
    assert sorted(m.envelope_to[0] for m in mail.messages) == sorted(p.email for p in people)
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


def test_an_email_service_s_429_delays_only_that_message(settings, monkeypatch):
    from anymail.backends.test import EmailBackend
    from anymail.exceptions import AnymailAPIError

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    people = SubscriberFactory.create_batch(3)
    throttled = {people[0].email}
    real_send = EmailBackend.post_to_esp

    def rate_limited_once(backend, payload, message):  # the service's HTTP API answering 429
        if message.to[0] in throttled:
            throttled.clear()
            raise AnymailAPIError("Too Many Requests", status_code=429)
        return real_send(backend, payload, message)

    monkeypatch.setattr(EmailBackend, "post_to_esp", rate_limited_once)
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    (result,) = run_lanes(campaign)
    assert (result.sent, result.deferred) == (2, 1)
    Delivery.objects.update(not_before=None)
    assert run_lanes(campaign)[0].sent == 1
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


def test_a_550_fails_the_row_and_suppresses_the_address(mail):
    gone = SubscriberFactory(email="gone+reject@example.com")
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    (result,) = run_lanes(campaign)
    assert result.failed == 1
    row = Delivery.objects.get(subscriber=gone)
    assert row.status == "failed" and row.answer.startswith("550")
    gone.refresh_from_db()
    assert gone.suppressed_at is not None and gone.suppression_reason == "hard bounce"
    assert gone not in make_campaign().audience()


def test_an_unreachable_server_puts_every_claimed_row_back(mail, settings):
    settings.EMAIL_PORT = 1
    SubscriberFactory.create_batch(3)
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    (result,) = run_lanes(campaign)
    assert result.released == 3 and result.retry_in
    assert set(Delivery.objects.values_list("status", flat=True)) == {"queued"}


def test_a_long_outage_of_the_mail_server_never_uses_up_a_row_s_attempts(mail, settings):
    # A row one try from its last: the server being down must not be what fails it.
    SubscriberFactory.create_batch(3)
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    Delivery.objects.update(attempts=dispatch.CampaignBatch.max_attempts - 1)
    settings.EMAIL_PORT = 1
    for _ in range(3):
        (result,) = run_lanes(campaign)
        assert result.released == 3 and result.retry_in == dispatch.CampaignBatch.unreachable_wait
        assert set(Delivery.objects.values_list("status", "attempts")) == {
            ("queued", dispatch.CampaignBatch.max_attempts - 1)
        }
        Delivery.objects.update(not_before=None)
    settings.EMAIL_PORT = mail.port
    run_lanes(campaign)
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert len(mail.messages) == 3


@pytest.mark.postgresql  # a database server's restart; SQLite has none
@pytest.mark.django_db(transaction=True)
def test_sent_messages_are_recorded_even_if_the_database_drops_the_connection_meanwhile(mail):
    SubscriberFactory.create_batch(3)
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    cut_database_connection_on_accept(mail)
    (result,) = run_lanes(campaign)
    assert result.sent == 3
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert len(mail.messages) == 3


def test_a_campaign_pauses_itself_past_the_error_threshold(mail, settings):
    settings.CAMPAIGN_ERROR_MIN_SAMPLE = 4
    for i in range(3):
        SubscriberFactory(email=f"bad{i}+reject@example.com")
    SubscriberFactory.create_batch(2)
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    run_lanes(campaign)
    campaign.refresh_from_db()
    assert campaign.status == "paused"


def test_pause_stops_sending_and_resume_carries_on(mail):
    SubscriberFactory.create_batch(3)
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    actions.pause(campaign)
    assert run_lanes(campaign)[0].sent == 0
    assert set(Delivery.objects.values_list("status", flat=True)) == {"queued"}
    actions.resume(campaign)
    assert run_lanes(campaign)[0].sent == 3


def test_pausing_mid_batch_puts_the_rest_back(mail, settings, monkeypatch):
    SubscriberFactory.create_batch(sending.MARK_EVERY + 5)
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    original = dispatch.CampaignBatch.still_wanted

    def paused_after_the_first_check(batch):
        wanted = original(batch)
        Campaign.objects.filter(pk=batch.campaign_id).update(status="paused")
        return wanted

    monkeypatch.setattr(dispatch.CampaignBatch, "still_wanted", paused_after_the_first_check)
    (result,) = run_lanes(campaign)
    assert result.sent == sending.MARK_EVERY and result.released == 5
    assert Delivery.objects.filter(status="queued").count() == 5
    assert Delivery.objects.filter(status="sent").count() == sending.MARK_EVERY


def test_cancel_skips_everything_not_yet_sent(mail):
    SubscriberFactory.create_batch(3)
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    assert actions.cancel(campaign) == 3
    assert run_lanes(campaign) == []
    assert mail.messages == []
    with pytest.raises(actions.CampaignError):
        actions.cancel(campaign)


def test_retry_failed_queues_failed_rows_of_people_still_reachable(mail):
    person = SubscriberFactory()
    campaign = make_campaign(status=Campaign.Status.SENT)
    dispatch.create_deliveries(campaign)
    Delivery.objects.update(status="failed", answer="421 try later")
    assert actions.retry_failed(campaign) == 1
    campaign.refresh_from_db()
    assert campaign.status == "sending"
    run_lanes(campaign)
    assert [m.envelope_to for m in mail.messages] == [[person.email]]


def test_the_dispatcher_starts_a_due_campaign_and_closes_it_when_all_is_sent(mail, handed_out):
    SubscriberFactory.create_batch(4)
    campaign = make_campaign(status=Campaign.Status.SCHEDULED, send_at=timezone.now())
    outcome = dispatch.dispatch()
    sessions = Pace.objects.get(provider="other").sessions
    assert outcome == {"started": [campaign.pk], "lanes": sessions}
    assert handed_out == [(dispatch.LANE_TASK, campaign.pk, "other", n) for n in range(sessions)]
    assert dispatch.dispatch()["lanes"] == 0, "its lanes are running"
    for _, *lane in handed_out[:]:
        tasks.send_campaign_lane(*lane)
    campaign.refresh_from_db()
    assert campaign.status == "sent" and campaign.finished_at is not None


def test_a_lane_runs_again_while_it_finds_mail_and_the_last_run_closes_the_campaign(
    mail, handed_out, monkeypatch
):
    SubscriberFactory.create_batch(4)
    monkeypatch.setattr(dispatch, "RUN_MOST", 2)
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    lane = (dispatch.LANE_TASK, campaign.pk, "other", 0)
    assert tasks.send_campaign_lane(*lane[1:]) == {"claimed": 2, "sent": 2}
    assert handed_out.pop() == lane, "mail is still due: it runs again"
    assert Campaign.objects.get(pk=campaign.pk).status == "sending"
    assert tasks.send_campaign_lane(*lane[1:]) == {"claimed": 2, "sent": 2}
    assert handed_out == [], "nothing left: the lane ends"
    campaign.refresh_from_db()
    assert campaign.status == "sent" and campaign.finished_at is not None


def test_a_lane_with_only_deferred_mail_runs_again_when_it_comes_due(mail, handed_out, settings):
    SubscriberFactory(email="busy+tempfail@example.com")
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    assert tasks.send_campaign_lane(campaign.pk, "other", 0) == {"claimed": 1, "deferred": 1}
    assert handed_out == [(dispatch.LANE_TASK, campaign.pk, "other", 0)]
    settings.CAMPAIGN_LEASE_SECONDS = 10  # the deferred message is due later than a lease
    handed_out.clear()
    Delivery.objects.update(status="queued", not_before=timezone.now() + dt.timedelta(seconds=60))
    assert tasks.send_campaign_lane(campaign.pk, "other", 0) == {}
    assert handed_out == [], "the dispatcher opens it again when it is due"


def test_a_campaign_scheduled_for_later_waits(handed_out):
    SubscriberFactory()
    later = timezone.now() + timezone.timedelta(hours=1)
    make_campaign(status=Campaign.Status.SCHEDULED, send_at=later)
    assert dispatch.dispatch()["started"] == []
    assert not Delivery.objects.exists()


def test_the_dispatcher_takes_back_rows_whose_worker_died(mail, handed_out):
    SubscriberFactory.create_batch(2)
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    stale = timezone.now() - dispatch.lease() - timezone.timedelta(seconds=1)
    Delivery.objects.update(status="sending", claimed_at=stale)
    dispatch.dispatch()
    assert set(Delivery.objects.values_list("status", flat=True)) == {"queued"}
    assert handed_out


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_start_a_campaign_once_and_make_each_row_once(handed_out):
    SubscriberFactory.create_batch(20)
    campaign = make_campaign(status=Campaign.Status.SCHEDULED, send_at=timezone.now())
    barrier = threading.Barrier(2)
    outcomes = []

    def run():
        barrier.wait()
        try:
            outcomes.append(dispatch.dispatch())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(o["started"]) for o in outcomes) == [0, 1]
    assert Delivery.objects.filter(campaign=campaign).count() == 20
    campaign.refresh_from_db()
    assert campaign.status == "sending"


# --- operators ---------------------------------------------------------------------------------


def test_preflight_refuses_without_a_test_send_and_when_unsubscribe_links_would_be_dead(settings):
    settings.SITE_URL = "https://elsewhere.example"
    SubscriberFactory()
    tomorrow = timezone.now() + dt.timedelta(days=1)
    campaign = make_campaign(status=Campaign.Status.DRAFT, send_at=tomorrow)
    check = actions.preflight(campaign)
    assert not check.ok
    assert "Send a test first." in check.problems
    assert (
        "The unsubscribe links would be dead: they lead to elsewhere.example, which is not in "
        "ALLOWED_HOSTS (check SITE_URL)." in check.problems
    )
    with pytest.raises(actions.CampaignError, match="test"):
        actions.schedule(campaign)


def test_preflight_refuses_an_empty_audience():
    campaign = make_campaign(status=Campaign.Status.DRAFT, audience_states=["AK"])
    assert "The audience is empty." in actions.preflight(campaign).problems


@pytest.mark.django_db(transaction=True)
def test_preflight_passes_after_a_test_and_schedules_with_an_estimate(mail, settings):
    settings.CAMPAIGN_RATE_PER_SECOND = 10
    SubscriberFactory.create_batch(25)
    tomorrow = timezone.now() + dt.timedelta(days=1)
    campaign = make_campaign(status=Campaign.Status.DRAFT, send_at=tomorrow)
    actions.send_test(campaign, to="operator@example.com")
    campaign.refresh_from_db()
    check = actions.schedule(campaign)
    assert check.ok and check.audience == 25 and check.estimated_seconds == 2
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"


STALE_TEST = (
    "Send a test of this version first: the sender, subject, preheader or body changed since "
    "the last one."
)


@pytest.mark.parametrize(
    "field, value",
    [("subject", "A new subject"), ("preheader", "A new line"), ("body", "## Changed\n\nText.")],
)
def test_changing_what_the_recipient_sees_asks_for_a_new_test(mail, field, value):
    SubscriberFactory()
    campaign = make_campaign(status=Campaign.Status.DRAFT)
    actions.send_test(campaign, to="operator@example.com")
    campaign.refresh_from_db()
    setattr(campaign, field, value)
    campaign.save()
    assert STALE_TEST in actions.preflight(campaign).problems


def test_a_new_sender_address_asks_for_a_new_test(mail, settings):
    campaign = make_campaign(status=Campaign.Status.DRAFT)
    actions.send_test(campaign, to="operator@example.com")
    campaign.refresh_from_db()
    settings.DEFAULT_FROM_EMAIL = "Halftime Health <news@example.org>"
    assert STALE_TEST in actions.preflight(campaign).problems


def test_editing_the_schedule_or_the_audience_keeps_the_test(mail):
    SubscriberFactory(state="TX")
    campaign = make_campaign(status=Campaign.Status.DRAFT)
    actions.send_test(campaign, to="operator@example.com")
    campaign.refresh_from_db()
    campaign.send_at = timezone.now() + dt.timedelta(days=2)
    campaign.audience_states = ["TX"]
    campaign.name = "Texas, second try"
    campaign.save()
    problems = actions.preflight(campaign).problems
    assert not any("test" in problem for problem in problems)


def test_a_test_send_looks_like_the_real_thing(mail):
    campaign = make_campaign(status=Campaign.Status.DRAFT)
    actions.send_test(campaign, to="operator@example.com")
    (received,) = mail.to("operator@example.com")
    assert received.message["Subject"] == "[Test] Halftime Health is live in your state"
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "You can now book a visit." in received.text
    assert not Subscriber.objects.exists()


def test_the_plain_text_part_reads_as_text_and_keeps_the_editor_s_line_breaks(mail):
    SubscriberFactory(email="reader@example.com")
    campaign = make_campaign(
        body="## News\n\nWe are **live** in *Texas*. [Book a visit](https://example.org/book)"
        "\n\n- First visit online\n- Labs near you\n\nSee you soon,\nThe Halftime team",
    )
    dispatch.create_deliveries(campaign)
    run_lanes(campaign)
    (received,) = mail.to("reader@example.com")
    text = received.text
    assert "##" not in text and "**" not in text and "*Texas*" not in text
    assert "News\n====\n\nWe are live in Texas. Book a visit [1]" in text
    assert "- First visit online\n- Labs near you" in text
    assert "See you soon,\nThe Halftime team" in text
    assert "[1] https://example.org/book" in text
    assert "See you soon,<br>\nThe Halftime team" in received.html


def test_the_fast_smtp_path_writes_the_same_message_as_django_would():
    import email
    import email.policy

    campaign = make_campaign(subject="We’re live in Texas — book now")
    template = emails.campaign_template(campaign)
    copy = emails.campaign_copy(
        template, campaign_id=campaign.pk, subscriber_id=7, email="pat@example.com", token_key="k"
    )
    parse = lambda data: email.message_from_bytes(data, policy=email.policy.default)  # noqa: E731
    fast = parse(messages.mime(copy))
    django = parse(messages.message(copy).message().as_bytes())
    for header in ["From", "To", "Subject", "Message-ID", "List-Unsubscribe",
                   "List-Unsubscribe-Post", "List-Id", "Feedback-ID"]:  # fmt: skip
        assert str(fast[header]).strip() == str(django[header]).strip(), header
    for kind in ("plain", "html"):
        assert (
            fast.get_body(preferencelist=(kind,)).get_content()
            == django.get_body(preferencelist=(kind,)).get_content()
        )


def test_an_email_service_backend_gets_django_messages_and_its_ids_are_kept(settings):
    from django.core import mail as django_mail

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    people = SubscriberFactory.create_batch(2)
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    django_mail.outbox = []
    (result,) = run_lanes(campaign)
    assert result.sent == 2
    assert sorted(m.to[0] for m in django_mail.outbox) == sorted(p.email for p in people)
    assert django_mail.outbox[0].extra_headers["List-Unsubscribe-Post"] == (
        "List-Unsubscribe=One-Click"
    )
    assert sorted(Delivery.objects.values_list("esp_message_id", flat=True)) == ["0", "1"]


@pytest.mark.django_db(transaction=True)
def test_a_dispatcher_running_while_another_makes_the_rows_does_not_close_the_campaign(
    monkeypatch, handed_out
):
    SubscriberFactory.create_batch(30)
    campaign = make_campaign(status=Campaign.Status.SCHEDULED, send_at=timezone.now())
    inside, go = threading.Event(), threading.Event()
    real_create = dispatch.create_deliveries

    def slow_create(campaign, *args, **kwargs):
        inside.set()
        assert go.wait(10)
        return real_create(campaign, *args, **kwargs)

    monkeypatch.setattr(dispatch, "create_deliveries", slow_create)

    def first():
        try:
            dispatch.dispatch()
        finally:
            connection.close()

    def second():
        try:
            dispatch.dispatch()
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert inside.wait(10)
    two = threading.Thread(target=second)
    two.start()
    two.join(0.5)
    go.set()
    one.join()
    two.join()
    campaign.refresh_from_db()
    assert campaign.status == "sending"
    assert Delivery.objects.filter(campaign=campaign, status="queued").count() == 30


# --- our sender refused ----------------------------------------------------------------------

SENDER_REFUSALS = [
    "550 5.7.515 Access denied, sending domain example.org does not meet the required "
    "authentication level.",
    "550 5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail "
    "requires all senders to authenticate with either SPF or DKIM.",
    "550 5.7.1 Email rejected per DMARC policy for example.org",
]


@pytest.mark.parametrize("answer", SENDER_REFUSALS)
def test_a_domain_refusing_our_sender_holds_its_mail_the_rest_goes_and_nobody_is_suppressed(
    mail, answer
):
    others = SubscriberFactory.create_batch(2)
    refusing = [SubscriberFactory(email=f"r{n}@contoso.example") for n in range(3)]
    mail.answer_rcpt = lambda address, offered: (
        answer if address.endswith("@contoso.example") else None
    )
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    (result,) = run_lanes(campaign)
    assert (result.sent, result.held, result.failed) == (2, 3, 0)
    assert sum(mail.offered[p.email] for p in refusing) == 1, "refused once, then not tried"
    assert sorted(m.envelope_to[0] for m in mail.messages) == sorted(p.email for p in others)
    assert Campaign.objects.get(pk=campaign.pk).status == "sending"

    assert dispatch.finish_if_done(campaign.pk), "nothing but held mail left: it pauses"
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    assert "the mail to contoso.example (3) is held" in campaign.pause_reason
    assert answer in campaign.pause_reason and "Nobody was suppressed" in campaign.pause_reason
    assert not Subscriber.objects.filter(suppressed_at__isnull=False).exists()
    held = Delivery.objects.filter(subscriber__in=refusing)
    assert [(row.status, row.attempts) for row in held] == [("held", 0)] * 3

    mail.answer_rcpt = None  # the domain's authentication is fixed
    actions.resume(campaign)
    assert sum(result.sent for result in run_lanes(campaign)) == 3
    assert len(mail.messages) == 5
    campaign.refresh_from_db()
    assert campaign.pause_reason == ""


def test_confirmations_our_sender_cannot_send_wait_and_suppress_nobody(client, mail):
    from waitlist.models import OutboundEmail
    from waitlist.people import outbox

    client.post("/waitlist/", {"email": "new@example.org"})
    mail.refuse_data = SENDER_REFUSALS[0]
    outbox.send_due()
    (row,) = OutboundEmail.objects.all()
    assert (row.status, row.attempts) == ("queued", 0) and row.not_before > timezone.now()
    assert row.answer.startswith("550 5.7.515")
    assert not Subscriber.objects.filter(suppressed_at__isnull=False).exists()


@pytest.mark.parametrize(
    "answer",
    ["550 5.7.1 Relaying denied", "550 5.1.1 No such user", "550 5.7.260 Something else"],
)
def test_other_refusals_are_not_taken_for_our_sender_s(answer):
    assert not sending.sender_not_authenticated(answer)


def test_the_paused_campaign_s_page_says_why(mail, staff_client):
    SubscriberFactory()
    campaign = make_campaign()
    dispatch.create_deliveries(campaign)
    mail.refuse_data = SENDER_REFUSALS[0]
    run_lanes(campaign)
    dispatch.finish_if_done(campaign.pk)
    page = staff_client.get(f"/admin/waitlist/campaign/{campaign.pk}/change/").content.decode()
    assert "servers refused our sender&#x27;s authentication" in page
    assert "Set up SPF, DKIM and DMARC" in page


def test_a_sender_refusal_reported_after_the_campaign_ended_fails_the_row_for_retry():
    person = SubscriberFactory()
    campaign = make_campaign(status=Campaign.Status.SENT)
    row = Delivery.objects.create(
        campaign=campaign, subscriber=person, status="sent", message_id="<late@example.org>"
    )
    assert feedback.record_tracking_event(
        event_type="bounced", recipient=person.email, message_id="<late@example.org>",
        answer=SENDER_REFUSALS[0],
    )  # fmt: skip
    row.refresh_from_db()
    campaign.refresh_from_db()
    assert (row.status, campaign.status) == ("failed", "sent")
    person.refresh_from_db()
    assert person.suppressed_at is None
    assert actions.retry_failed(campaign) == 1  # sent again once the domain is fixed
