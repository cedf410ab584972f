"""The page a person shares their link from, in a real browser on a phone."""

from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import PHONE
from tests.factories import SubscriberFactory
from waitlist.people import links, tokens

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_link_is_copied_and_shared_without_the_share_sheet(
    live_server, browser: Browser, assert_accessible
):
    person = SubscriberFactory()
    url = links.referral_url(person.referral_code)
    context = browser.new_context(**PHONE)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    token = tokens.make_token(tokens.PREFERENCES, key=person.token_key)
    page.goto(f"{live_server.url}/waitlist/welcome/{token}/")
    expect(page.locator(".position")).to_have_text("1")
    assert_accessible(page)

    page.get_by_role("button", name="Copy link").click()
    expect(page.locator(".share-status")).to_have_text("Link copied.")
    assert page.evaluate("navigator.clipboard.readText()") == url

    # Headless Chromium has no share sheet: its button stays hidden, the plain links carry it.
    assert page.evaluate("typeof navigator.share") == "undefined"
    expect(page.get_by_role("button", name="Share…")).to_be_hidden()
    for name in ("email", "text message", "WhatsApp", "X"):
        assert quote(url, safe="") in page.get_by_role("link", name=name, exact=True).get_attribute(
            "href"
        )
    context.close()
