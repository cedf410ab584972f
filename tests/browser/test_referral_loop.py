"""The referral loop as two people live it, on a phone, with 20 people already on the list: the
first joins from an article and confirms from the email; the welcome email brings their link;
a friend on another connection (another client address, through TRUSTED_PROXIES) opens it,
joins and confirms; the first person's page shows the referral, a place three better and the
reward it reached, whose email arrives."""

import datetime as dt
import re
from urllib.parse import quote

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from tests.browser.conftest import PHONE, mail_to
from tests.factories import ArticleFactory, SubscriberFactory
from waitlist.models import Milestone, Subscriber

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONFIRM = re.compile(r"/waitlist/confirm/[^/\s]+/")
WELCOME = re.compile(r"/waitlist/welcome/[^/\s]+/")
REFERRAL = re.compile(r"/waitlist/\?ref=[\w-]+")


def test_a_friend_who_joins_through_the_link_moves_the_person_up_the_list(
    live_server, worker, smtp_sink, browser: Browser, settings, assert_accessible
):
    settings.TRUSTED_PROXIES = 1
    smtp_sink.clear()
    earlier = timezone.now() - dt.timedelta(days=2)
    for number in range(20):
        SubscriberFactory(confirmed_at=earlier + dt.timedelta(minutes=number))
    article = ArticleFactory(title="Reading a lab report", body="## What it is\n\nText.")
    Milestone.objects.create(referrals=1, reward="Early access", details="Book a week early.")
    Milestone.objects.create(referrals=3, reward="A free first visit")
    base = live_server.url

    first = browser.new_context(**PHONE, extra_http_headers={"X-Forwarded-For": "203.0.113.10"})
    first.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = first.new_page()
    page.goto(base + "/")
    email_field = page.locator("form[data-join-form]").get_by_label("Email address")
    box = email_field.bounding_box()
    assert box["y"] + box["height"] <= PHONE["viewport"]["height"], "the field is below the fold"
    assert_accessible(page)

    page.goto(base + article.get_absolute_url())
    form = page.locator("form[data-join-form]")
    form.get_by_label("Email address").fill("first.person@example.com")
    form.get_by_role("button", name="Join the waitlist").click()
    expect(form.locator(".join-status")).to_contain_text("first.person@example.com")
    assert_accessible(page)
    (confirmation,) = smtp_sink.wait_for(1, timeout=30)
    page.goto(base + CONFIRM.search(confirmation.text).group(0))
    assert_accessible(page)
    page.get_by_role("button", name="Yes, add me to the list").click()
    expect(page.locator(".position")).to_have_text("21")
    assert_accessible(page)

    welcome = mail_to(
        smtp_sink, "first.person@example.com", "You’re on the Halftime Health waitlist"
    )
    referral_path = REFERRAL.search(welcome.text).group(0)
    my_page = base + WELCOME.search(welcome.text).group(0)

    friend = browser.new_context(**PHONE, extra_http_headers={"X-Forwarded-For": "198.51.100.20"})
    friend_page = friend.new_page()
    friend_page.goto(base + referral_path)
    assert_accessible(friend_page)
    join = friend_page.locator("form[data-join-form]")
    join.get_by_label("Email address").fill("friend@example.org")
    join.get_by_role("button", name="Join the waitlist").click()
    expect(join.locator(".join-status")).to_contain_text("friend@example.org")
    invite = mail_to(
        smtp_sink, "friend@example.org", "Confirm your email for Halftime Health updates"
    )
    friend_page.goto(base + CONFIRM.search(invite.text).group(0))
    assert_accessible(friend_page)
    friend_page.get_by_role("button", name="Yes, add me to the list").click()
    expect(friend_page.locator(".position")).to_have_text("22")
    assert_accessible(friend_page)
    friend.close()

    page.goto(my_page)
    expect(page.locator(".position")).to_have_text("18")  # max(1, 21 − 3 × 1)
    expect(page.locator("#share-heading + p")).to_contain_text("So far: 1 confirmed referral.")
    rewards = page.locator(".milestone")
    expect(rewards.nth(0)).to_contain_text("Early access")
    expect(rewards.nth(0)).to_contain_text("Reached")
    expect(rewards.nth(1)).to_contain_text("2 more to go")
    assert_accessible(page)
    reward = mail_to(
        smtp_sink,
        "first.person@example.com",
        "You reached a reward on the Halftime Health waitlist: Early access",
    )
    assert "Book a week early." in reward.text
    link = page.get_by_label("Your referral link").input_value()
    page.get_by_role("button", name="Copy link").click()
    expect(page.locator(".share-status")).to_have_text("Link copied.")
    assert page.evaluate("navigator.clipboard.readText()") == link
    expect(page.get_by_role("button", name="Share…")).to_be_hidden()  # no share sheet here
    for name in ("email", "text message", "WhatsApp", "X"):  # the plain links carry it instead
        href = page.get_by_role("link", name=name, exact=True).get_attribute("href")
        assert quote(link, safe="") in href
    assert link.endswith(referral_path.split("/waitlist/", 1)[1])
    first.close()

    person = Subscriber.objects.get(email="first.person@example.com")
    friend_row = Subscriber.objects.get(email="friend@example.org")
    assert (person.signup_ip, friend_row.signup_ip) == ("203.0.113.10", "198.51.100.20")
    assert friend_row.referred_by == person and friend_row.referral_outcome == "counted"
