"""The referral loop explains itself: the person's page lists each friend (masked) and whether
they counted, a counted one brings a "you moved up" email (one a day), the invite landing
names the inviter, and a person who gave no state is asked for it, never told one."""

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from tests.conftest import joined
from tests.factories import SubscriberFactory
from waitlist.models import Milestone, OutboundEmail, Subscriber
from waitlist.people import outbox, tokens

pytestmark = pytest.mark.django_db


def welcome_url(person: Subscriber) -> str:
    return f"/waitlist/welcome/{tokens.make_token(tokens.PREFERENCES, key=person.token_key)}/"


def confirmed_through(client, referrer, email, ip) -> Subscriber:
    person = joined(client, email=email, ip=ip, ref=referrer.referral_code)
    consent = person.consents.first()
    token = tokens.make_token(tokens.CONFIRM, key=person.token_key, consent_id=consent.pk)
    client.post(f"/waitlist/confirm/{token}/")
    person.refresh_from_db()
    return person


def page(client, person) -> str:
    return client.get(welcome_url(person)).content.decode().replace("&#x27;", "'")


def test_the_page_lists_each_friend_masked_with_whether_they_counted(client):
    earlier = timezone.now() - dt.timedelta(days=1)
    for minutes in range(10):
        SubscriberFactory(confirmed_at=earlier + dt.timedelta(minutes=minutes))
    referrer = SubscriberFactory(email="sam@example.com", signup_ip="192.0.2.1")
    assert referrer.position() == 11
    confirmed_through(client, referrer, "bea@gmail.com", "192.0.2.1")  # a partner at home
    confirmed_through(client, referrer, "cy@gmail.com", "192.0.2.1")  # the same day: held
    joined(client, email="dot@outlook.com", ip="198.51.100.9", ref=referrer.referral_code)
    shown = page(client, referrer)
    assert 'You’re number <strong class="position">8</strong>' in shown  # 11 − 3
    friends = re.findall(r'<li class="friend">(.*?)</li>', shown, re.S)
    text = [re.sub(r"<[^>]+>", "", friend).strip() for friend in friends]
    assert text == [
        "d•••@outlook.com Waiting: they have not confirmed their email yet",
        "c•••@gmail.com Held: they joined from your own internet connection, where one friend a "
        "day counts",
        "b•••@gmail.com Counted",
    ]
    assert "bea@" not in shown and "cy@" not in shown and "dot@" not in shown
    assert "1 confirmed referral</strong>" in shown
    assert "Your number never goes up" in shown


def test_a_counted_referral_brings_one_moved_up_email_a_day(client, mail):
    referrer = SubscriberFactory(email="sam@example.com", signup_ip="192.0.2.1")
    confirmed_through(client, referrer, "ann@example.org", "198.51.100.1")
    confirmed_through(client, referrer, "ben@example.org", "198.51.100.2")
    outbox.send_due()
    (moved,) = mail.to("sam@example.com")
    assert moved.message["Subject"] == (
        "A friend joined through your link: you moved up the Halftime Health waitlist"
    )
    assert "You moved up to number 1." in moved.text
    assert "We send at most one of these a day." in moved.text

    # A day later, the next counted friend brings the next one.
    referrer.emails.update(created_at=timezone.now() - dt.timedelta(days=1, minutes=1))
    confirmed_through(client, referrer, "cal@example.org", "198.51.100.3")
    outbox.send_due()
    assert len(mail.to("sam@example.com")) == 2


def test_a_milestone_email_stands_in_for_the_moved_up_one(client, mail):
    Milestone.objects.create(referrals=1, reward="Early access")
    referrer = SubscriberFactory(email="sam@example.com", signup_ip="192.0.2.1")
    confirmed_through(client, referrer, "ann@example.org", "198.51.100.1")
    kinds = list(referrer.emails.values_list("kind", flat=True))
    assert kinds == [OutboundEmail.Kind.MILESTONE]


def test_a_held_or_uncounted_referral_sends_nothing(client):
    referrer = SubscriberFactory(email="sam@gmail.com", signup_ip="192.0.2.1")
    confirmed_through(client, referrer, "s.a.m@gmail.com", "198.51.100.1")  # the same mailbox
    assert not referrer.emails.exists()


def test_the_invite_landing_names_the_inviter_by_their_first_letter(client):
    referrer = SubscriberFactory(email="bruno@example.com")
    shown = client.get(f"/waitlist/?ref={referrer.referral_code}").content.decode()
    assert "B. invited you to the Halftime Health waitlist" in shown
    assert "Confirming your email moves B. up the list" in shown
    assert "bruno" not in shown
    for code in ("nobody", "a\x00b", "\u00e9t\u00e9"):
        unknown = client.get("/waitlist/", {"ref": code}).content.decode()
        assert "invited you" not in unknown and "<h1>Join the waitlist</h1>" in unknown
    pending = SubscriberFactory(email="zed@example.com", status="pending", confirmed_at=None)
    assert (
        "invited you" not in client.get(f"/waitlist/?ref={pending.referral_code}").content.decode()
    )


def test_the_home_form_offers_a_state(client):
    shown = client.get("/").content.decode()
    form = shown[shown.index('id="home-waitlist-heading"') :]
    assert '<select name="state" id="home-state"' in form
    assert "Your US state (optional)" in form


def test_a_person_without_a_state_is_asked_for_it_never_told_one(client, mail):
    joined(client, email="nostate@example.com", ip="198.51.100.1")
    person = Subscriber.objects.get(email="nostate@example.com")
    consent = person.consents.first()
    token = tokens.make_token(tokens.CONFIRM, key=person.token_key, consent_id=consent.pk)
    client.post(f"/waitlist/confirm/{token}/")
    outbox.send_due()
    welcome = next(
        m for m in mail.to("nostate@example.com") if m.message["Subject"].startswith("You")
    )
    assert "open in your state" not in welcome.text
    assert "Tell us yours and we'll email you the day we open there" in welcome.text

    shown = page(client, person)
    assert "open in your state" not in shown and "We open state by state" in shown
    refused = client.post(welcome_url(person), {"state": ""})
    assert refused.status_code == 400 and "Choose your state." in refused.content.decode()
    saved = client.post(welcome_url(person), {"state": "TX"}, follow=True).content.decode()
    assert "Saved: we’ll email you the day we open in Texas." in saved
    person.refresh_from_db()
    assert person.state == "TX"
    assert "We open state by state" not in page(client, person)


def test_a_person_with_a_state_is_told_it(client, mail):
    joined(client, email="texan@example.com", ip="198.51.100.1", state="TX")
    person = Subscriber.objects.get(email="texan@example.com")
    consent = person.consents.first()
    token = tokens.make_token(tokens.CONFIRM, key=person.token_key, consent_id=consent.pk)
    client.post(f"/waitlist/confirm/{token}/")
    outbox.send_due()
    (welcome,) = [m for m in mail.to("texan@example.com") if "waitlist" in m.message["Subject"]]
    assert "We'll email you the day we open in your state." in welcome.text
    assert "We’ll email you the day we open in Texas." in page(client, person)


def test_the_page_is_only_for_people_on_the_list():
    pending = SubscriberFactory(status="pending", confirmed_at=None)
    assert Client().get(welcome_url(pending)).status_code == 404
    assert Client().post(welcome_url(pending), {"state": "TX"}).status_code == 404
