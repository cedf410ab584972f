"""The signup's write path, and its confirmation sent with others over one SMTP session."""

import datetime as dt
import threading

import pytest
from django.db import IntegrityError, connection, connections, transaction

from waitlist.models import ConsentRecord, OutboundEmail, Subscriber
from waitlist.people import signup
from waitlist.tasks import send_outbox

SignupSource = signup.SignupSource
SOURCE = SignupSource(
    placement="inline",
    utm={"source": "newsletter", "campaign": "launch"},
    referrer_url="https://example.org/post",
)


def join(email: str, **overrides) -> Subscriber:
    arguments = {
        "email": email,
        "interests": ["sleep", "weight"],
        "state": "TX",
        "source": SOURCE,
        "ip": "203.0.113.9",
        "user_agent": "Mozilla/5.0 (test)",
        **overrides,
    }
    return signup.subscribe(**arguments).subscriber


def row(instance, *, leave_out: set[str]) -> dict:
    instance.refresh_from_db()
    return {
        field.name: getattr(instance, field.attname)
        for field in instance._meta.concrete_fields
        if field.name not in leave_out
    }


@pytest.mark.django_db(transaction=True)  # autocommit, as a web request runs
def test_a_new_address_writes_its_subscriber_consent_and_confirmation_together():
    subscriber = join("one@example.com", source=SOURCE)
    assert subscriber.pk == Subscriber.objects.get(email="one@example.com").pk
    (outbound,) = subscriber.emails.all()
    assert outbound.consent == subscriber.consents.get()
    assert (outbound.kind, outbound.status) == ("confirmation", "queued")
    subscriber.refresh_from_db()
    assert (subscriber.placement, subscriber.utm_source, subscriber.utm_campaign) == (
        "inline",
        "newsletter",
        "launch",
    )
    assert subscriber.referrer_url == "https://example.org/post"
    assert subscriber.created_at and subscriber.last_confirmation_at and subscriber.referral_code


@pytest.mark.django_db(transaction=True)
def test_a_signup_whose_consent_cannot_be_written_leaves_nothing_behind(monkeypatch):
    def broken(*args, **kwargs):
        raise IntegrityError("consent table refused the row")

    monkeypatch.setattr(ConsentRecord.objects, "bulk_create", broken)
    with pytest.raises(IntegrityError):
        join("half@example.com")
    assert not Subscriber.objects.filter(email="half@example.com").exists()
    assert OutboundEmail.objects.count() == 0


@pytest.mark.postgresql  # PostgreSQL's pattern-matching copies of an index
@pytest.mark.django_db
def test_a_signup_updates_no_index_that_no_query_uses():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'waitlist_subscriber' "
            "AND indexdef LIKE '%%pattern_ops%%'"
        )
        assert cursor.fetchall() == []


