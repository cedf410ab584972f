"""The operators' console in a real browser, on a phone and a desktop: a campaign's page, its
two-step send, its preview, its progress updating by itself, and the dashboard."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from tests.browser.conftest import SIZES, fits, forced_post, signed_in
from tests.factories import CampaignFactory, StaffFactory, SubscriberFactory
from waitlist.campaigns import actions, dispatch
from waitlist.models import Campaign, Delivery

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "operator password, long enough"


@pytest.fixture
def operator():
    user = StaffFactory(username="operator", email="operator@example.com", is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.mark.parametrize("size", SIZES)
def test_a_campaign_is_tested_confirmed_and_sent_in_two_steps(
    live_server, settings, mail, handed_out, browser: Browser, operator, assert_accessible, size
):
    # No worker here: the tasks are kept by `handed_out`, not left in the broker for the
    # session's worker to run against a later test's rows.
    settings.SITE_URL = live_server.url
    SubscriberFactory.create_batch(3, state="TX")
    campaign = CampaignFactory(
        name="Texas opens", subject="We're open in Texas", preheader="Book this week",
        body="## What changes\n\nBook a **first visit**.", audience_states=["TX"],
    )  # fmt: skip
    page = signed_in(browser, live_server.url, size, "operator", PASSWORD)
    page.goto(f"{live_server.url}/admin/waitlist/campaign/{campaign.pk}/change/")
    # The send panel is this project's; the form above it is Django admin's own.
    assert_accessible(page, within=".campaign-send")
    assert fits(page)

    page.get_by_label("Send a test to").fill("editor@example.org")
    page.get_by_role("button", name="Send the test").click()
    expect(page.locator(".messagelist")).to_contain_text("Test sent to editor@example.org.")
    assert [m.envelope_to for m in mail.to("editor@example.org")] == [["editor@example.org"]]

    page.get_by_role("link", name="as it arrives").click()
    expect(page.locator(".inbox-subject")).to_have_text("We're open in Texas")
    expect(page.locator(".inbox-text")).to_contain_text("What changes\n============")
    assert_accessible(page, within="#content-main")
    page.go_back()

    page.get_by_role("link", name="Send now…").click()
    expect(page.locator(".campaign-facts")).to_contain_text("People in Texas: 3 people now")
    assert_accessible(page, within="#content-main")
    assert fits(page)
    campaign.refresh_from_db()
    assert campaign.status == "draft"  # looking is not sending
    page.get_by_role("button", name="Yes, send to 3 people now").click()
    expect(page.locator(".messagelist")).to_contain_text("Sending now to 3 people.")
    campaign.refresh_from_db()
    assert campaign.status != "draft"


def test_after_send_now_the_page_follows_the_campaign_and_refuses_back_to_draft(
    live_server, settings, mail, worker, browser: Browser, operator
):
    """Send now → sending (its rows being made, or sent) and Pause, with no beat running: the
    dispatcher is asked at once, not at beat's next tick. Back to draft is not offered, and
    forcing it is refused with the reason; every person gets exactly one email."""
    settings.SITE_URL = live_server.url
    people = SubscriberFactory.create_batch(300)
    campaign = CampaignFactory()
    actions.send_test(campaign, to="operator@example.com")
    mail.clear()
    page = signed_in(browser, live_server.url, "desktop", "operator", PASSWORD)
    page.goto(f"{live_server.url}/admin/waitlist/campaign/{campaign.pk}/confirm/send_now/")
    page.get_by_role("button", name="Yes, send to 300 people now").click()
    status = page.locator('[data-field="status_label"]')
    started = re.compile(r"^(Sending|Starting… [\d,]+ messages made so far)$")
    expect(status).to_have_text(started, timeout=15_000)
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    expect(page.get_by_role("button", name="Back to draft")).to_be_hidden()

    # What a stale page's Back to draft would post: refused, and said so, whether the campaign
    # is still sending or has finished meanwhile.
    change = f"{live_server.url}/admin/waitlist/campaign/{campaign.pk}/change/"
    assert forced_post(page, change.replace("/change/", "/do/unschedule/"), {}) == 302
    page.goto(change)
    expect(page.locator(".messagelist .error")).to_have_text(
        re.compile(r"^(It has started sending: pause it instead\.|It has finished sending\.)$")
    )
    expect(page.locator(".messagelist .success")).to_have_count(0)
    expect(status).to_have_text("Sent", timeout=30_000)
    campaign.refresh_from_db()
    assert campaign.status == "sent"
    received = sorted(to for message in mail.messages for to in message.envelope_to)
    assert received == sorted(person.email for person in people)


def test_progress_updates_by_itself_while_it_sends(
    live_server, settings, worker, browser: Browser, operator, assert_accessible
):
    settings.CAMPAIGN_FIGURES_SECONDS = 1  # the page asks a worker to count them each second
    SubscriberFactory.create_batch(4)
    campaign = CampaignFactory(
        name="Live", subject="Live", body="Text.", status=Campaign.Status.SENDING
    )
    dispatch.create_deliveries(campaign)
    page = signed_in(browser, live_server.url, "desktop", "operator", PASSWORD)
    page.goto(f"{live_server.url}/admin/waitlist/campaign/{campaign.pk}/change/")
    expect(page.locator('[data-field="sent"]')).to_have_text("0")
    assert_accessible(page, within=".campaign-send")
    first, second = Delivery.objects.order_by("pk")[:2]
    Delivery.objects.filter(pk__in=[first.pk, second.pk]).update(
        status="sent", sent_at=timezone.now()
    )
    # No reload: the page asks for the figures every few seconds.
    expect(page.locator('[data-field="sent"]')).to_have_text("2", timeout=10_000)
    expect(page.locator('[data-field="queued"]')).to_have_text("2")
    expect(page.locator('[data-field="pace"]')).to_contain_text("a second")
    campaign.refresh_from_db()
    assert campaign.figures["progress"]["percent"] == 50
    expect(page.locator('[data-field="counted"]')).to_contain_text("Counted at")
    expect(page.locator("progress.campaign-progress")).to_have_attribute("value", "50")


@pytest.mark.parametrize("size", SIZES)
def test_the_dashboard_reads_on_a_phone_and_a_desktop(
    live_server, browser: Browser, operator, assert_accessible, size, worker
):
    SubscriberFactory.create_batch(5, state="TX", interests=["sleep"])
    SubscriberFactory(state="CA", status="pending", confirmed_at=None)
    page = signed_in(browser, live_server.url, size, "operator", PASSWORD)
    expect(page.get_by_role("link", name="Dashboard")).to_be_visible()
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_text("The figures have not been counted yet")).to_be_visible()
    page.get_by_role("button", name="Count now").click()  # a worker counts them
    expect(page.get_by_text("Counting the figures again: reload in a moment.")).to_be_visible()
    for _ in range(120):
        if page.get_by_role("heading", name="Totals").count():
            break
        page.wait_for_timeout(250)
        page.reload()
    expect(page.get_by_role("heading", name="Totals")).to_be_visible()
    expect(page.get_by_text("Counted at")).to_be_visible()
    expect(page.locator("svg.chart")).to_be_visible()
    expect(page.get_by_role("table", name="Confirmed people by US state")).to_contain_text("Texas")
    assert_accessible(page, within="#content-main")
    assert fits(page)


@pytest.mark.parametrize("size", SIZES)
def test_the_campaign_body_s_preview_follows_what_is_typed(
    live_server, browser: Browser, operator, assert_accessible, size
):
    page = signed_in(browser, live_server.url, size, "operator", PASSWORD)
    page.goto(f"{live_server.url}/admin/waitlist/campaign/add/")
    body = page.get_by_role("textbox", name="Body")
    preview = page.get_by_role("region", name="Preview")
    body.fill(
        "## Texas is open\n\nBook a **first visit**\nthis week.\n\n<img src=x onerror=alert(1)>"
    )
    expect(preview.get_by_role("heading", name="Texas is open")).to_be_visible()
    expect(preview.locator("strong")).to_have_text("first visit")
    expect(preview.locator("br")).to_have_count(1)  # a line break is kept, as in the email
    expect(preview.locator("img")).to_have_count(0)  # raw HTML is shown as text, never run
    body.fill("## Now California")
    expect(preview.get_by_role("heading", name="Now California")).to_be_visible()
    expect(preview.get_by_role("heading", name="Texas is open")).to_have_count(0)
    assert_accessible(page, within=".field-body")
    assert fits(page)
