import copy
import datetime as dt
import urllib.error
import urllib.request

import pytest
from django.db import IntegrityError
from django.utils import timezone

from tests.conftest import join
from tests.factories import ArticleFactory, SubscriberFactory
from tests.http import join as join_over_http
from tests.http import status_of
from waitlist.models import ConsentRecord, OutboundEmail, Subscriber

pytestmark = pytest.mark.django_db

CHECK_INBOX = "/waitlist/check-your-inbox/"


def test_joining_without_javascript_redirects_to_check_your_inbox(client):
    response = join(client, interests=["sleep", "weight"], interests_consent="on", state="TX")
    assert response.status_code == 302 and response["Location"] == CHECK_INBOX
    subscriber = Subscriber.objects.get()
    assert subscriber.email == "new.person@example.com"
    assert subscriber.status == "pending"
    assert subscriber.interests == ["sleep", "weight"] and subscriber.state == "TX"
    assert client.get(CHECK_INBOX).status_code == 200


def test_a_signup_writes_its_consent_record_and_its_confirmation_email_row(client):
    join(client, headers={"HTTP_USER_AGENT": "TestBrowser/1.0"})
    record = ConsentRecord.objects.get()
    assert record.consent_version == "2026-11"
    assert "unsubscribe at any time" in record.consent_text
    assert record.signup_ip == "203.0.113.7"
    assert record.signup_user_agent == "TestBrowser/1.0"
    outbound = OutboundEmail.objects.get()
    assert (outbound.kind, outbound.status, outbound.consent) == ("confirmation", "queued", record)


def test_joining_with_json_answers_202_with_a_message(client):
    response = join(
        client, "json.person@example.com", as_json=True, interests=["peptides"],
        interests_consent=True,
    )  # fmt: skip
    assert response.status_code == 202
    assert response.json()["status"] == "ok"
    assert "Check your inbox" in response.json()["message"]
    assert Subscriber.objects.get().interests == ["peptides"]


def test_the_same_endpoint_answers_json_to_a_fetch_of_the_form(client):
    response = client.post(
        "/waitlist/", {"email": "fetch@example.com"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 202 and response.json()["status"] == "ok"


def test_join_needs_no_csrf_token(client):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True, HTTP_HOST="localhost")
    assert strict.post("/waitlist/", {"email": "strict@example.com"}).status_code == 302


def test_the_signup_records_where_it_came_from(client):
    article = ArticleFactory()
    SubscriberFactory(email="friend@example.com", referral_code="FRIEND1")
    join(
        client,
        email="reader@example.com",
        article=article.pk,
        placement="inline",
        ref="FRIEND1",
        referrer="https://www.google.com/",
        utm_source="newsletter",
        utm_medium="email",
        utm_campaign="launch",
    )
    subscriber = Subscriber.objects.get(email="reader@example.com")
    assert subscriber.source_article == article
    assert subscriber.placement == "inline"
    assert subscriber.referred_by.email == "friend@example.com"
    assert subscriber.referrer_url == "https://www.google.com/"
    assert (subscriber.utm_source, subscriber.utm_medium, subscriber.utm_campaign) == (
        "newsletter",
        "email",
        "launch",
    )


def test_unknown_article_placement_and_referral_code_are_ignored_not_errors(client):
    assert join(client, article=999999, placement="sidebar", ref="NOPE").status_code == 302
    subscriber = Subscriber.objects.get()
    assert subscriber.source_article is None and subscriber.placement == "page"
    assert subscriber.referred_by is None


# --- no enumeration --------------------------------------------------------------------------


def _answer(response):
    return response.status_code, response.get("Location"), response.content


def test_the_answer_is_the_same_for_new_pending_confirmed_and_unsubscribed_addresses(client):
    SubscriberFactory(email="confirmed@example.com")
    SubscriberFactory(email="gone@example.com", status="unsubscribed")
    join(client, email="pending@example.com")
    answers = {
        _answer(join(client, email=email))
        for email in [
            "brand.new@example.com",
            "pending@example.com",
            "confirmed@example.com",
            "gone@example.com",
        ]
    }
    assert len(answers) == 1
    json_answers = {
        join(client, email, as_json=True).content
        for email in ["another.new@example.com", "pending@example.com", "confirmed@example.com"]
    }
    assert len(json_answers) == 1


def test_a_pending_address_gets_at_most_one_new_confirmation_per_ten_minutes(client):
    join(client, email="pending@example.com")
    join(client, email="pending@example.com")
    assert OutboundEmail.objects.count() == 1
    Subscriber.objects.update(last_confirmation_at=timezone.now() - dt.timedelta(minutes=11))
    join(client, email="pending@example.com")
    assert OutboundEmail.objects.count() == 2
    assert Subscriber.objects.count() == 1


def test_an_unsubscribed_address_gets_a_fresh_confirmation_to_consent_again(client):
    SubscriberFactory(email="gone@example.com", status="unsubscribed")
    join(client, email="gone@example.com")
    subscriber = Subscriber.objects.get()
    assert subscriber.status == "unsubscribed"
    outbound = OutboundEmail.objects.get()
    assert outbound.consent == subscriber.consents.first()
    assert subscriber.consents.count() == 2


def test_a_confirmed_address_keeps_its_preferences_and_is_sent_only_its_links(client):
    consents = SubscriberFactory(email="confirmed@example.com", interests=["sleep"],
                                 state="CA").consents.count()  # fmt: skip
    join(client, email="confirmed@example.com", interests=["weight"], interests_consent="on",
         state="TX")  # fmt: skip
    subscriber = Subscriber.objects.get()
    assert (subscriber.interests, subscriber.state, subscriber.status) == (
        ["sleep"],
        "CA",
        "confirmed",
    )
    assert list(OutboundEmail.objects.values_list("kind", flat=True)) == ["links"]
    assert subscriber.consents.count() == consents  # nothing new to consent to


def test_addresses_differing_only_in_case_are_one_subscriber(client):
    join(client, email="Mixed.Case@Example.com")
    join(client, email="mixed.case@example.COM")
    assert Subscriber.objects.count() == 1


def test_the_database_refuses_two_rows_for_one_address_in_any_case():
    SubscriberFactory(email="Same@example.com")
    with pytest.raises(IntegrityError):
        Subscriber.objects.create(
            email="same@example.com", email_hash="different", canonical_email_hash="x"
        )


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "simple@example.com",
        "very.common@example.com",
        "first.last+tag@example.org",
        "x@example.io",
        "user_name-1@sub.example.co.uk",
        "o'brien@example.ie",
        "用户@例子.广告",
        "josé@example.com",
        "  padded@example.com  ",
    ],
)
def test_valid_addresses_are_accepted(client, email):
    assert join(client, email=email).status_code == 302
    assert Subscriber.objects.count() == 1


