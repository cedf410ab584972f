"""The transactional outbox, against the real things: a Celery worker process, Redis, PostgreSQL
and an SMTP server."""

import datetime as dt
import email
import email.policy
import json
import re
import smtplib
import time

import pytest
from anymail.exceptions import AnymailAPIError
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import joined
from tests.faults import cut_database_connection_on_accept
from tests.processes import wait_until
from waitlist.engine import messages, sending
from waitlist.engine.sending import asked_to_wait, server_unavailable
from waitlist.models import OutboundEmail, Subscriber
from waitlist.people import emails, outbox, wording
from waitlist.people.signup import SignupSource, subscribe
from waitlist.tasks import send_outbox

LINK = re.compile(r"https?://\S+/waitlist/confirm/[^/\s]+/")


def join(email: str) -> Subscriber:
    """As the form does, without its per-address limits."""
    source = SignupSource()
    return subscribe(
        email=email, interests=[], state="", source=source, ip="203.0.113.9", user_agent="test"
    ).subscriber


@pytest.mark.django_db(transaction=True)
def test_a_signup_reaches_the_inbox_through_a_real_worker(client, worker, smtp_sink):
    smtp_sink.clear()
    joined(client, "inbox@example.com")
    (received,) = smtp_sink.wait_for(1)
    message = received.message
    assert received.envelope_to == ["inbox@example.com"]
    assert message["Subject"] == "Confirm your email for Halftime Health updates"
    assert message["Message-ID"] == messages.message_id(
        "confirmation", OutboundEmail.objects.get().pk
    )
    link = LINK.search(received.text).group(0)
    assert link in received.html
    assert "inbox@example.com" not in received.text + received.html
    # The worker marks the row once the server has answered, a moment after the sink has it.
    wait_until(
        lambda: OutboundEmail.objects.get().status == "sent", timeout=10, message="not marked"
    )
    assert OutboundEmail.objects.get().message_id == message["Message-ID"]
    path = link.split("localhost:8000", 1)[1]
    assert client.post(path).status_code == 302
    assert Subscriber.objects.get().status == "confirmed"


@pytest.mark.django_db
def test_no_message_id_or_link_in_an_email_tells_how_many_people_have_joined(client, mail):
    people = [joined(client, f"count{n}@example.com") for n in range(3)]
    assert outbox.send_due().sent == 3
    for person in people:
        received = mail.to(person.email)[0]
        assert re.fullmatch(
            r"<confirmation\.[0-9a-f]{24}@localhost>", received.message["Message-ID"]
        )
        link = LINK.search(received.text).group(0)
        token = link.rstrip("/").rsplit("/", 1)[1]
        # The payload of a signed value is plain base64 JSON: anyone can read it.
        payload = json.loads(signing.b64_decode(token.split(":")[0].encode()))
        assert not any(isinstance(value, int) for value in payload), payload
        assert client.post(link.split("localhost:8000", 1)[1]).status_code == 302
    assert Subscriber.objects.filter(status="confirmed").count() == 3


def test_confirmation_mail_has_its_own_queue():
    route = send_outbox.app.amqp.router.route({}, send_outbox.name)
    assert route["queue"].name == "mail"


@pytest.mark.django_db
def test_sending_claims_the_row_so_a_second_send_does_nothing(client, mail):
    joined(client)
    assert outbox.send_due().counts() == {"claimed": 1, "sent": 1}
    assert outbox.send_due().counts() == {}
    assert len(mail.to("pat@example.com")) == 1


@pytest.mark.django_db
def test_a_451_from_the_server_puts_the_email_back_for_a_retry_that_waits_longer_each_time(
    client, mail
):
    outbound = joined(client, "busy+tempfail@example.com").emails.get()
    for deferrals, wait in enumerate([15, 30, 60, 120], start=1):
        result = outbox.send_due()
        assert (result.deferred, result.retry_in) == (1, wait)
        outbound.refresh_from_db()
        assert (outbound.status, outbound.attempts, outbound.deferrals) == ("queued", 0, deferrals)
        assert "451" in outbound.answer
        assert outbound.not_before == pytest.approx(
            timezone.now() + dt.timedelta(seconds=wait), abs=dt.timedelta(seconds=5)
        )
        assert outbox.send_due().claimed == 0, "not before its wait is over"
        OutboundEmail.objects.update(not_before=None)


@pytest.mark.django_db
def test_a_550_from_the_server_fails_the_email_for_good(client, mail):
    subscriber = joined(client, "nobody+reject@example.com")
    assert outbox.send_due().failed == 1
    outbound = subscriber.emails.get()
    assert outbound.status == "failed" and outbound.answer.startswith("550")
    assert mail.messages == []
    subscriber.refresh_from_db()
    assert subscriber.suppression_reason == "hard bounce"


@pytest.mark.django_db
def test_an_unreachable_server_puts_the_email_back_without_counting_the_try(client, mail, settings):
    settings.EMAIL_PORT = 1
    outbound = joined(client).emails.get()
    result = outbox.send_due()
    assert result.unreachable and result.retry_in == outbox.Outbox.unreachable_wait
    outbound.refresh_from_db()
    assert (outbound.status, outbound.attempts) == ("queued", 0)


