"""Interest in men's health is health data: interests kept only with their own consent, Global
Privacy Control recorded, condition words kept out of everything that leaves the site outside a
message's body (discreet mode), and erasures passed on to the email service."""

import json
import re

import pytest
from django.core import mail as django_mail
from django.utils import timezone

from tests.conftest import join, joined, run_lanes
from tests.factories import CampaignFactory, SubscriberFactory
from tests.fakeesp import EmailService
from waitlist.campaigns import actions, dispatch, journeys
from waitlist.campaigns.figures import results
from waitlist.campaigns.lifecycle import CampaignError
from waitlist.engine import discreet, processors
from waitlist.models import (
    Campaign,
    ConsentRecord,
    Delivery,
    DiscreetWord,
    Interest,
    Journey,
    JourneyStep,
    OutboundEmail,
    ProcessorErasure,
    Subscriber,
)
from waitlist.people import outbox, privacy, tokens

pytestmark = pytest.mark.django_db

INTERESTS_WORDING = "Use my interests to choose which updates I get."


def preferences_url(subscriber: Subscriber) -> str:
    return (
        f"/waitlist/preferences/{tokens.make_token(tokens.PREFERENCES, key=subscriber.token_key)}/"
    )


# --- interests, by their own consent -------------------------------------------------------------


def test_joining_without_the_interests_choice_keeps_no_interest_and_the_email_names_none(
    client, mail
):
    person = joined(client, "quiet@example.com", state="TX")
    assert person.interests == []
    assert list(person.consents.values_list("purpose", flat=True)) == ["list"]
    outbox.send_due()
    (confirmation,) = mail.to("quiet@example.com")
    for _value, label in Interest.choices:
        assert label.lower() not in confirmation.text.lower()
        assert label.lower() not in confirmation.message["Subject"].lower()


def test_interests_without_their_consent_are_refused_with_what_to_do(client):
    response = join(client, "ticked@example.com", interests=["testosterone"])
    assert response.status_code == 400
    page = response.content.decode()
    assert f"we keep them only if you tick “{INTERESTS_WORDING}”" in page.replace("&#x27;", "'")
    assert not Subscriber.objects.exists()


def test_the_interests_consent_is_recorded_with_its_own_version_and_confirmed_with_the_list(
    client,
):
    person = joined(
        client, "open@example.com", interests=["sleep"], interests_consent="on",
        headers={"HTTP_USER_AGENT": "Browser/1"},
    )  # fmt: skip
    assert person.interests == ["sleep"]
    record = person.consents.get(purpose=ConsentRecord.Purpose.INTERESTS)
    assert (record.consent_version, record.consent_text) == ("2026-12", INTERESTS_WORDING)
    assert (record.signup_ip, record.signup_user_agent) == ("203.0.113.7", "Browser/1")
    assert record.confirmed_at is None
    listed = person.consents.get(purpose=ConsentRecord.Purpose.LIST)
    token = tokens.make_token(tokens.CONFIRM, key=person.token_key, consent_id=listed.pk)
    client.post(f"/waitlist/confirm/{token}/", REMOTE_ADDR="198.51.100.4")
    record.refresh_from_db()
    assert record.confirmed_at is not None and record.confirm_ip == "198.51.100.4"


def test_withdrawing_the_interests_consent_erases_them_and_keeps_the_person_on_the_list(client):
    person = SubscriberFactory(interests=["testosterone", "sleep"])
    campaign = CampaignFactory(audience_interests=["testosterone"])
    assert list(campaign.audience()) == [person]
    page = client.get(preferences_url(person)).content.decode()
    assert re.search(r'name="interests_consent"[^>]*checked', page)

    response = client.post(preferences_url(person), {"state": "TX"})
    assert response.status_code == 302
    person.refresh_from_db()
    assert (person.interests, person.status) == ([], "confirmed")
    record = person.consents.get(purpose=ConsentRecord.Purpose.INTERESTS)
    assert record.withdrawn_at is not None
    assert person.consents.get(purpose=ConsentRecord.Purpose.LIST).withdrawn_at is None
    assert list(campaign.audience()) == [], "a segment by interest leaves them out"

    again = client.post(
        preferences_url(person), {"interests": ["sleep"], "interests_consent": "on"}
    )
    assert again.status_code == 302
    person.refresh_from_db()
    assert person.interests == ["sleep"]
    standing = person.consents.get(purpose=ConsentRecord.Purpose.INTERESTS, withdrawn_at=None)
    assert standing.confirmed_at is not None, "given through their own signed link"


def test_unsubscribing_withdraws_the_list_s_consent(client):
    person = SubscriberFactory(interests=["sleep"])
    token = tokens.make_token(tokens.UNSUBSCRIBE, key=person.token_key)
    client.post(f"/u/{token}/", {"List-Unsubscribe": "One-Click"})
    assert person.consents.get(purpose="list").withdrawn_at is not None


