"""The referral loop explains itself, in a real browser with a real worker and mail server: a
partner on the referrer's own connection joins through the link and confirms, so the referrer's
page lists them as counted and the place moves, and a "moved up" email arrives; a second friend
from that connection the same day is listed as held, with why; then an operator imports an
older list in admin and the referrer's place stays where it was."""

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import Browser, expect

from tests.browser.conftest import PHONE, mail_to, signed_in
from tests.factories import StaffFactory, SubscriberFactory
from waitlist.models import Subscriber
from waitlist.people import tokens

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONFIRM = re.compile(r"/waitlist/confirm/[^/\s]+/")
PASSWORD = "a long enough password 7"


def join_and_confirm(browser: Browser, base: str, smtp_sink, path: str, email: str) -> None:
    """A friend at the referrer's home (the same address as theirs) opens the link, joins and
    confirms from the email."""
    friend = browser.new_context(**PHONE, extra_http_headers={"X-Forwarded-For": "203.0.113.10"})
    page = friend.new_page()
    page.goto(base + path)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "S. invited you to the Halftime Health waitlist"
    )
    form = page.locator("form[data-join-form]")
    form.get_by_label("Email address").fill(email)
    form.get_by_role("button", name="Join the waitlist").click()
    expect(form.locator(".join-status")).to_contain_text(email)
    invite = mail_to(smtp_sink, email, "Confirm your email for Halftime Health updates")
    page.goto(base + CONFIRM.search(invite.text).group(0))
    page.get_by_role("button", name="Yes, add me to the list").click()
    expect(page.locator(".position")).to_be_visible()
    friend.close()


def test_friends_from_the_referrers_connection_count_once_a_day_and_imports_move_no_one(
    live_server, worker, smtp_sink, browser: Browser, settings, assert_accessible, tmp_path
):
    settings.TRUSTED_PROXIES = 1
    smtp_sink.clear()
    earlier = timezone.now() - dt.timedelta(days=2)
    for number in range(5):
        SubscriberFactory(confirmed_at=earlier + dt.timedelta(minutes=number))
    sam = SubscriberFactory(
        email="sam@example.com", signup_ip="203.0.113.10", confirmed_at=earlier + dt.timedelta(1)
    )
    base = live_server.url
    mine = f"{base}/waitlist/welcome/{tokens.make_token(tokens.PREFERENCES, key=sam.token_key)}/"
    invite_path = f"/waitlist/?ref={sam.referral_code}"

    page = browser.new_context(**PHONE).new_page()
    page.goto(mine)
    expect(page.locator(".position")).to_have_text("6")

    join_and_confirm(browser, base, smtp_sink, invite_path, "bea@example.org")
    page.goto(mine)
    expect(page.locator(".position")).to_have_text("3")  # 6 − 3
    friends = page.locator(".friend")
    expect(friends).to_have_count(1)
    expect(friends.nth(0)).to_have_text("b•••@example.org Counted")
    moved = mail_to(
        smtp_sink,
        "sam@example.com",
        "A friend joined through your link: you moved up the Halftime Health waitlist",
    )
    assert "You moved up to number 3." in moved.text

    join_and_confirm(browser, base, smtp_sink, invite_path, "cy@example.org")
    page.goto(mine)
    expect(page.locator(".position")).to_have_text("3")
    expect(friends).to_have_count(2)
    expect(friends.nth(0)).to_have_text(
        "c•••@example.org Held: they joined from your own internet connection, where one "
        "friend a day counts"
    )
    expect(friends.nth(1)).to_have_text("b•••@example.org Counted")
    assert_accessible(page)

    # An operator imports an older list: its people line up behind, sam's place stays.
    operator = StaffFactory(username="ops", password=PASSWORD)
    operator.user_permissions.set(
        Permission.objects.filter(codename__in=["view_subscriber", "import_subscribers"])
    )
    older = tmp_path / "older-list.csv"
    older.write_text(
        "email,consented_at,consent_source,consent_wording\n"
        "early1@example.net,2025-10-01T09:00:00Z,Old site,Email me launch news.\n"
        "early2@example.net,2025-10-02T09:00:00Z,Old site,Email me launch news.\n"
    )
    admin = signed_in(browser, base, "desktop", "ops", PASSWORD)
    admin.goto(f"{base}/admin/waitlist/subscriber/import/")
    admin.get_by_label("CSV file").set_input_files(str(older))
    admin.get_by_role("button", name="Preview").click()
    expect(admin.get_by_role("heading", name="Preview of older-list.csv")).to_contain_text(
        "nothing is imported yet"
    )
    expect(admin.locator("#content-main")).to_contain_text(
        "2 new (2 confirmed with their consent evidence, 0 to be asked by email to confirm), "
        "0 already here and left as they are, 0 refused"
    )
    assert_accessible(admin, within="#content-main")
    admin.get_by_role("button", name="Import 2 new people").click()
    expect(admin.locator(".messagelist")).to_contain_text("Importing older-list.csv")
    expect(admin.locator("#content-main table").last).to_contain_text(
        "2 imported", timeout=30_000
    )  # the page refreshes itself until the worker is done
    imported = Subscriber.objects.filter(email__endswith="@example.net", status="confirmed")
    assert imported.count() == 2

    page.goto(mine)
    expect(page.locator(".position")).to_have_text("3")
    assert Subscriber.objects.get(email="early1@example.net").position() == 9  # behind all 8
