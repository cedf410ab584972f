"""Confirm, welcome, preferences, export, erase and unsubscribe: the signed links."""

import datetime as dt
import json
import re
import time
from unittest import mock

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from tests.conftest import joined
from tests.factories import SubscriberFactory
from waitlist.models import ConsentRecord, OutboundEmail, Subscriber, email_hash
from waitlist.people import links, privacy, tokens

pytestmark = pytest.mark.django_db


def confirm_token(subscriber: Subscriber) -> str:
    consent = subscriber.consents.filter(purpose="list").first()
    return tokens.make_token(tokens.CONFIRM, key=subscriber.token_key, consent_id=consent.pk)


def token(purpose: str, subscriber: Subscriber) -> str:
    return tokens.make_token(purpose, key=subscriber.token_key)


# --- tokens ------------------------------------------------------------------------------------


def test_a_token_for_one_purpose_is_refused_for_another():
    subscriber = SubscriberFactory()
    unsubscribe = token(tokens.UNSUBSCRIBE, subscriber)
    with pytest.raises(tokens.BadToken):
        tokens.read_token(tokens.PREFERENCES, unsubscribe)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: "x" + t,
        lambda t: t.replace(":", ";", 1),
        lambda t: "....",
        lambda t: signing.dumps([1, "k", 1], salt="other-salt"),
        lambda t: signing.dumps({"id": 1}, salt=tokens.CONFIRM),
        lambda t: signing.dumps(["1", "k"], salt=tokens.CONFIRM),
    ],
)
def test_tampered_confirmation_links_get_the_friendly_page_not_an_error(client, tamper):
    subscriber = joined(client)
    url = f"/waitlist/confirm/{tamper(confirm_token(subscriber))}/"
    page = client.get(url)
    assert page.status_code == 400
    assert "This link doesn’t work" in page.content.decode()
    assert 'href="/waitlist/"' in page.content.decode()
    assert client.post(url).status_code == 400
    subscriber.refresh_from_db()
    assert subscriber.status == "pending"


def test_confirmation_links_expire_after_seven_days(client):
    subscriber = joined(client)
    eight_days_ago = time.time() - dt.timedelta(days=8).total_seconds()
    with mock.patch("django.core.signing.time.time", return_value=eight_days_ago):
        old = confirm_token(subscriber)
    page = client.get(f"/waitlist/confirm/{old}/")
    assert page.status_code == 400
    assert "This link has expired" in page.content.decode()
    assert client.post(f"/waitlist/confirm/{old}/").status_code == 400
    subscriber.refresh_from_db()
    assert subscriber.status == "pending"


def test_a_six_day_old_confirmation_link_still_works(client):
    subscriber = joined(client)
    six_days_ago = time.time() - dt.timedelta(days=6).total_seconds()
    with mock.patch("django.core.signing.time.time", return_value=six_days_ago):
        old = confirm_token(subscriber)
    assert client.post(f"/waitlist/confirm/{old}/").status_code == 302


def test_unsubscribe_links_never_expire(client):
    subscriber = SubscriberFactory()
    years_ago = time.time() - dt.timedelta(days=3 * 365).total_seconds()
    with mock.patch("django.core.signing.time.time", return_value=years_ago):
        old = token(tokens.UNSUBSCRIBE, subscriber)
    assert client.post(f"/u/{old}/").status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"


# --- confirm ------------------------------------------------------------------------------------


def test_links_mailed_in_the_first_form_still_confirm_and_unsubscribe(client):
    subscriber = joined(client)
    key, consent = subscriber.token_key, subscriber.consents.first()
    confirm = signing.dumps([subscriber.pk, key, consent.pk], salt=tokens.CONFIRM, compress=False)
    assert client.post(f"/waitlist/confirm/{confirm}/").status_code == 302
    unsubscribe = signing.dumps([subscriber.pk, key], salt=tokens.UNSUBSCRIBE, compress=False)
    assert client.post(f"/u/{unsubscribe}/").status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"
    someone_else = signing.dumps([subscriber.pk + 1, key], salt=tokens.UNSUBSCRIBE, compress=False)
    assert client.post(f"/u/{someone_else}/").status_code == 400


