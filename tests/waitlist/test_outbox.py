"""The transactional outbox, against the real things: a Celery worker process, Redis, PostgreSQL
and an SMTP server."""

import datetime as dt
import re
import smtplib

import pytest
from django.utils import timezone

from tests.faults import cut_database_connection_on_accept
from tests.processes import wait_until
from waitlist import services
from waitlist.emails import server_unavailable
from waitlist.models import OutboundEmail, Subscriber
from waitlist.tasks import send_outbound_email

LINK = re.compile(r"https?://\S+/waitlist/confirm/[^/\s]+/")


def signup(client, email="pat@example.com") -> Subscriber:
    client.post("/waitlist/", {"email": email})
    return Subscriber.objects.get(email=email)


@pytest.mark.django_db(transaction=True)
def test_a_signup_reaches_the_inbox_through_a_real_worker(client, worker, smtp_sink):
    smtp_sink.clear()
    signup(client, "inbox@example.com")
    (received,) = smtp_sink.wait_for(1)
    message = received.message
    assert received.envelope_to == ["inbox@example.com"]
    assert message["Subject"] == "Confirm your email for Halftime Health updates"
    assert message["Message-ID"] == f"<confirmation.{OutboundEmail.objects.get().pk}@localhost>"
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


def test_confirmation_mail_has_its_own_queue():
    route = send_outbound_email.app.amqp.router.route({}, send_outbound_email.name)
    assert route["queue"].name == "mail"


@pytest.mark.django_db
def test_sending_claims_the_row_so_a_second_send_does_nothing(client, mail):
    subscriber = signup(client)
    outbound = subscriber.emails.get()
    assert services.send_outbound(outbound.pk) == "sent"
    assert services.send_outbound(outbound.pk) == "not claimed"
    assert len(mail.to("pat@example.com")) == 1


@pytest.mark.django_db
def test_a_451_from_the_server_puts_the_email_back_for_a_retry(client, mail):
    subscriber = signup(client, "busy+tempfail@example.com")
    outbound = subscriber.emails.get()
    with pytest.raises(services.TransientSendError):
        services.send_outbound(outbound.pk)
    outbound.refresh_from_db()
    assert (outbound.status, outbound.attempts) == ("queued", 1)
    assert "451" in outbound.last_error
    assert outbound.pk in [row.pk for row in OutboundEmail.objects.filter(status="queued")]


@pytest.mark.django_db
def test_a_550_from_the_server_fails_the_email_for_good(client, mail):
    subscriber = signup(client, "nobody+reject@example.com")
    outbound = subscriber.emails.get()
    assert services.send_outbound(outbound.pk) == "failed"
    outbound.refresh_from_db()
    assert outbound.status == "failed" and "550" in outbound.last_error
    assert mail.messages == []


@pytest.mark.django_db
def test_an_unreachable_server_is_a_transient_failure(client, mail, settings):
    settings.EMAIL_PORT = 1
    outbound = signup(client).emails.get()
    with pytest.raises(services.TransientSendError):
        services.send_outbound(outbound.pk)
    outbound.refresh_from_db()
    assert outbound.status == "queued"


@pytest.mark.django_db
def test_a_long_outage_of_the_mail_server_never_gives_a_confirmation_up(client, mail, settings):
    outbound = signup(client).emails.get()
    OutboundEmail.objects.filter(pk=outbound.pk).update(attempts=services.MAX_ATTEMPTS)
    settings.EMAIL_PORT = 1
    for _ in range(3):
        with pytest.raises(services.TransientSendError):
            services.send_outbound(outbound.pk)
        outbound.refresh_from_db()
        assert (outbound.status, outbound.attempts) == ("queued", services.MAX_ATTEMPTS)
    settings.EMAIL_PORT = mail.port
    assert services.send_outbound(outbound.pk) == "sent"
    assert len(mail.to("pat@example.com")) == 1


