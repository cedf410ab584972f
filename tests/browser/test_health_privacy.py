"""Interests are health data, in a real browser: kept only with their own consent, named nowhere
without it, withdrawn alone in preferences; the health-data policy linked from the home page."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import fits
from waitlist.models import ConsentRecord, Interest, Subscriber
from waitlist.people import outbox, tokens

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INTERESTS_WORDING = "Use my interests to choose which updates I get."
POLICY = "Consumer Health Data Privacy Policy"


def join(page: Page, base: str, email: str, *, interests=(), consent=False):
    page.goto(f"{base}/waitlist/")
    form = page.locator("form[data-join-form]")
    form.get_by_label("Email address").fill(email)
    for interest in interests:
        form.get_by_label(interest, exact=True).check()
    if consent:
        form.get_by_label(INTERESTS_WORDING).check()
    form.get_by_role("button", name="Join the waitlist").click()
    return form


def test_interests_are_kept_only_with_their_own_consent_and_withdrawn_alone(
    live_server, mail, handed_out, phone_page: Page, assert_accessible
):
    """The emails wait for this test to send them, not for a worker another test started."""
    base = live_server.url
    phone_page.goto(base + "/")
    footer = phone_page.locator("footer")
    expect(footer.get_by_role("link", name=POLICY)).to_have_attribute(
        "href", "/health-data-privacy/"
    )
    expect(phone_page.locator("main").get_by_role("link", name=POLICY)).to_be_visible()

    # Unticked: nothing about health is kept, and the confirmation names nothing.
    form = join(phone_page, base, "quiet@example.com")
    expect(form.locator(".join-status")).to_contain_text("Check your inbox")
    quiet = Subscriber.objects.get(email="quiet@example.com")
    assert quiet.interests == []
    assert list(quiet.consents.values_list("purpose", flat=True)) == ["list"]
    outbox.send_due()
    (confirmation,) = mail.to("quiet@example.com")
    for label in Interest.labels:
        assert label.lower() not in confirmation.text.lower()

    # Interests ticked without their consent: the form says what to do, and keeps nothing.
    form = join(phone_page, base, "open@example.com", interests=["Testosterone", "Sleep"])
    consent_box = form.get_by_label(INTERESTS_WORDING)
    expect(consent_box).to_have_attribute("aria-invalid", "true")
    expect(form.locator(".field-error")).to_contain_text("we keep them only if you tick")
    assert_accessible(phone_page)
    assert not Subscriber.objects.filter(email="open@example.com").exists()
    consent_box.check()
    form.get_by_role("button", name="Join the waitlist").click()
    expect(form.locator(".join-status")).to_contain_text("Check your inbox")
    person = Subscriber.objects.get(email="open@example.com")
    assert person.interests == ["testosterone", "sleep"]
    record = person.consents.get(purpose=ConsentRecord.Purpose.INTERESTS)
    assert (record.consent_version, record.consent_text) == ("2026-12", INTERESTS_WORDING)

    # Confirmed, they take back that consent alone: interests erased, still on the list.
    Subscriber.objects.filter(pk=person.pk).update(status="confirmed")
    token = tokens.make_token(tokens.PREFERENCES, key=person.token_key)
    phone_page.goto(f"{base}/waitlist/preferences/{token}/")
    box = phone_page.get_by_label(INTERESTS_WORDING)
    expect(box).to_be_checked()
    assert_accessible(phone_page)
    box.uncheck()
    phone_page.get_by_label("Testosterone", exact=True).uncheck()
    phone_page.get_by_label("Sleep", exact=True).uncheck()
    phone_page.get_by_role("button", name="Save preferences").click()
    expect(phone_page.get_by_role("status")).to_have_text("Saved.")
    person.refresh_from_db()
    assert (person.interests, person.status) == ([], "confirmed")
    assert person.consents.get(purpose="interests").withdrawn_at is not None
    assert person.consents.get(purpose="list").withdrawn_at is None

    # The policy itself: its own page, readable on a phone, under the security policy.
    refused = []
    phone_page.on("console", lambda message: refused.append(message.text))
    phone_page.get_by_role("link", name=POLICY).first.click()
    expect(phone_page.get_by_role("heading", level=1)).to_have_text(POLICY)
    expect(phone_page.get_by_text("2026-12", exact=True)).to_be_visible()
    assert [text for text in refused if "Content Security Policy" in text] == []
    assert fits(phone_page)
    assert_accessible(phone_page)
