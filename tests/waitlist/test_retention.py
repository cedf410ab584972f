"""Retention by rule: old transactional emails and delivered webhooks deleted, people
unsubscribed long ago erased down to the address's hash, nothing more on a second run."""

import datetime as dt
import os
import pkgutil
import time

import pytest
from django.utils import timezone

from articles.models import Finding
from tests.factories import ArticleFactory, SubscriberFactory
from waitlist.models import (
    ConsentRecord,
    OutboundEmail,
    SendStatus,
    Subscriber,
    WebhookDelivery,
    WebhookEndpoint,
    email_hash,
)
from waitlist.people import retention
from waitlist.people.ratelimit import Limit, hit

pytestmark = pytest.mark.django_db

Kind = OutboundEmail.Kind


def ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def email(person, *, days_old: float, status=SendStatus.SENT, consent=None) -> int:
    """An outbox row written `days_old` days ago, now at `status`; its id."""
    row = OutboundEmail.objects.create(subscriber=person, kind=Kind.WELCOME, consent=consent)
    OutboundEmail.objects.filter(pk=row.pk).update(status=status, created_at=ago(days_old))
    return row.pk


def webhook(person, *, days_old: float, status=SendStatus.SENT) -> int:
    """A webhook delivery written, and (when sent) delivered, `days_old` days ago; its id."""
    endpoint, _ = WebhookEndpoint.objects.get_or_create(
        url="https://clinic.example/hooks", defaults={"secret": "s", "events": []}
    )
    row = WebhookDelivery.objects.create(
        endpoint=endpoint, subscriber=person, event_id=f"evt-{WebhookDelivery.objects.count()}",
        event=WebhookEndpoint.Event.SUBSCRIBER_CONFIRMED, body='{"email": "x@example.com"}',
    )  # fmt: skip
    sent_at = ago(days_old) if status == SendStatus.SENT else None
    WebhookDelivery.objects.filter(pk=row.pk).update(
        status=status, created_at=ago(days_old), sent_at=sent_at
    )
    return row.pk


def unsubscribed(email_address: str, *, days_ago: float) -> Subscriber:
    person = SubscriberFactory(
        email=email_address, status=Subscriber.Status.UNSUBSCRIBED, unsubscribed_at=ago(days_ago)
    )
    person.consents.update(
        signup_ip="203.0.113.7", confirm_ip="203.0.113.9",
        signup_user_agent="Mozilla/5.0 (iPhone)", withdrawn_at=ago(days_ago),
    )  # fmt: skip
    return person


def test_finished_emails_past_the_limit_are_deleted_and_younger_ones_kept(settings):
    settings.RETENTION_OUTBOX_DAYS = 90
    person = SubscriberFactory()
    old = [
        email(person, days_old=91),
        email(person, days_old=200, status=SendStatus.FAILED),
        email(person, days_old=120, status=SendStatus.SKIPPED),
    ]
    young = email(person, days_old=89)
    assert retention.apply()["emails"] == 3
    assert not OutboundEmail.objects.filter(pk__in=old).exists()
    assert OutboundEmail.objects.filter(pk=young).exists()


def test_consent_evidence_and_emails_still_to_go_are_kept(settings):
    settings.RETENTION_OUTBOX_DAYS = 90
    person = SubscriberFactory()
    evidence = email(person, days_old=400, consent=person.consents.first())
    to_go = [
        email(person, days_old=400, status=status)
        for status in (SendStatus.QUEUED, SendStatus.SENDING, SendStatus.HELD)
    ]
    assert retention.apply()["emails"] == 0
    assert set(OutboundEmail.objects.values_list("pk", flat=True)) == {evidence, *to_go}


def test_deletion_goes_a_batch_at_a_time_to_the_last_row(settings, monkeypatch):
    monkeypatch.setattr(retention, "BATCH_SIZE", 2)
    settings.RETENTION_OUTBOX_DAYS = 90
    person = SubscriberFactory()
    for _ in range(5):
        email(person, days_old=100)
    assert retention.apply()["emails"] == 5
    assert not OutboundEmail.objects.exists()


def test_webhooks_delivered_past_the_limit_are_deleted_and_the_rest_kept(settings):
    settings.RETENTION_WEBHOOK_DAYS = 30
    person = SubscriberFactory()
    delivered_long_ago = webhook(person, days_old=31)
    kept = {
        webhook(person, days_old=29),
        webhook(person, days_old=100, status=SendStatus.FAILED),
        webhook(person, days_old=100, status=SendStatus.QUEUED),
    }
    assert retention.apply()["webhooks"] == 1
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == kept
    assert not WebhookDelivery.objects.filter(pk=delivered_long_ago).exists()