@pytest.mark.postgresql  # a database server's restart; SQLite has none
@pytest.mark.django_db(transaction=True)
def test_a_sent_email_is_recorded_even_if_the_database_drops_the_connection_meanwhile(client, mail):
    outbound = signup(client).emails.get()
    cut_database_connection_on_accept(mail)
    assert services.send_outbound(outbound.pk) == "sent"
    outbound.refresh_from_db()
    assert outbound.status == "sent" and outbound.message_id
    assert len(mail.to("pat@example.com")) == 1
    assert services.due_outbound_ids() == []


@pytest.mark.parametrize(
    ("error", "server_down"),
    [
        (ConnectionRefusedError(111, "Connection refused"), True),
        (TimeoutError("timed out"), True),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), True),
        (smtplib.SMTPConnectError(554, b"no service"), True),
        (smtplib.SMTPResponseException(421, b"closing channel"), True),
        (smtplib.SMTPResponseException(451, b"try later"), False),
        (smtplib.SMTPDataError(554, b"message refused"), False),
        (smtplib.SMTPRecipientsRefused({"a@example.com": (450, b"busy")}), False),
    ],
)
def test_only_an_unreachable_server_is_waited_for_without_counting(error, server_down):
    assert server_unavailable(error) is server_down


@pytest.mark.django_db
def test_an_email_is_given_up_after_the_last_attempt(client, mail):
    outbound = signup(client, "busy+tempfail@example.com").emails.get()
    OutboundEmail.objects.filter(pk=outbound.pk).update(attempts=services.MAX_ATTEMPTS - 1)
    with pytest.raises(services.TransientSendError):
        services.send_outbound(outbound.pk)
    outbound.refresh_from_db()
    assert outbound.status == "failed"


@pytest.mark.django_db
def test_a_confirmation_for_someone_already_confirmed_is_skipped(client, mail):
    subscriber = signup(client)
    outbound = subscriber.emails.get()
    Subscriber.objects.filter(pk=subscriber.pk).update(status="confirmed")
    assert services.send_outbound(outbound.pk) == "skipped"
    assert mail.messages == []


@pytest.mark.django_db
def test_a_confirmation_for_an_older_consent_is_skipped_and_the_newest_is_sent(client, mail):
    subscriber = signup(client)
    older = subscriber.emails.get()
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    Subscriber.objects.filter(pk=subscriber.pk).update(
        status="unsubscribed", last_confirmation_at=an_hour_ago
    )
    signup(client)  # asks again: a new consent record and a new confirmation
    newer = subscriber.emails.exclude(pk=older.pk).get()
    assert services.send_outbound(older.pk) == "skipped"
    assert services.send_outbound(newer.pk) == "sent"
    (received,) = mail.messages
    assert received.message["Message-ID"] == f"<confirmation.{newer.pk}@localhost>"


@pytest.mark.django_db
def test_sending_a_confirmation_takes_three_queries(client, mail, django_assert_num_queries):
    outbound = signup(client).emails.get()
    with django_assert_num_queries(3):  # claim it, read it with its subscriber, record the send
        assert services.send_outbound(outbound.pk) == "sent"


@pytest.mark.django_db
def test_the_sweep_finds_old_queued_rows_and_rows_whose_worker_died(client):

    from django.utils import timezone

    old = timezone.now() - dt.timedelta(minutes=10)
    stuck_queued = signup(client, "a@example.com").emails.get()
    stuck_sending = signup(client, "b@example.com").emails.get()
    fresh = signup(client, "c@example.com").emails.get()
    OutboundEmail.objects.filter(pk=stuck_queued.pk).update(created_at=old)
    OutboundEmail.objects.filter(pk=stuck_sending.pk).update(
        created_at=old, status="sending", claimed_at=old
    )
    assert services.due_outbound_ids() == [stuck_queued.pk, stuck_sending.pk]
    assert fresh.pk not in services.due_outbound_ids()


@pytest.mark.django_db
def test_a_row_left_sending_by_a_dead_worker_is_claimed_again_after_the_lease(client, mail):

    from django.utils import timezone

    outbound = signup(client).emails.get()
    OutboundEmail.objects.filter(pk=outbound.pk).update(
        status="sending",
        claimed_at=timezone.now() - services.send_lease() - dt.timedelta(seconds=1),
    )
    assert services.send_outbound(outbound.pk) == "sent"
