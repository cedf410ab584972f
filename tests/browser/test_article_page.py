import pytest
from playwright.sync_api import Browser, Page, expect

from articles.models import Article
from tests.factories import (
    ArticleFactory,
    CategoryFactory,
    FAQFactory,
    GlossaryTermFactory,
    SourceFactory,
)

from .conftest import PHONE

pytestmark = pytest.mark.browser

BODY = """\
## What it is

Low testosterone, also called hypogonadism, means the body makes less of the hormone than it
needs.

### How it is diagnosed

A clinician orders two early-morning blood tests on different days.

## Fundamentals

The options differ mostly in how often you take them.

| Option | How often | What to know |
|---|---|---|
| Gel | Daily | Avoid skin contact with others until it dries. |
| Injection | Weekly | Levels rise and fall between doses. |

> **Note:** Treatment can lower fertility; say so if you plan to have children.

### Monitoring

Blood counts and hormone levels are checked every few months.
"""
GLOSS = "in plain English: When the testes make too little testosterone"


@pytest.fixture
def article(transactional_db) -> Article:
    # The term exists before the article, so saving the article marks it in the body.
    GlossaryTermFactory(
        term="Hypogonadism",
        definition="When the testes make too little testosterone.",
    )
    category = CategoryFactory(name="Hormones")
    article = ArticleFactory(
        title="Low testosterone, explained",
        slug="low-testosterone",
        category=category,
        label="Explainer",
        summary="What low testosterone is, how it is found and how it is treated.",
        tldr="It is diagnosed with two morning blood tests\nTreatment is gel or injections",
        body=BODY,
        featured=True,
        with_source=False,
    )
    SourceFactory(article=article, position=1)
    SourceFactory(
        article=article,
        position=2,
        title="Evaluation and Management of Testosterone Deficiency",
        authors="Mulhall JP, et al.",
        publisher="J Urol",
        year=2018,
        doi="",
        url="https://example.org/testosterone-deficiency",
    )
    FAQFactory(article=article, question="Does treatment affect fertility?", answer="It can.")
    FAQFactory(article=article, question="How soon does it work?", answer="Within weeks.")
    article.related.add(
        ArticleFactory(
            title="Sleep and your hormones", slug="sleep-and-hormones", category=category
        )
    )
    return article


def test_article_page_reads_well_and_is_accessible_on_a_phone(
    live_server, article, phone_page: Page, assert_accessible
):
    phone_page.goto(live_server.url + article.get_absolute_url())

    expect(phone_page.get_by_role("heading", level=1)).to_have_text(article.title)
    expect(phone_page.locator(".badge")).to_have_text("Explainer")
    expect(phone_page.get_by_text("Medically reviewed by Jane Doe, MD")).to_be_visible()
    # Folded on a phone, so the article begins on the first screen; one tap opens each.
    first_paragraph = phone_page.locator(".prose p").first
    assert first_paragraph.bounding_box()["y"] < PHONE["viewport"]["height"] - 40
    expect(phone_page.get_by_text("It is diagnosed with two morning blood tests")).to_be_hidden()
    phone_page.get_by_text("TL;DR").click()
    expect(phone_page.get_by_text("It is diagnosed with two morning blood tests")).to_be_visible()
    phone_page.locator(".toc summary").click()
    expect(phone_page.get_by_role("navigation", name="On this page")).to_be_visible()
    expect(
        phone_page.get_by_role("heading", name="Does treatment affect fertility?")
    ).to_be_visible()
    sources = phone_page.get_by_role("region", name="Sources").get_by_role("listitem")
    expect(sources).to_have_count(2)
    expect(sources.first).to_be_visible()
    expect(phone_page.get_by_role("link", name="Sleep and your hormones")).to_be_visible()
    expect(phone_page.get_by_text(GLOSS)).to_be_visible()
    # Reflow (WCAG 1.4.10), which axe does not check: only the table may scroll sideways.
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]
    phone_page.screenshot(path="/tmp/article-phone.png", full_page=True)
    assert_accessible(phone_page)


@pytest.mark.parametrize(
    "path",
    ["/learn/", "/learn/glossary/", "/learn/search/?q=testosterone"],
    ids=["index", "glossary", "search"],
)
def test_learning_center_pages_are_accessible(
    live_server, article, phone_page: Page, assert_accessible, path
):
    phone_page.goto(live_server.url + path)

    expect(phone_page.get_by_role("heading", level=1)).to_be_visible()
    expect(phone_page.locator("main")).to_contain_text(
        "Hypogonadism" if "glossary" in path else article.title
    )
    assert_accessible(phone_page)


def test_article_page_is_fully_readable_without_javascript(live_server, article, browser: Browser):
    context = browser.new_context(java_script_enabled=False, **PHONE)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto(live_server.url + article.get_absolute_url())

        expect(page.get_by_text("means the body makes less of the hormone")).to_be_visible()
        expect(page.get_by_role("table")).to_be_visible()
        expect(page.get_by_text(GLOSS)).to_be_visible()
        expect(page.get_by_role("heading", name="How soon does it work?")).to_be_visible()
        expect(page.get_by_text("Within weeks.")).to_be_visible()
        page.get_by_text("TL;DR").click()  # folded without JavaScript too; a tap opens it
        expect(page.get_by_text("Treatment is gel or injections")).to_be_visible()
    finally:
        context.close()


def test_on_a_wide_screen_the_short_version_and_the_contents_are_open(
    live_server, article, browser: Browser
):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(live_server.url + article.get_absolute_url())
        expect(page.get_by_text("Treatment is gel or injections")).to_be_visible()
        expect(page.get_by_role("navigation", name="On this page")).to_be_visible()
    finally:
        context.close()


def test_first_tab_shows_the_skip_link_on_screen(live_server, article, phone_page: Page):
    phone_page.goto(live_server.url + article.get_absolute_url())

    phone_page.keyboard.press("Tab")

    focused = phone_page.locator(":focus")
    expect(focused).to_have_text("Skip to content")
    expect(focused).to_have_attribute("href", "#main")
    box = focused.bounding_box()
    viewport = phone_page.viewport_size
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], box
    assert focused.evaluate("el => getComputedStyle(el).outlineStyle") != "none"
