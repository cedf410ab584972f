"""What the transactional emails say is the operators' to write: versioned, previewed, tested,
and recorded with every email sent."""

import pytest
from django.urls import reverse

from tests.conftest import join
from waitlist.models import EmailWording, OutboundEmail, Subscriber
from waitlist.people import outbox, privacy, wording

pytestmark = [pytest.mark.django_db]


def edit(staff_client, kind: str, subject: str, body: str):
    version = wording.current(kind)
    page = reverse("admin:waitlist_emailwording_change", args=[version.pk])
    return staff_client.post(page, {"subject": subject, "body": body}, follow=True)


def test_an_operator_s_new_confirmation_wording_is_what_the_next_signup_receives(
    staff_client, client, mail
):
    join(client, "before@example.com")
    outbox.send_due()
    answer = edit(
        staff_client, "confirmation", "One click to join {site_name}",
        "## One click left\n\nPress the button on the page the link opens. It works for "
        "{valid_days} days.",
    )  # fmt: skip
    assert "Saved as version 2" in answer.text
    join(client, "after@example.com")
    outbox.send_due()
    [before] = mail.to("before@example.com")
    [after] = mail.to("after@example.com")
    assert before.message["Subject"] == "Confirm your email for Halftime Health updates"
    assert after.message["Subject"] == "One click to join Halftime Health"
    assert "One click left" in after.text and "It works for 7 days." in after.text
    assert "<h2" in after.html and "One click left" in after.html
    assert "/waitlist/confirm/" in after.text, "the link stays, around the wording"

    person = Subscriber.objects.get(email="after@example.com")
    exported = privacy.export_data(subscriber_id=person.pk)
    assert exported["emails_sent"] == [
        {"kind": "confirmation", "sent_at": exported["emails_sent"][0]["sent_at"],
         "wording_version": 2},
    ]  # fmt: skip
    assert exported["consents"][0]["asked_with"][0]["wording_version"] == 2
    earlier = Subscriber.objects.get(email="before@example.com").emails.get()
    assert earlier.wording.version == 1, "the version each email said stays with it"


def test_a_placeholder_the_email_has_no_value_for_is_refused(staff_client):
    answer = edit(staff_client, "confirmation", "Hi {first_name}", "Your place: {position}")
    assert "This email has no value for {first_name}, {position}" in answer.text
    assert EmailWording.objects.filter(kind="confirmation").count() == 1


def test_earlier_versions_are_history_and_an_unchanged_save_is_no_version(staff_client):
    first = wording.current("welcome")
    edit(staff_client, "welcome", first.subject, first.body)
    assert EmailWording.objects.filter(kind="welcome").count() == 1
    edit(staff_client, "welcome", "Welcome aboard", first.body)
    assert wording.current("welcome").version == 2
    old = staff_client.post(
        reverse("admin:waitlist_emailwording_change", args=[first.pk]),
        {"subject": "Sneaky", "body": "x"},
    )
    assert old.status_code == 403
    assert EmailWording.objects.get(pk=first.pk).subject == first.subject
    listing = staff_client.get(reverse("admin:waitlist_emailwording_changelist"))
    assert listing.text.count("Welcome aboard") == 1
    assert len(listing.context["cl"].result_list) == len(OutboundEmail.Kind.values)


def test_the_operator_previews_and_tests_each_email(staff_client, mail):
    staff = staff_client.get(reverse("admin:waitlist_emailwording_changelist")).wsgi_request.user
    staff.email = "ops@example.com"
    staff.save()
    for kind in OutboundEmail.Kind.values:
        version = wording.current(kind)
        page = staff_client.get(reverse("admin:emailwording_email", args=[version.pk]))
        assert page.status_code == 200 and "{" not in page.text.replace("{ ", "")
        staff_client.post(reverse("admin:emailwording_test", args=[version.pk]))
    assert len(mail.to("ops@example.com")) == len(OutboundEmail.Kind.values)
    assert all(m.message["Subject"].startswith("[Test] ") for m in mail.messages)