# --- Global Privacy Control ----------------------------------------------------------------------


def test_a_join_with_global_privacy_control_records_it_in_the_consent_and_the_export(client):
    person = joined(client, "gpc@example.com", headers={"HTTP_SEC_GPC": "1"})
    assert person.gpc is True
    assert person.consents.get().gpc is True
    response = client.post(preferences_url(person) + "export/")
    data = json.loads(response.content)
    assert data["global_privacy_control"] is True
    assert data["consents"][0]["global_privacy_control"] is True

    plain = joined(client, "plain@example.com")
    assert (plain.gpc, plain.consents.get().gpc) == (False, False)


def test_the_gpc_file_answers_as_the_spec_says(client):
    response = client.get("/.well-known/gpc.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json() == {"gpc": True, "lastUpdate": "2026-12-06"}


# --- discreet mode -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Your testosterone results", ["testosterone"]),
        ("We launched in Texas", []),  # "ED" is a word, not part of one
        ("New: ED care", ["ED"]),
        ("Ed, your place on the list", []),  # a short word in capitals matches in capitals
        ("Hair-loss care is coming", ["hair loss"]),
        ("Semaglutide and GLP-1s", ["GLP-1", "semaglutide"]),
        ("Sleep well", []),
    ],
)
def test_a_listed_word_is_found_whole_in_any_case_and_with_any_separator(text, found):
    listed = ["testosterone", "ED", "hair loss", "GLP-1", "semaglutide"]
    assert sorted(discreet.found(text, listed)) == sorted(found)


def test_link_paths_match_in_any_case():
    paths = discreet.link_paths('<a href="https://x.example/learn/ed-treatment/">Read</a>')
    assert paths == ["/learn/ed-treatment/"]
    assert discreet.found(paths[0], ["ED"], any_case=True) == ["ED"]


def campaign(**fields) -> Campaign:
    SubscriberFactory()
    defaults = {
        "name": "Launch news", "subject": "We are live in Texas",
        "preheader": "Book your first visit", "body": "We are live. [Book](https://x.example/book/)",
    }  # fmt: skip
    return CampaignFactory(**{**defaults, **fields})


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("subject", "Your TRT options are here", "“TRT” is in the subject"),
        ("preheader", "All about erectile care", "“erectile” is in the preheader"),
        ("name", "Testosterone list, wave 2", "“testosterone” is in the campaign's name"),
        ("body", "Read [this](/learn/hair-loss-basics/)", "“hair loss” is in a link's path"),
    ],
)
def test_a_campaign_carrying_a_listed_word_is_refused_with_the_word_and_the_field(
    field, value, where
):
    check = actions.preflight(campaign(**{field: value}))
    assert not check.ok
    assert any(problem.startswith(where) for problem in check.problems), check.problems


def test_a_listed_word_in_the_sender_s_name_refuses_every_campaign(settings):
    settings.DEFAULT_FROM_EMAIL = "Halftime Testosterone <hello@localhost>"
    check = actions.preflight(campaign())
    assert any(
        problem.startswith("“testosterone” is in the sender's name") for problem in check.problems
    )


def test_the_words_are_kept_in_admin_and_an_added_one_counts_at_once():
    assert DiscreetWord.objects.filter(word="semaglutide").exists()
    assert not any(
        "discreet" in p for p in actions.preflight(campaign(subject="Big news")).problems
    )
    DiscreetWord.objects.create(word="big news")
    check = actions.preflight(Campaign.objects.get(subject="Big news"))
    assert any(problem.startswith("“big news” is in the subject") for problem in check.problems)


def test_with_discreet_mode_off_nothing_is_refused_for_its_words(settings):
    settings.DISCREET_MODE = False
    assert discreet.findings({"the subject": "testosterone"}) == []


def test_a_system_email_s_subject_with_a_listed_word_is_refused(staff_client):
    from waitlist.people import wording

    current = wording.current(OutboundEmail.Kind.WELCOME)
    response = staff_client.post(
        f"/admin/waitlist/emailwording/{current.pk}/change/",
        {"subject": "Welcome to better testosterone", "body": current.body},
    )
    assert response.status_code == 200
    assert "“testosterone” is in the subject" in response.content.decode()
    assert wording.current(OutboundEmail.Kind.WELCOME).pk == current.pk