@pytest.mark.django_db
def test_a_long_outage_of_the_mail_server_never_gives_a_confirmation_up(client, mail, settings):
    outbound = joined(client).emails.get()
    OutboundEmail.objects.filter(pk=outbound.pk).update(attempts=outbox.Outbox.max_attempts)
    settings.EMAIL_PORT = 1
    for _ in range(3):
        assert outbox.send_due().unreachable
        outbound.refresh_from_db()
        assert (outbound.status, outbound.attempts) == ("queued", outbox.Outbox.max_attempts)
        OutboundEmail.objects.update(not_before=None)
    settings.EMAIL_PORT = mail.port
    assert outbox.send_due().sent == 1


@pytest.mark.postgresql  # a database server's restart; SQLite has none
@pytest.mark.django_db(transaction=True)
def test_a_sent_email_is_recorded_even_if_the_database_drops_the_connection_meanwhile(
    client, mail, monkeypatch
):
    # Sent here, not by a worker of another test that may still be running.
    monkeypatch.setattr(outbox, "enqueue", lambda **options: None)
    outbound = joined(client).emails.get()
    cut_database_connection_on_accept(mail)
    assert outbox.send_due().sent == 1
    outbound.refresh_from_db()
    assert outbound.status == "sent" and outbound.message_id
    assert len(mail.to("pat@example.com")) == 1
    monkeypatch.setattr(outbox, "enqueue", lambda: pytest.fail("nothing is due"))
    assert outbox.sweep() == 0


WAIT, LATER, REFUSED = "wait for the server", "try the message later", "refused"


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (ConnectionRefusedError(111, "Connection refused"), WAIT),
        (TimeoutError("timed out"), WAIT),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), WAIT),
        (smtplib.SMTPConnectError(554, b"no service"), WAIT),
        (smtplib.SMTPResponseException(421, b"closing channel"), LATER),
        (smtplib.SMTPResponseException(451, b"try later"), LATER),
        (smtplib.SMTPSenderRefused(454, b"Throttling failure", "us@example.com"), LATER),
        (smtplib.SMTPRecipientsRefused({"a@example.com": (450, b"busy")}), LATER),
        (smtplib.SMTPRecipientsRefused({"a@example.com": (452, b"too many")}), LATER),
        (smtplib.SMTPDataError(554, b"message refused"), REFUSED),
        (AnymailAPIError("timed out"), WAIT),
        (AnymailAPIError("rate limited", status_code=429), LATER),
        (AnymailAPIError("bad gateway", status_code=502), WAIT),
        (AnymailAPIError("invalid request", status_code=422), REFUSED),
    ],
)
def test_what_a_failure_costs_a_message(error, outcome):
    """Waiting for the server and being asked to try later use none of a message's attempts."""
    if asked_to_wait(error):
        assert outcome == LATER
    else:
        assert outcome == (WAIT if server_unavailable(error) else REFUSED)


@pytest.mark.django_db
def test_an_email_is_given_up_after_the_last_deferral(client, mail):
    outbound = joined(client, "busy+tempfail@example.com").emails.get()
    OutboundEmail.objects.filter(pk=outbound.pk).update(deferrals=sending.MAX_DEFERRALS - 1)
    assert outbox.send_due().failed == 1
    outbound.refresh_from_db()
    assert outbound.status == "failed" and "451" in outbound.answer
    assert f"still refused after {sending.MAX_DEFERRALS} tries" in outbound.answer


@pytest.mark.django_db
def test_a_confirmation_for_someone_already_confirmed_is_skipped(client, mail):
    subscriber = joined(client)
    Subscriber.objects.filter(pk=subscriber.pk).update(status="confirmed")
    assert outbox.send_due().skipped == 1
    assert subscriber.emails.get().status == "skipped"
    assert mail.messages == []


@pytest.mark.django_db
def test_a_confirmation_for_an_older_consent_is_skipped_and_the_newest_is_sent(client, mail):
    subscriber = joined(client)
    older = subscriber.emails.get()
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    Subscriber.objects.filter(pk=subscriber.pk).update(
        status="unsubscribed", last_confirmation_at=an_hour_ago
    )
    joined(client)  # asks again: a new consent record and a new confirmation
    newer = subscriber.emails.exclude(pk=older.pk).get()
    assert outbox.send_due().counts() == {"claimed": 2, "sent": 1, "skipped": 1}
    (received,) = mail.messages
    assert received.message["Message-ID"] == messages.message_id("confirmation", newer.pk)
    assert OutboundEmail.objects.get(pk=older.pk).status == "skipped"


@pytest.mark.django_db
def test_a_batch_of_confirmations_costs_the_queries_of_one(client, mail, django_assert_num_queries):

    join("warm@example.com")
    outbox.send_due()  # the first email of a kind makes its wording's first version
    join("first@example.com")
    with CaptureQueriesContext(connection) as one:
        assert outbox.send_due().sent == 1
    for i in range(20):
        join(f"person{i}@example.com")
    with CaptureQueriesContext(connection) as twenty:
        assert outbox.send_due().sent == 20
    assert len(twenty) == len(one)