@pytest.mark.django_db
def test_an_address_and_a_referral_code_each_belong_to_one_subscriber():
    first = join("once@example.com")
    for taken in ({"email_hash": first.email_hash}, {"referral_code": first.referral_code}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Subscriber.objects.create(
                **{"email": "other@example.com", "email_hash": "x" * 64} | taken
            )


@pytest.mark.django_db(transaction=True)
def test_a_referral_code_already_taken_is_made_anew_and_the_person_joins(monkeypatch):
    first = join("first@example.com")
    field = Subscriber._meta.get_field("referral_code")
    codes = iter([first.referral_code, "fresh-code"])
    monkeypatch.setattr(field, "_get_default", lambda: next(codes))  # what get_default() calls
    second = join("second@example.com")
    second.refresh_from_db()
    assert second.referral_code == "fresh-code"
    assert second.consents.count() == 1 and second.emails.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_signup_that_cannot_be_written_fails_after_three_attempts(monkeypatch):
    first = join("first@example.com")
    field = Subscriber._meta.get_field("referral_code")
    monkeypatch.setattr(field, "_get_default", lambda: first.referral_code)  # always taken
    with pytest.raises(IntegrityError, match="after 3 attempts"):
        join("second@example.com")
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["first@example.com"]
    assert ConsentRecord.objects.count() == 1 and OutboundEmail.objects.count() == 1


@pytest.mark.postgresql  # SQLite's lower() and its unique index leave non-ASCII letters alone
@pytest.mark.django_db
def test_an_address_the_database_lowers_otherwise_than_python_finds_its_subscriber():
    first = join("ΟΔΥΣΣΕΑΣ@example.com")
    again = join("οδυσσεασ@example.com")  # the database's lower() of the first, not Python's
    assert again.pk == first.pk
    assert Subscriber.objects.count() == 1


# On SQLite the signup holds the write lock from its first query: nobody can delete meanwhile.
@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_referrer_deleted_while_someone_joins_through_their_link_still_lets_them_join(
    monkeypatch,
):
    referrer = join("referrer@example.com")
    real_create = Subscriber.objects.create
    found = []

    def delete_the_referrer():  # from another connection, as another request would
        Subscriber.objects.filter(pk=referrer.pk).delete()
        connections.close_all()

    def create_after_the_referrer_is_gone(**values):
        if values.get("referred_by") is not None and not found:
            found.append(values["referred_by"].pk)
            deleting = threading.Thread(target=delete_the_referrer)
            deleting.start()
            deleting.join(10)
        return real_create(**values)

    monkeypatch.setattr(Subscriber.objects, "create", create_after_the_referrer_is_gone)
    joined = join("new@example.com", source=SignupSource(referral_code=referrer.referral_code))
    assert found == [referrer.pk]
    joined.refresh_from_db()
    assert joined.referred_by_id is None
    assert joined.consents.count() == 1 and joined.emails.count() == 1


@pytest.mark.django_db
def test_an_address_already_on_the_list_goes_the_careful_way():
    first = join("again@example.com")
    an_hour_ago = first.last_confirmation_at - dt.timedelta(hours=1)
    Subscriber.objects.filter(pk=first.pk).update(
        status="unsubscribed", last_confirmation_at=an_hour_ago
    )
    again = join("Again@Example.com")
    assert again.pk == first.pk
    assert Subscriber.objects.count() == 1
    assert first.consents.count() == 2 and first.emails.count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_signups_for_one_new_address_at_once_make_one_subscriber_and_one_email():
    barrier = threading.Barrier(2)
    results, errors = [], []

    def signup():
        try:
            barrier.wait(5)
            results.append(join("twice@example.com").pk)
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=signup) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    subscriber = Subscriber.objects.get(email="twice@example.com")
    assert results == [subscriber.pk, subscriber.pk]
    assert ConsentRecord.objects.count() == 1 and OutboundEmail.objects.count() == 1


@pytest.mark.django_db
def test_confirmations_go_out_together_over_one_smtp_session(mail):
    for i in range(5):
        join(f"person{i}@example.com")
    assert send_outbox() == {"claimed": 5, "sent": 5}
    assert len(mail.messages) == 5
    assert len({received.session for received in mail.messages}) == 1


@pytest.mark.django_db
def test_with_the_server_down_every_email_waits_without_using_attempts(mail, settings):
    for i in range(3):
        join(f"person{i}@example.com")
    settings.EMAIL_PORT = 1
    assert send_outbox() == {"claimed": 3, "released": 3}
    assert set(OutboundEmail.objects.values_list("status", "attempts")) == {("queued", 0)}
    settings.EMAIL_PORT = mail.port
    OutboundEmail.objects.update(not_before=None)
    assert send_outbox() == {"claimed": 3, "sent": 3}


@pytest.mark.django_db
def test_each_email_is_sent_and_a_deferred_one_is_put_back(mail):
    for address in ("a@example.com", "later+tempfail@example.com", "b@example.com"):
        join(address)
    assert send_outbox() == {"claimed": 3, "sent": 2, "deferred": 1}
    assert sorted(m.envelope_to[0] for m in mail.messages) == ["a@example.com", "b@example.com"]
    deferred = OutboundEmail.objects.get(subscriber__email="later+tempfail@example.com")
    assert (deferred.status, deferred.attempts, deferred.deferrals) == ("queued", 0, 1)
    assert "451" in deferred.answer