@pytest.mark.parametrize(
    ("email", "fragment"),
    [
        ("", "Enter your email address."),
        ("plainaddress", "doesn't look like an email address"),
        ("@example.com", "doesn't look like an email address"),
        ("user@", "doesn't look like an email address"),
        ("user@@example.com", "doesn't look like an email address"),
        ("user@example", "doesn't look like an email address"),
        ("user name@example.com", "doesn't look like an email address"),
        ("user@exa_mple.com", "doesn't look like an email address"),
        (".user@example.com", "doesn't look like an email address"),
        ("user..dots@example.com", "doesn't look like an email address"),
        ("user@localhost", "doesn't look like an email address"),
        ("a" * 250 + "@example.com", "at most 254 characters"),
        ("someone@mailinator.com", "permanent email address"),
        ("someone@sub.mailinator.com", "permanent email address"),
        ("<script>@example.com", "doesn't look like an email address"),
    ],
)
def test_invalid_addresses_get_a_field_message_in_the_form_and_in_json(client, email, fragment):
    page = join(client, email=email)
    assert page.status_code == 400
    assert fragment in page.content.decode().replace("&#x27;", "'")
    assert 'aria-invalid="true"' in page.content.decode()
    api = join(client, email, as_json=True)
    assert api.status_code == 400
    assert fragment in api.json()["errors"]["email"][0]["message"]
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2]",
        b'"text"',
        b"{",
        b'{"email": 5}',
        b'{"email": null}',
        b'{"email": "a@example.com", "interests": "sleep"}',
        b'{"email": "a@example.com", "interests": ["nope"]}',
        b'{"email": "a@example.com", "state": "ZZ"}',
        b"\xff\xfe",
    ],
)
def test_malformed_json_gets_a_clear_400_never_a_500(client, payload):
    response = client.post("/api/waitlist/", payload, content_type="application/json")
    assert response.status_code == 400
    assert "errors" in response.json()
    assert not Subscriber.objects.exists()


def test_a_filled_honeypot_looks_like_success_but_stores_nothing(client):
    response = join(client, email="bot@example.com", website="https://spam.example")
    assert response.status_code == 302 and response["Location"] == CHECK_INBOX
    assert not Subscriber.objects.exists()


def test_rendering_and_validating_forms_never_changes_the_fields_every_form_shares(client):
    from waitlist.people.forms import JoinForm

    def snapshot():
        return {
            name: (dict(field.widget.attrs), dict(field.error_messages), field.initial)
            for name, field in JoinForm.base_fields.items()
        }

    before = copy.deepcopy(snapshot())
    article = ArticleFactory()
    for path in ("/", article.get_absolute_url(), "/waitlist/?ref=abc&utm_source=x"):
        assert client.get(path).status_code == 200
    assert join(client, email="not an address", state="ZZ").status_code == 400
    assert join(client, "", as_json=True, interests=["nope"]).status_code == 400
    assert snapshot() == before


