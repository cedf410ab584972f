"""What a reader sees of an article's trustworthiness: its dates, its reviewer's page, its
Updates list and the editorial policy, on a phone and a desktop."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from articles.models import ArticleUpdate
from tests.factories import ArticleFactory, PersonFactory

from .conftest import PHONE

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 800}}


@pytest.fixture
def article(transactional_db):
    reviewer = PersonFactory(
        name="Ada Okafor",
        credentials="MD",
        role="Board-certified urologist",
        bio="Dr. Okafor treats men's hormone disorders.",
    )
    now = timezone.now()
    article = ArticleFactory(
        title="Testosterone therapy and fertility",
        reviewer=reviewer,
        publish_at=now - dt.timedelta(days=200),
        last_reviewed=timezone.localdate() - dt.timedelta(days=3),
    )
    article.content_updated_at = now - dt.timedelta(days=3)
    article.save()
    ArticleUpdate.objects.create(
        article=article,
        published_on=timezone.localdate() - dt.timedelta(days=3),
        note="Added what the 2026 guideline says about sperm banking.",
    )
    return article


@pytest.mark.parametrize("device", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_reader_sees_the_dates_follows_the_reviewer_and_reads_the_policy(
    live_server, article, browser: Browser, assert_accessible, device
):
    context = browser.new_context(**device)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto(live_server.url + article.get_absolute_url())
        dates = page.locator(".article-dates")
        published = timezone.localtime(article.publish_at).strftime("%B %-d, %Y")
        reviewed = article.last_reviewed.strftime("%B %-d, %Y")
        expect(dates).to_contain_text(f"Published {published}")
        expect(dates).to_contain_text(f"Updated {reviewed}")
        expect(dates).to_contain_text(f"Medically reviewed {reviewed}")
        updates = page.get_by_role("region", name="Updates to this article")
        expect(updates).to_contain_text("Added what the 2026 guideline says about sperm banking.")
        assert page.evaluate("document.documentElement.scrollWidth") <= device["viewport"]["width"]
        assert_accessible(page)

        page.get_by_role("link", name="Ada Okafor, MD").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Ada Okafor, MD")
        reviewed_list = page.get_by_role("region", name="Articles Ada Okafor medically reviewed")
        expect(reviewed_list.get_by_role("link", name=article.title)).to_be_visible()
        assert_accessible(page)

        page.get_by_role("link", name="our editorial policy").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Editorial policy")
        expect(page.get_by_role("link", name="Ada Okafor, MD")).to_be_visible()
        assert_accessible(page)
    finally:
        context.close()
