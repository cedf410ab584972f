"""A medical review in a real browser, on a phone and a desktop: an editor cannot put a change
live, asks a reviewer, the reviewer's email arrives (a real Celery worker, a real SMTP server),
the reviewer reads the waiting text on the real page and signs it off, and the public page shows
it under their name and today's date; a returned change shows its comment to the editor."""

import datetime as dt
import json
import re

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from articles.models import Article
from tests.browser.conftest import SIZES, fits, forced_post, learning_center_groups, signed_in
from tests.factories import ArticleFactory, PersonFactory, StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a review password, long enough"


@pytest.fixture
def people():
    learning_center_groups()
    editor = StaffFactory(username="eddie", email="eddie@halftime.example", password=PASSWORD)
    editor.groups.add(Group.objects.get(name="Editors"))
    reviewer = StaffFactory(
        username="renata", email="renata@halftime.example", first_name="Renata",
        password=PASSWORD,
    )  # fmt: skip
    reviewer.groups.add(Group.objects.get(name="Medical reviewers"))
    person = PersonFactory(
        name="Renata Osei-Lindqvist", credentials="MD", role="Endocrinologist", user=reviewer
    )
    return editor, person


def change_body(page: Page, text: str) -> None:
    body = page.locator("#id_body")
    body.fill(text)
    page.get_by_role("button", name="Save and continue editing").first.click()


@pytest.mark.parametrize("size", SIZES)
def test_an_editor_asks_a_reviewer_who_signs_off_the_text_she_read_on_the_real_page(
    live_server, settings, worker, smtp_sink, browser: Browser, people, assert_accessible, size,
    tmp_path,
):  # fmt: skip
    settings.SITE_URL = live_server.url
    smtp_sink.clear()
    editor_user, person = people
    article = ArticleFactory(
        title="Testosterone and sleep", slug="testosterone-and-sleep", reviewer=PersonFactory(),
        body="## Sleep\n\nMost men need seven hours.\n",
        last_reviewed=timezone.localdate() - dt.timedelta(days=40),
    )  # fmt: skip
    base = live_server.url
    editor = signed_in(browser, base, size, "eddie", PASSWORD)
    editor.goto(f"{base}/admin/articles/article/{article.pk}/change/")
    assert editor.locator("#id_last_reviewed, #id_reviewer, #id_status").count() == 0
    change_body(editor, "## Sleep\n\nMost men need seven to nine hours.\n")
    expect(editor.locator(".messagelist li")).to_have_count(1)
    expect(editor.locator(".messagelist")).to_have_text(
        "Saved. The live page keeps the signed-off text until a reviewer signs off this change."
    )
    assert editor.get_by_role("button", name="Publish as a minor edit").count() == 0
    # Forced requests change nothing.
    step = f"{base}/admin/articles/article/{article.pk}/step"
    assert forced_post(editor, f"{step}/publish_minor_edit/", {"reason": "typo"}) == 302
    editor.reload()
    expect(editor.locator(".messagelist")).to_have_text(
        "You may not publish a change without review."
    )
    review_url = f"{base}/learn/{article.slug}/review/"
    assert forced_post(editor, review_url, {"decision": "sign_off", "digest": "x"}) == 409
    assert "seven hours" in Article.objects.get(pk=article.pk).body
    assert_accessible(editor, within=".review-panel")
    editor.screenshot(path=str(tmp_path / f"edit-{size}.png"), full_page=False)

    editor.get_by_label("Reviewer").select_option(label="Renata Osei-Lindqvist, MD")
    editor.get_by_role("button", name="Request medical review").click()
    expect(editor.locator(".messagelist")).to_have_text(
        "Review requested from Renata Osei-Lindqvist, MD."
    )

    asked = smtp_sink.wait_for(1)[0]
    assert asked.envelope_to == ["renata@halftime.example"]
    link = re.search(r"https?://\S+/review/", asked.text).group(0)
    assert link == review_url

    reviewer = signed_in(browser, base, size, "renata", PASSWORD)
    reviewer.goto(link)
    banner = reviewer.get_by_role("region", name="Waiting for review")
    expect(banner).to_contain_text("Asked of Renata Osei-Lindqvist, MD")
    expect(reviewer.locator(".prose")).to_contain_text("seven to nine hours")
    assert_accessible(reviewer)
    assert fits(reviewer)
    reviewer.screenshot(path=str(tmp_path / f"review-{size}.png"), full_page=False)
    reviewer.get_by_role("link", name="What changed since the signed-off text").click()
    expect(reviewer.locator(".diff ins")).to_contain_text("to nine")
    reviewer.go_back()
    reviewer.get_by_label("Comment").fill("Matches the 2023 consensus.")
    reviewer.get_by_role("button", name="Sign off this text").click()
    expect(reviewer.get_by_role("region", name="Signed off")).to_contain_text(
        "Renata Osei-Lindqvist, MD signed off this text on"
    )

    reader = browser.new_context(**SIZES[size]).new_page()
    reader.goto(f"{base}/learn/{article.slug}/")
    expect(reader.locator(".prose")).to_contain_text("seven to nine hours")
    today = timezone.localdate()
    expect(reader.locator(".review-line")).to_contain_text(
        "Medically reviewed by Renata Osei-Lindqvist, MD"
    )
    expect(reader.locator(".article-dates")).to_contain_text(
        f"Medically reviewed {today.strftime('%B %-d, %Y')}"
    )
    data = json.loads(reader.locator('script[type="application/ld+json"]').text_content())
    page_data = data[0] if isinstance(data, list) else data
    assert page_data["lastReviewed"] == today.isoformat()
    assert page_data["reviewedBy"]["name"] == "Renata Osei-Lindqvist"
    told = smtp_sink.wait_for(2)[1]
    assert told.envelope_to == ["eddie@halftime.example"]
    assert "Matches the 2023 consensus." in told.text


@pytest.mark.parametrize("size", SIZES)
def test_a_returned_change_shows_the_reviewer_s_comment_to_its_editor(
    live_server, settings, browser: Browser, people, assert_accessible, size
):
    settings.SITE_URL = live_server.url
    article = ArticleFactory(title="Zinc and testosterone", slug="zinc")
    base = live_server.url
    editor = signed_in(browser, base, size, "eddie", PASSWORD)
    editor.goto(f"{base}/admin/articles/article/{article.pk}/change/")
    change_body(editor, "## Zinc\n\nZinc doubles testosterone.\n")
    editor.get_by_role("button", name="Request medical review").click()

    reviewer = signed_in(browser, base, size, "renata", PASSWORD)
    reviewer.goto(f"{base}/learn/zinc/review/")
    # Returning needs a comment: the page says so and keeps the text waiting.
    reviewer.get_by_role("button", name="Return with comment").click()
    expect(reviewer.get_by_role("alert")).to_have_text(
        "Say what needs changing: the comment goes to the editor."
    )
    reviewer.get_by_label("Comment").fill("No trial shows this in men with normal zinc.")
    reviewer.get_by_role("button", name="Return with comment").click()
    expect(reviewer.locator(".review-banner")).to_contain_text("Returned to its editor by Renata")

    editor.goto(f"{base}/admin/articles/article/{article.pk}/change/")
    expect(editor.locator(".review-returned")).to_contain_text(
        "No trial shows this in men with normal zinc."
    )
    assert_accessible(editor, within=".review-panel")
    reader = browser.new_context(**SIZES[size]).new_page()
    reader.goto(f"{base}/learn/zinc/")
    expect(reader.locator(".prose")).not_to_contain_text("doubles")
