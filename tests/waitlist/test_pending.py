"""Signups never confirmed: one reminder after 48 hours, erasure after 30 days; the clock is
the test's (`now`), the mail goes through the real SMTP sink."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from tests.conftest import joined
from tests.factories import SubscriberFactory
from waitlist.models import ConsentRecord, Subscriber, email_hash
from waitlist.people import outbox, pending

pytestmark = pytest.mark.django_db

CONFIRM = re.compile(r"https?://\S+(/waitlist/confirm/[^/\s]+/)")


def test_one_reminder_after_two_days_and_it_confirms(client, mail):
    person = joined(client, "slow.reader@example.com")
    outbox.send_due()
    joined_at = person.created_at
    assert pending.remind(now=joined_at + dt.timedelta(hours=47)) == 0
    assert pending.remind(now=joined_at + dt.timedelta(hours=49)) == 1
    assert pending.remind(now=joined_at + dt.timedelta(hours=90)) == 0  # one, never two
    assert outbox.send_due().sent == 1
    first, reminder = mail.to("slow.reader@example.com")
    assert reminder.message["Subject"] == "Still want Halftime Health updates? Confirm your email"
    assert "the only reminder" in reminder.text
    assert client.post(CONFIRM.search(reminder.text).group(1)).status_code == 302
    assert Subscriber.objects.get(pk=person.pk).status == "confirmed"


def test_no_reminder_for_the_confirmed_or_for_someone_who_asked_again_lately(client, mail):
    confirmed = SubscriberFactory(created_at=timezone.now())
    person = joined(client, "asked.again@example.com")
    later = timezone.now() + dt.timedelta(hours=49)
    Subscriber.objects.filter(pk=person.pk).update(last_confirmation_at=later)
    assert pending.remind(now=later + dt.timedelta(hours=1)) == 0
    assert Subscriber.objects.get(pk=confirmed.pk).reminded_at is None


def test_a_signup_never_confirmed_is_erased_after_thirty_days_and_says_why(client):
    person = joined(client, "never.confirmed@example.com")
    keeps = SubscriberFactory(email="confirmed.long.ago@example.com")
    joined_at = person.created_at
    assert pending.expire(now=joined_at + dt.timedelta(days=29)) == 0
    assert pending.expire(now=joined_at + dt.timedelta(days=31)) == 1
    person.refresh_from_db()
    assert (person.status, person.email, person.signup_ip) == ("erased", None, None)
    assert person.erasure_reason == "never confirmed"
    assert person.email_hash == email_hash("never.confirmed@example.com")
    assert not ConsentRecord.objects.filter(subscriber=person).exists()
    assert not person.emails.exists()
    assert Subscriber.objects.get(pk=keeps.pk).status == "confirmed"
    # The address may join again, as new.
    assert joined(client, "never.confirmed@example.com").status == "pending"


def test_the_hourly_task_reminds_and_erases(client, mail):
    old = joined(client, "old@example.com")
    recent = joined(client, "recent@example.com")
    Subscriber.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - dt.timedelta(days=40),
        last_confirmation_at=timezone.now() - dt.timedelta(days=40),
    )
    Subscriber.objects.filter(pk=recent.pk).update(
        last_confirmation_at=timezone.now() - dt.timedelta(hours=50)
    )
    assert pending.tend() == {"reminded": 1, "expired": 1}