# --- rate limits -----------------------------------------------------------------------------


def test_one_ip_is_limited_to_twenty_attempts_per_ten_minutes(client):
    codes = [
        join(client, email=f"p{i}@example.com", ip="198.51.100.1").status_code for i in range(21)
    ]
    assert codes[:20] == [302] * 20
    assert codes[20] == 429
    assert join(client, email="other@example.com", ip="198.51.100.2").status_code == 302


def test_every_address_of_one_ipv6_slash_64_shares_one_limit(client):
    codes = [
        join(client, email=f"v{i}@example.com", ip=f"2001:db8:7:7::{i + 1:x}").status_code
        for i in range(21)
    ]
    assert codes[:20] == [302] * 20 and codes[20] == 429
    assert join(client, email="next@example.com", ip="2001:db8:7:8::1").status_code == 302


def test_the_ip_limit_answers_json_429_with_retry_after(client):
    for i in range(20):
        join(client, f"j{i}@example.com", as_json=True, ip="198.51.100.9")
    response = join(client, "late@example.com", as_json=True, ip="198.51.100.9")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 600  # when this 10-minute window ends
    assert response.json()["errors"]["__all__"] == [
        "Too many attempts. Please wait up to 10 minutes and try again."
    ]


def test_the_hourly_limit_of_one_address_says_an_hour(client, settings):
    settings.WAITLIST_EMAIL_LIMIT = 2
    for ip in ("198.51.100.1", "198.51.100.2"):
        join(client, "same@example.com", as_json=True, ip=ip)
    response = join(client, "same@example.com", as_json=True, ip="198.51.100.3")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600
    assert response.json()["errors"]["__all__"] == [
        "Too many attempts. Please wait up to an hour and try again."
    ]


def test_one_address_is_limited_to_five_attempts_per_hour_from_any_ip(client):
    codes = [
        join(client, email="target@example.com", ip=f"192.0.2.{i}").status_code for i in range(6)
    ]
    assert codes == [302] * 5 + [429]
    assert (
        "Too many attempts"
        in join(client, email="target@example.com", ip="192.0.2.99").content.decode()
    )


GMAIL_SPELLINGS = [
    "pat.smith@gmail.com", "patsmith@gmail.com", "pat.smith+a@gmail.com",
    "p.a.t.smith@googlemail.com", "PatSmith+news@gmail.com", "pat.smith+b@googlemail.com",
    "pats.mith@gmail.com", "patsmith+c@gmail.com",
]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_the_spellings_of_one_mailbox_get_one_confirmation_and_share_one_limit(live_server):
    codes = [join_over_http(live_server.url, email) for email in GMAIL_SPELLINGS]
    assert codes == [202] * 5 + [429] * 3
    joined = Subscriber.objects.filter(email__in=GMAIL_SPELLINGS[:5])
    assert joined.count() == 5
    assert ConsentRecord.objects.filter(subscriber__in=joined).count() == 5
    confirmations = OutboundEmail.objects.filter(subscriber__in=joined)
    assert [e.subscriber.email for e in confirmations] == ["pat.smith@gmail.com"]


def test_another_mailbox_is_not_held_back_by_a_look_alike(client):
    join(client, email="pat.smith@gmail.com")
    join(client, email="pat.smith@example.com")
    join(client, email="patsmith@yahoo.com")
    mailed = OutboundEmail.objects.values_list("subscriber__email", flat=True)
    assert sorted(mailed) == ["pat.smith@example.com", "pat.smith@gmail.com", "patsmith@yahoo.com"]


def test_an_interest_sent_twice_is_stored_once(client):
    join(client, email="twice@example.com", interests=["sleep", "weight", "sleep"],
         interests_consent="on")  # fmt: skip
    assert Subscriber.objects.get().interests == ["sleep", "weight"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("application/x-www-form-urlencoded", b"email=%FF%FEpat%40example.com"),
        ("application/x-www-form-urlencoded", b"email=pat%40example.com&utm_source=%C3%28"),
        ("application/json", b'{"email": "\xff\xfepat@example.com"}'),
    ],
)
def test_a_body_that_is_not_utf8_is_refused_not_stored(live_server, kind, body):
    headers = {"Content-Type": kind, "Accept": "application/json"}
    request = urllib.request.Request(f"{live_server.url}/api/waitlist/", body, headers)
    assert status_of(request) == 400
    assert not Subscriber.objects.exists()