def test_a_reader_s_comment_goes_its_rule_s_days_after_it_was_resolved(settings):
    settings.RETENTION_READER_COMMENT_DAYS = 180
    article = ArticleFactory()
    now = timezone.now()

    def comment(kind: str, resolved_days_ago: int | None) -> int:
        resolved = None if resolved_days_ago is None else now - dt.timedelta(days=resolved_days_ago)
        return Finding.objects.create(
            article=article, kind=kind, detail="The table is hard to read.", resolved_at=resolved
        ).pk

    comment("not_helpful", 181)
    comment("error", 200)
    kept = {
        comment("not_helpful", 179),
        comment("error", None),  # not resolved yet
        comment("retracted", 400),  # the monitor's: no time limit
    }
    assert retention.apply()["comments"] == 2
    assert set(Finding.objects.values_list("pk", flat=True)) == kept


def test_a_person_unsubscribed_past_the_limit_is_erased_naming_the_rule(settings):
    settings.RETENTION_UNSUBSCRIBED_DAYS = 730
    gone = unsubscribed("long.gone@example.com", days_ago=731)
    recent = unsubscribed("recent@example.com", days_ago=729)
    staying = SubscriberFactory(email="still.here@example.com")
    assert retention.apply()["unsubscribed"] == 1
    gone.refresh_from_db()
    assert (gone.status, gone.email) == (Subscriber.Status.ERASED, None)
    assert gone.erasure_reason == "unsubscribed over 730 days ago"
    assert gone.email_hash == email_hash("long.gone@example.com")
    assert gone.interests == [] and gone.state == ""
    assert Subscriber.objects.get(pk=recent.pk).email == "recent@example.com"
    assert Subscriber.objects.get(pk=staying.pk).status == Subscriber.Status.CONFIRMED


def test_a_retention_erasure_keeps_consent_proof_without_ip_addresses_or_browser(settings):
    settings.RETENTION_UNSUBSCRIBED_DAYS = 730
    gone = unsubscribed("long.gone@example.com", days_ago=800)
    proof = ["consent_version", "consent_text", "signed_up_at", "confirmed_at", "withdrawn_at"]
    before = list(gone.consents.order_by("pk").values_list(*proof))
    retention.apply()
    kept = ConsentRecord.objects.filter(subscriber=gone).order_by("pk")
    assert list(kept.values_list(*proof)) == before
    where_from = {(None, None, "")}
    assert set(kept.values_list("signup_ip", "confirm_ip", "signup_user_agent")) == where_from


def test_running_it_again_changes_nothing_more(settings):
    settings.RETENTION_OUTBOX_DAYS = 90
    settings.RETENTION_WEBHOOK_DAYS = 30
    settings.RETENTION_UNSUBSCRIBED_DAYS = 730
    person = SubscriberFactory()
    email(person, days_old=91)
    webhook(person, days_old=31)
    unsubscribed("long.gone@example.com", days_ago=731)
    outcome = {"emails": 1, "webhooks": 1, "comments": 0, "unsubscribed": 1, "counters": 0}
    assert retention.apply() == outcome

    def state() -> tuple:
        return (
            list(Subscriber.objects.order_by("pk").values()),
            list(ConsentRecord.objects.order_by("pk").values()),
            list(OutboundEmail.objects.order_by("pk").values_list("pk", flat=True)),
            list(WebhookDelivery.objects.order_by("pk").values_list("pk", flat=True)),
        )

    after_first = state()
    assert retention.apply() == dict.fromkeys(outcome, 0)
    assert state() == after_first


def test_on_the_embedded_default_a_counter_file_goes_a_day_after_it_last_counted(
    settings, tmp_path
):
    settings.CACHES = {
        **settings.CACHES,
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path),
            "TIMEOUT": None,
        },
    }
    yesterday = Limit("join-ip", "203.0.113.0", 5, 600)
    assert hit(yesterday) is None
    day_and_a_minute_ago = time.time() - 24 * 3600 - 60
    for path in tmp_path.iterdir():
        os.utime(path, (day_and_a_minute_ago, day_and_a_minute_ago))
    (old,) = tmp_path.iterdir()
    now = Limit("join-email", "someone@example.com", 2, 3600)
    assert hit(now) is None and hit(now) is None

    assert retention.apply()["counters"] == 1
    assert not old.exists() and len(list(tmp_path.iterdir())) == 1
    assert hit(now) == now, "the live counter still counts"
    assert retention.apply()["counters"] == 0


def test_beat_runs_the_rules_daily(settings):
    settings.RETENTION_OUTBOX_DAYS = 90
    entry = settings.CELERY_BEAT_SCHEDULE["apply-retention"]
    assert entry["schedule"] == 24 * 3600
    email(SubscriberFactory(), days_old=91)
    assert pkgutil.resolve_name(entry["task"])()["emails"] == 1
    assert not OutboundEmail.objects.exists()


def test_ended_staff_sessions_are_deleted_and_live_ones_kept():
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session

    ended, live = SessionStore(), SessionStore()
    for session in (ended, live):
        session["_auth_user_id"] = "1"
        session.create()
    Session.objects.filter(session_key=ended.session_key).update(expire_date=ago(1))
    retention.apply()
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]