@pytest.mark.django_db
def test_a_backlog_goes_out_oldest_first(client, mail):
    for i in range(outbox.BATCH_SIZE + 5):
        join(f"person{i}@example.com")
    result = outbox.send_due()
    assert (result.claimed, result.sent) == (outbox.BATCH_SIZE + 5, outbox.BATCH_SIZE + 5)
    assert [m.envelope_to[0] for m in mail.messages][:2] == [
        "person0@example.com",
        "person1@example.com",
    ]


@pytest.mark.django_db
def test_the_sweep_hands_out_old_queued_rows_and_takes_back_rows_whose_worker_died(
    client, monkeypatch
):
    old = timezone.now() - dt.timedelta(minutes=10)
    stuck_queued = joined(client, "a@example.com").emails.get()
    stuck_sending = joined(client, "b@example.com").emails.get()
    joined(client, "c@example.com")  # its own task is on the way: not the sweep's
    OutboundEmail.objects.filter(pk=stuck_queued.pk).update(created_at=old)
    OutboundEmail.objects.filter(pk=stuck_sending.pk).update(
        created_at=old, status="sending", claimed_at=old
    )
    enqueued = []
    monkeypatch.setattr(outbox, "enqueue", lambda: enqueued.append(1))
    assert outbox.sweep() == 2
    assert enqueued == [1], "one task sends a whole batch"
    assert OutboundEmail.objects.get(pk=stuck_sending.pk).status == "queued"


@pytest.mark.django_db
def test_a_row_left_sending_by_a_dead_worker_is_sent_again_after_the_lease(
    client, mail, handed_out
):
    outbound = joined(client).emails.get()
    OutboundEmail.objects.filter(pk=outbound.pk).update(
        status="sending",
        claimed_at=timezone.now() - outbox.lease() - dt.timedelta(seconds=1),
    )
    assert outbox.send_due().claimed == 0
    outbox.sweep()
    assert outbox.send_due().sent == 1
    (received,) = mail.messages
    assert received.message["Message-ID"] == messages.message_id("confirmation", outbound.pk)


@pytest.mark.django_db
def test_a_live_worker_keeps_its_claim_however_long_its_batch_takes(
    client, mail, settings, monkeypatch, handed_out
):
    settings.OUTBOX_LEASE_SECONDS = 1
    for i in range(5):
        join(f"person{i}@example.com")
    taken_back = []

    def slow_send_while_the_sweep_runs(batch):
        time.sleep(0.3)
        outbox.sweep()
        taken_back.append(OutboundEmail.objects.filter(status="queued").count())

    monkeypatch.setattr(outbox.Outbox, "take_permit", slow_send_while_the_sweep_runs)
    assert outbox.send_due().sent == 5
    assert taken_back == [0] * 5
    assert len(mail.messages) == 5


@pytest.mark.django_db
def test_the_fast_smtp_path_writes_the_same_confirmation_as_django_would(client):
    subscriber = joined(client)
    outbound = subscriber.emails.get()
    copy = emails.confirmation_copy(
        emails.confirmation_template(wording.current("confirmation")),
        outbound_id=outbound.pk,
        token_key=subscriber.token_key,
        consent_id=outbound.consent_id,
        email=subscriber.email,
    )
    parse = lambda data: email.message_from_bytes(data, policy=email.policy.default)  # noqa: E731
    fast = parse(messages.mime(copy))
    django = parse(messages.message(copy).message().as_bytes())
    for header in ["From", "To", "Subject", "Message-ID"]:
        assert str(fast[header]) == str(django[header]), header
    for kind in ("plain", "html"):
        assert (
            fast.get_body(preferencelist=(kind,)).get_content()
            == django.get_body(preferencelist=(kind,)).get_content()
        )
    assert LINK.search(fast.get_body(preferencelist=("plain",)).get_content())


@pytest.mark.django_db(transaction=True)
def test_one_send_task_waits_for_a_burst_and_a_later_email_gets_its_own(monkeypatch):
    enqueued = []
    monkeypatch.setattr(outbox, "enqueue", lambda **options: enqueued.append(options))
    for i in range(3):
        join(f"burst{i}@example.com")
    assert enqueued == [{"countdown": outbox.LINGER_SECONDS}], "one task for the three"
    outbox.starting()  # the task begins: whatever commits now may be after its last look
    join("later@example.com")
    assert len(enqueued) == 2


@pytest.mark.django_db(transaction=True)
def test_with_the_cache_down_every_commit_enqueues_a_send(monkeypatch):
    enqueued = []
    monkeypatch.setattr(outbox, "enqueue", lambda **options: enqueued.append(options))

    def unavailable(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(outbox.cache, "add", unavailable)
    join("one@example.com")
    join("two@example.com")
    assert len(enqueued) == 2
