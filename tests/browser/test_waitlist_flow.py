"""Join from an article on a phone, confirm from the captured email, see the position."""

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PHONE
from tests.factories import ArticleFactory
from waitlist.models import Subscriber

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONFIRM_PATH = re.compile(r"/waitlist/confirm/[^/\s]+/")


def test_join_from_an_article_confirm_by_email_and_see_the_position(
    live_server, worker, smtp_sink, phone_page: Page, assert_accessible
):
    smtp_sink.clear()
    article = ArticleFactory(title="Reading a lab report", body="## What it is\n\nText.")
    phone_page.goto(f"{live_server.url}{article.get_absolute_url()}?utm_source=test-suite")

    form = phone_page.locator("form[data-join-form]")
    form.get_by_label("Email address").fill("phone.reader@example.com")
    form.get_by_label("Use my interests to choose which updates I get.").check()
    form.get_by_label("Sleep").check()
    form.get_by_label("Your US state (optional)").select_option("TX")
    assert_accessible(phone_page)
    form.get_by_role("button", name="Join the waitlist").click()
    expect(form.locator(".join-status")).to_contain_text(
        "Check your inbox at phone.reader@example.com"
    )

    subscriber = Subscriber.objects.get()
    assert subscriber.email == "phone.reader@example.com"
    assert (subscriber.source_article, subscriber.placement) == (article, "inline")
    assert subscriber.utm_source == "test-suite"
    assert subscriber.interests == ["sleep"] and subscriber.state == "TX"

    (received,) = smtp_sink.wait_for(1, timeout=30)
    path = CONFIRM_PATH.search(received.text).group(0)
    phone_page.goto(f"{live_server.url}{path}")
    expect(phone_page.get_by_role("heading", level=1)).to_have_text("Confirm your email")
    assert_accessible(phone_page)
    phone_page.get_by_role("button", name="Yes, add me to the list").click()

    expect(phone_page.get_by_role("heading", level=1)).to_have_text("You’re on the list")
    expect(phone_page.locator(".position")).to_have_text("1")
    assert_accessible(phone_page)
    subscriber.refresh_from_db()
    assert subscriber.status == "confirmed"


def test_join_works_without_javascript(live_server, browser: Browser, assert_accessible):
    context = browser.new_context(java_script_enabled=False, **PHONE)
    page = context.new_page()
    page.goto(f"{live_server.url}/waitlist/")
    page.get_by_label("Email address").fill("no.script@example.com")
    page.get_by_role("button", name="Join the waitlist").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    assert page.url.endswith("/waitlist/check-your-inbox/")
    assert Subscriber.objects.get().email == "no.script@example.com"
    context.close()


def test_a_mistyped_address_gets_a_field_message_in_place(
    live_server, phone_page: Page, assert_accessible
):
    article = ArticleFactory()
    phone_page.goto(f"{live_server.url}{article.get_absolute_url()}")
    form = phone_page.locator("form[data-join-form]")
    form.get_by_label("Email address").fill("someone@mailinator.com")
    form.get_by_role("button", name="Join the waitlist").click()
    error = form.locator(".field-error")
    expect(error).to_contain_text("permanent email address")
    expect(form.get_by_label("Email address")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_text("permanent email address")).to_have_count(1)  # said once, by its field
    assert_accessible(phone_page)
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize("script", [True, False], ids=["script", "no-script"])
def test_a_typo_is_offered_its_usual_spelling_and_the_typed_address_can_stay(
    live_server, browser: Browser, assert_accessible, script
):
    page = browser.new_context(java_script_enabled=script, **PHONE).new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/waitlist/")
    form = page.locator("form[data-join-form]").first
    form.get_by_label("Email address").fill("sam@gmial.com")
    form.get_by_role("button", name="Join the waitlist").click()
    form = page.locator("form[data-join-form]").first
    expect(form.locator(".field-error")).to_have_text(
        "Did you mean sam@gmail.com? If sam@gmial.com is right, send it again."
    )
    if script:  # axe-core runs in the page
        assert_accessible(page)
    form.get_by_role("button", name="Use sam@gmail.com").click()
    if script:
        expect(form.locator(".join-status")).to_contain_text("Check your inbox at sam@gmail.com")
    else:
        expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["sam@gmail.com"]

    # A real address on an uncommon spelling stays as typed when sent again.
    page.goto(f"{live_server.url}/waitlist/")
    form = page.locator("form[data-join-form]").first
    form.get_by_label("Email address").fill("kim@yaho.com")
    form.get_by_role("button", name="Join the waitlist").click()
    form = page.locator("form[data-join-form]").first
    expect(form.locator(".field-error")).to_contain_text("Did you mean kim@yahoo.com?")
    form.get_by_role("button", name="Join the waitlist").click()
    if script:
        expect(form.locator(".join-status")).to_contain_text("Check your inbox at kim@yaho.com")
    else:
        expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    assert Subscriber.objects.filter(email="kim@yaho.com").exists()
    page.context.close()