def test_opening_the_confirmation_link_only_shows_a_button(client):
    subscriber = joined(client)
    page = client.get(f"/waitlist/confirm/{confirm_token(subscriber)}/")
    assert page.status_code == 200
    assert "Yes, add me to the list" in page.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == "pending"


def test_pressing_the_button_confirms_and_shows_the_position_and_referral_link(client):
    SubscriberFactory(confirmed_at=timezone.now() - dt.timedelta(days=1))
    subscriber = joined(client)
    response = client.post(
        f"/waitlist/confirm/{confirm_token(subscriber)}/", REMOTE_ADDR="203.0.113.50"
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == "confirmed"
    assert 'You’re number <strong class="position">2</strong>' in page
    assert f"/waitlist/?ref={subscriber.referral_code}" in page
    record = subscriber.consents.get()
    assert record.confirmed_at is not None and record.confirm_ip == "203.0.113.50"


def test_confirming_twice_is_harmless(client):
    subscriber = joined(client)
    link = f"/waitlist/confirm/{confirm_token(subscriber)}/"
    client.post(link)
    first = Subscriber.objects.get().confirmed_at
    assert client.post(link).status_code == 302
    assert Subscriber.objects.get().confirmed_at == first


def test_confirming_skips_any_confirmation_email_still_queued(client):
    subscriber = joined(client)
    client.post(f"/waitlist/confirm/{confirm_token(subscriber)}/")
    assert OutboundEmail.objects.get(kind="confirmation").status == "skipped"
    assert OutboundEmail.objects.get(kind="welcome").status == "queued"


def test_an_old_confirmation_link_cannot_resubscribe_someone_who_left(client):
    subscriber = joined(client)
    link = f"/waitlist/confirm/{confirm_token(subscriber)}/"
    links.unsubscribe(subscriber_id=subscriber.pk)
    assert client.post(link).status_code == 400
    assert Subscriber.objects.get().status == "unsubscribed"


def test_rejoining_after_unsubscribing_then_confirming_the_new_link_resubscribes(client):
    subscriber = joined(client)
    links.unsubscribe(subscriber_id=subscriber.pk)
    Subscriber.objects.update(last_confirmation_at=None)
    joined(client)
    subscriber.refresh_from_db()
    assert client.post(f"/waitlist/confirm/{confirm_token(subscriber)}/").status_code == 302
    subscriber.refresh_from_db()
    assert subscriber.status == "confirmed" and subscriber.unsubscribed_at is None


# --- referrals ---------------------------------------------------------------------------------


def referred_and_confirmed(client, referrer, email, ip) -> Subscriber:
    person = joined(client, email=email, ip=ip, ref=referrer.referral_code)
    client.post(f"/waitlist/confirm/{confirm_token(person)}/")
    person.refresh_from_db()
    return person


def test_a_referral_counts_only_when_the_referred_person_confirms(client):
    referrer = SubscriberFactory(signup_ip="192.0.2.1")
    person = joined(
        client, email="friend@example.org", ip="198.51.100.3", ref=referrer.referral_code
    )
    assert not person.referral_credited
    client.post(f"/waitlist/confirm/{confirm_token(person)}/")
    person.refresh_from_db()
    assert person.referral_credited


def test_plus_tag_and_gmail_dot_variants_earn_no_extra_credit(client):
    referrer = SubscriberFactory(email="boss@gmail.com", signup_ip="192.0.2.1")
    first = referred_and_confirmed(client, referrer, "pal@example.org", "198.51.100.3")
    plus = referred_and_confirmed(client, referrer, "pal+2@example.org", "198.51.100.4")
    dots = referred_and_confirmed(client, referrer, "b.o.s.s@gmail.com", "198.51.100.5")
    self_plus = referred_and_confirmed(client, referrer, "boss+me@googlemail.com", "198.51.100.6")
    assert [p.referral_credited for p in (first, plus, dots, self_plus)] == [
        True,
        False,
        False,
        False,
    ]


def test_a_burst_of_referrals_from_one_ip_earns_no_more_than_two(client):
    referrer = SubscriberFactory(signup_ip="192.0.2.1")
    credited = [
        referred_and_confirmed(
            client, referrer, f"sock{i}@example.org", "198.51.100.77"
        ).referral_credited
        for i in range(4)
    ]
    assert credited == [True, True, False, False]
    at_home = [
        referred_and_confirmed(client, referrer, f"home{i}@example.org", "192.0.2.1")
        for i in range(2)
    ]
    assert [friend.referral_credited for friend in at_home] == [True, False]  # one a day


def test_ipv6_referrals_are_compared_by_their_slash_64(client):
    referrer = SubscriberFactory(signup_ip="2001:db8:aa:1::10")
    at_home = [
        referred_and_confirmed(client, referrer, f"home{i}@example.org", f"2001:db8:aa:1::{i + 5}")
        for i in range(2)
    ]
    assert [friend.referral_outcome for friend in at_home] == [
        "counted", "held: a second friend in a day from the referrer's own connection",
    ]  # fmt: skip
    office = [
        referred_and_confirmed(client, referrer, f"c{i}@example.org", f"2001:db8:bb:2::{i + 1}")
        for i in range(3)
    ]
    assert [o.referral_outcome for o in office] == [
        "counted", "counted", "held: over 2 friends from one connection in a day",
    ]  # fmt: skip
    elsewhere = referred_and_confirmed(client, referrer, "far@example.org", "2001:db8:bb:3::1")
    assert elsewhere.referral_credited


def test_each_referral_says_whether_it_counted_and_why_not(client):
    referrer = SubscriberFactory(email="boss@gmail.com", signup_ip="192.0.2.1")
    outcomes = [
        referred_and_confirmed(client, referrer, email, ip).referral_outcome
        for email, ip in [
            ("pal@example.org", "198.51.100.3"),
            ("b.o.s.s@gmail.com", "198.51.100.5"),
            ("me2@example.org", "192.0.2.1"),
            ("me3@example.org", "192.0.2.1"),
            ("sock1@example.org", "198.51.100.77"),
            ("sock2@example.org", "198.51.100.77"),
            ("sock3@example.org", "198.51.100.77"),
        ]
    ]
    assert outcomes == [
        "counted",
        "not counted: another spelling of a mailbox already counted",
        "counted",  # a partner at home
        "held: a second friend in a day from the referrer's own connection",
        "counted",
        "counted",
        "held: over 2 friends from one connection in a day",
    ]
    assert SubscriberFactory().referral_outcome == ""  # nobody referred them


# --- preferences, export, erase ----------------------------------------------------------------


def test_preferences_change_interests_and_state(client):
    subscriber = SubscriberFactory(interests=["sleep"], state="CA")
    url = f"/waitlist/preferences/{token(tokens.PREFERENCES, subscriber)}/"
    page = client.get(url).content.decode()
    assert re.search(r'value="sleep"[^>]*checked', page)
    assert not re.search(r'value="weight"[^>]*checked', page)
    response = client.post(
        url, {"interests": ["weight", "peptides"], "interests_consent": "on", "state": "TX"}
    )
    assert response.status_code == 302
    subscriber.refresh_from_db()
    assert (subscriber.interests, subscriber.state) == (["weight", "peptides"], "TX")
    assert "Saved." in client.get(response["Location"]).content.decode()


def test_bad_preferences_are_refused_with_a_message(client):
    subscriber = SubscriberFactory(state="CA")
    url = f"/waitlist/preferences/{token(tokens.PREFERENCES, subscriber)}/"
    response = client.post(url, {"state": "XX"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.state == "CA"


def test_download_my_data_returns_everything_held_as_json(client):
    subscriber = joined(
        client, email="data@example.com", interests=["sleep"], interests_consent="on", state="OR"
    )
    client.post(f"/waitlist/confirm/{confirm_token(subscriber)}/", REMOTE_ADDR="203.0.113.9")
    response = client.post(f"/waitlist/preferences/{token(tokens.PREFERENCES, subscriber)}/export/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="halftime-waitlist-data.json"'
    data = json.loads(response.content)
    assert data["email"] == "data@example.com"
    assert data["status"] == "confirmed"
    assert data["interests"] == ["sleep"] and data["state"] == "OR"
    interests, consent = data["consents"]
    assert (interests["purpose"], consent["purpose"]) == ("interests", "list")
    assert interests["text"] == "Use my interests to choose which updates I get."
    assert consent["signup_ip"] == "203.0.113.7" and consent["confirm_ip"] == "203.0.113.9"
    assert "unsubscribe at any time" in consent["text"]


def test_export_is_post_only(client):
    subscriber = SubscriberFactory()
    url = f"/waitlist/preferences/{token(tokens.PREFERENCES, subscriber)}/export/"
    assert client.get(url).status_code == 405


def test_delete_me_erases_personal_data_and_keeps_only_the_hash(client):
    subscriber = joined(client, email="forget.me@example.com", utm_source="ads")
    prefs = token(tokens.PREFERENCES, subscriber)
    unsubscribe = token(tokens.UNSUBSCRIBE, subscriber)
    page = client.post(f"/waitlist/preferences/{prefs}/erase/", {"confirm": "yes"})
    assert page.status_code == 200 and "Your data is deleted" in page.content.decode()
    erased = Subscriber.objects.get()
    assert erased.email is None and erased.status == "erased"
    assert erased.email_hash == email_hash("forget.me@example.com")
    assert (erased.utm_source, erased.signup_ip, erased.interests) == ("", None, [])
    assert not ConsentRecord.objects.exists() and not OutboundEmail.objects.exists()
    assert client.get(f"/waitlist/preferences/{prefs}/").status_code == 404
    assert client.post(f"/u/{unsubscribe}/").status_code == 400


def test_delete_me_without_ticking_the_box_changes_nothing(client):
    subscriber = SubscriberFactory()
    prefs = token(tokens.PREFERENCES, subscriber)
    response = client.post(f"/waitlist/preferences/{prefs}/erase/")
    assert response.status_code == 302
    assert Subscriber.objects.get().email == subscriber.email


def test_an_erased_address_can_join_again_as_a_new_signup(client):
    subscriber = joined(client, email="back@example.com")
    privacy.erase(subscriber_id=subscriber.pk)
    assert client.post("/waitlist/", {"email": "back@example.com"}).status_code == 302
    again = Subscriber.objects.get()
    assert again.email == "back@example.com" and again.status == "pending"
    assert OutboundEmail.objects.count() == 1


# --- unsubscribe -------------------------------------------------------------------------------


def test_opening_the_unsubscribe_link_only_shows_a_button(client):
    subscriber = SubscriberFactory()
    page = client.get(f"/u/{token(tokens.UNSUBSCRIBE, subscriber)}/")
    assert page.status_code == 200 and "Unsubscribe" in page.content.decode()
    assert Subscriber.objects.get().status == "confirmed"


def test_one_click_unsubscribe_exactly_as_a_mail_provider_sends_it():
    """RFC 8058: a POST with the body List-Unsubscribe=One-Click, no cookies, no CSRF token,
    no Referer; the answer must be 200 with no redirect."""
    subscriber = SubscriberFactory()
    provider = Client(enforce_csrf_checks=True, HTTP_HOST="localhost")
    response = provider.post(
        f"/u/{token(tokens.UNSUBSCRIBE, subscriber)}/",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
        HTTP_USER_AGENT="Mozilla/5.0 (compatible; GoogleOneClick)",
    )
    assert response.status_code == 200
    assert "Location" not in response
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed" and subscriber.unsubscribed_at is not None
    assert subscriber.consents.get().withdrawn_at is not None


def test_one_click_unsubscribe_is_idempotent(client):
    subscriber = SubscriberFactory()
    url = f"/u/{token(tokens.UNSUBSCRIBE, subscriber)}/"
    client.post(
        url, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    first = Subscriber.objects.get().unsubscribed_at
    response = client.post(
        url, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert Subscriber.objects.get().unsubscribed_at == first


def test_a_tampered_unsubscribe_link_gets_a_friendly_page(client):
    subscriber = SubscriberFactory()
    bad = token(tokens.UNSUBSCRIBE, subscriber)[:-2] + "zz"
    assert client.post(f"/u/{bad}/").status_code == 400
    assert "doesn’t work" in client.get(f"/u/{bad}/").content.decode()
    assert Subscriber.objects.get().status == "confirmed"