def test_an_access_code_naming_a_condition_is_refused(staff_client):
    response = staff_client.post(
        "/admin/waitlist/accesscode/add/",
        {"code": "TRT-EXPO", "label": "Expo", "limit": "10", "invitation_days": "14",
         "active": "on"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "“TRT” is in the code" in response.content.decode()


def test_a_journey_whose_email_names_a_condition_cannot_be_switched_on():
    journey = Journey.objects.create(name="Welcome", trigger=Journey.Trigger.CONFIRMED)
    step = CampaignFactory(
        kind=Campaign.Kind.JOURNEY, name="Day 3", subject="Your testosterone questions"
    )
    JourneyStep.objects.create(journey=journey, delay=dt_days(3), campaign=step)
    with pytest.raises(CampaignError, match="“testosterone” is in the subject"):
        journeys.switch_on(journey)
    journey.refresh_from_db()
    assert not journey.active


def dt_days(days: int):
    import datetime as dt

    return dt.timedelta(days=days)


# --- what the email service is sent --------------------------------------------------------------


@pytest.fixture
def postmark(settings):
    service = EmailService().start()
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.EMAIL_ESP = "postmark"
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": "server-token",
        "POSTMARK_API_URL": service.url + "/",
    }
    yield service
    service.stop()


def outside_the_recipient_and_body(payload: dict) -> str:
    return json.dumps({k: v for k, v in payload.items() if k not in {"To", "HtmlBody", "TextBody"}})


def test_a_real_send_tells_the_email_service_nothing_but_the_message(postmark, settings):
    listed = list(DiscreetWord.objects.values_list("word", flat=True))
    people = [SubscriberFactory(email=f"p{n}@example.com", interests=["testosterone"])
              for n in range(2)]  # fmt: skip
    news = CampaignFactory(
        name="Launch news", subject="We are live in Texas", preheader="Book a first visit",
        body="Everything about testosterone care, [read it](https://x.example/learn/basics/).",
        audience_interests=["testosterone"], status=Campaign.Status.SENDING,
    )  # fmt: skip
    dispatch.create_deliveries(news)
    settings.CAMPAIGN_RATE_PER_SECOND, settings.CAMPAIGN_RATE_PER_HOUR = 10_000, 10_000_000
    (result,) = run_lanes(news)
    assert result.sent == 2
    sends = [request.json for request in postmark.to("/email")]
    assert sorted(payload["To"] for payload in sends) == sorted(p.email for p in people)
    for payload in sends:
        around = outside_the_recipient_and_body(payload)
        assert discreet.found(around, listed) == [], around
        assert "@example.com" not in around, "no address outside the recipient field"
        assert "testosterone" in payload["TextBody"], "the body may say it"
        assert payload.get("Tag") in (None, "") and payload.get("Metadata") in (None, {})
        assert payload["TrackOpens"] is False and payload["TrackLinks"] == "None"
        headers = {header["Name"]: header["Value"] for header in payload["Headers"]}
        for name in ("List-Id", "Feedback-ID", "Message-ID"):
            assert discreet.found(headers[name], listed) == []


def test_an_erased_person_s_campaigns_are_forgotten_with_them(mail, settings):
    leaving, staying = (SubscriberFactory(email=f"{name}@example.com", interests=["testosterone"])
                        for name in ("leaving", "staying"))  # fmt: skip
    news = CampaignFactory(
        name="Testosterone news", audience_interests=["testosterone"],
        status=Campaign.Status.SENDING,
    )  # fmt: skip
    dispatch.create_deliveries(news)
    settings.CAMPAIGN_RATE_PER_SECOND, settings.CAMPAIGN_RATE_PER_HOUR = 10_000, 10_000_000
    assert run_lanes(news)[0].sent == 2

    privacy.erase(subscriber_id=leaving.pk)
    erased = Subscriber.objects.get(email_hash=leaving.email_hash)
    assert not Delivery.objects.filter(subscriber=erased).exists(), "their hash names no campaign"
    assert list(Delivery.objects.values_list("subscriber", "status")) == [(staying.pk, "sent")]
    assert results([news.pk])[news.pk]["sent"] == 1


# --- erasures reach the email service ------------------------------------------------------------


def test_an_erasure_reaches_the_suppression_api_once_retried_after_a_failure(postmark, handed_out):
    postmark.fail_first = {"/suppressions": 1}
    person = SubscriberFactory(email="leaving@example.com")
    privacy.erase(subscriber_id=person.pk)
    (row,) = ProcessorErasure.objects.filter(subscriber=person)
    assert (row.processor, row.email, row.status) == ("postmark", "leaving@example.com", "queued")

    assert processors.send_due() == 0  # the service answered 503
    row.refresh_from_db()
    assert row.status == "queued" and row.not_before > timezone.now()
    assert "503" in row.answer
    ProcessorErasure.objects.update(not_before=None)  # its retry comes due
    assert processors.send_due() == 1
    assert processors.send_due() == 0, "told once"

    calls = postmark.to("/suppressions")
    assert len(calls) == 2 and calls[-1].path == "/message-streams/outbound/suppressions"
    assert calls[-1].json == {"Suppressions": [{"EmailAddress": "leaving@example.com"}]}
    assert calls[-1].headers["X-Postmark-Server-Token"] == "server-token"
    row.refresh_from_db()
    assert row.status == "sent" and row.sent_at is not None
    assert row.answer == "Postmark: suppressed on stream outbound"
    assert row.email is None, "told: the address is forgotten here too"


@pytest.mark.parametrize(
    ("service", "path", "sent"),
    [
        ("sendgrid", "/asm/suppressions/global", lambda r: r.json["recipient_emails"]),
        ("mailgun", "/mg.example/unsubscribes", lambda r: r.form["address"]),
    ],
)
def test_other_services_hear_erasures_at_their_own_api(settings, handed_out, service, path, sent):
    api = EmailService().start()
    try:
        settings.EMAIL_ESP = service
        settings.ANYMAIL = {
            f"{service.upper()}_API_KEY": "key", f"{service.upper()}_API_URL": api.url,
            "MAILGUN_SENDER_DOMAIN": "mg.example",
        }  # fmt: skip
        person = SubscriberFactory(email="leaving@example.com")
        privacy.erase(subscriber_id=person.pk)
        assert processors.send_due() == 1
        (request,) = api.to(path)
        assert sent(request) == ["leaving@example.com"]
    finally:
        api.stop()


def test_over_smtp_the_record_says_there_is_no_one_to_tell(settings):
    settings.EMAIL_ESP = ""
    person = SubscriberFactory()
    privacy.erase(subscriber_id=person.pk)
    (row,) = ProcessorErasure.objects.filter(subscriber=person)
    assert (row.status, row.email, row.answer) == ("skipped", None, processors.OVER_SMTP)


def test_the_person_s_record_in_admin_shows_what_the_email_service_confirmed(
    postmark, handed_out, staff_client
):
    person = SubscriberFactory(email="leaving@example.com")
    privacy.erase(subscriber_id=person.pk)
    processors.send_due()
    page = staff_client.get(f"/admin/waitlist/subscriber/{person.pk}/change/").content.decode()
    assert "Postmark: suppressed on stream outbound" in page
    assert "leaving@example.com" not in page
    assert len(django_mail.outbox) == 0


def test_an_operator_adds_a_discreet_word_and_retries_an_erasure_the_service_never_took(
    postmark, handed_out, staff_client
):
    added = staff_client.post("/admin/waitlist/discreetword/add/", {"word": "andropause"})
    assert added.status_code == 302 and DiscreetWord.objects.filter(word="andropause").exists()
    again = staff_client.post("/admin/waitlist/discreetword/add/", {"word": "Andropause"})
    assert again.status_code == 200, "a word is listed once, in any case"

    person = SubscriberFactory(email="leaving@example.com")
    privacy.erase(subscriber_id=person.pk)
    ProcessorErasure.objects.update(status="failed", answer="gave up after 12 attempts")
    response = staff_client.post(
        "/admin/waitlist/processorerasure/",
        {"action": "retry", "_selected_action": [ProcessorErasure.objects.get().pk]},
    )
    assert response.status_code == 302
    assert processors.send_due() == 1
    assert ProcessorErasure.objects.get().status == "sent"


def test_an_erasure_leaves_no_address_in_admin_s_history(staff_client, handed_out):
    from django.contrib.admin.models import LogEntry

    person = SubscriberFactory(email="leaving@example.com", state="CA")
    staff_client.post(
        f"/admin/waitlist/subscriber/{person.pk}/change/",
        {"state": "TX", "consents-TOTAL_FORMS": "0", "consents-INITIAL_FORMS": "0"},
    )
    assert LogEntry.objects.filter(object_repr="leaving@example.com").exists()
    privacy.erase(subscriber_id=person.pk)
    assert not LogEntry.objects.filter(object_repr__contains="leaving").exists()
    assert LogEntry.objects.filter(object_repr=f"erased subscriber #{person.pk}").exists()


def test_the_deploy_check_refuses_a_sender_name_that_names_a_condition(settings):
    from django.core import checks

    def refused() -> list[str]:
        found = checks.run_checks(include_deployment_checks=True, databases=["default"])
        return [message.msg for message in found if message.id == "waitlist.E012"]

    assert refused() == []
    settings.DEFAULT_FROM_EMAIL = "Halftime TRT <hello@localhost>"
    assert refused() == [
        "“TRT” is in the sender's name (DEFAULT_FROM_EMAIL): discreet mode keeps condition "
        "words out of what shows before an email is opened or leaves the site around it."
    ]
