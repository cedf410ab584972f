"""Evidence a reader can weigh, in a real browser: graded sources with their key and in the
JSON-LD, the disclosures, and "Was this helpful? No" with a comment reaching the editors' queue
and the dashboard, with nothing kept about the reader."""

import json

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Browser, expect

from articles.models import ArticleFeedback, Finding
from tests.factories import ArticleFactory, PersonFactory, SourceFactory, StaffFactory, sign
from waitlist.tasks import recount_dashboard

from .conftest import PHONE, fits, learning_center_groups, signed_in

pytestmark = pytest.mark.browser

PASSWORD = "a password long enough for admin"
# The properties schema.org defines for the types the article's JSON-LD uses (schema.org 29).
SCHEMA = {
    "MedicalScholarlyArticle": {"name", "author", "publisher", "datePublished", "url",
                                "publicationType", "description", "sameAs"},
    "CreativeWork": {"name", "author", "publisher", "datePublished", "url", "description"},
}  # fmt: skip


def schema_problems(citations: list[dict]) -> list[str]:
    problems = []
    for n, item in enumerate(citations):
        kind = item.get("@type")
        if kind not in SCHEMA:
            problems.append(f"citation {n}: @type {kind!r} is not one used here")
            continue
        problems += [
            f"citation {n}: {kind} has no property {key!r}"
            for key in item
            if key != "@type" and key not in SCHEMA[kind]
        ]
        problems += [
            f"citation {n}: {key} must be text"
            for key in ("name", "publicationType", "description")
            if key in item and not isinstance(item[key], str)
        ]
    return problems


@pytest.fixture
def article(transactional_db):
    author = PersonFactory(
        name="Sam Writer", credentials="", funding="Employed by Halftime Health."
    )
    reviewer = PersonFactory(
        name="Ada Okafor", funding="Paid for each review.", conflicts="Holds shares in Pharmaco."
    )
    article = ArticleFactory(
        title="Sleep and testosterone",
        author=author,
        reviewer=reviewer,
        mentions_services=True,
        ai_used=False,
        with_source=False,
    )
    SourceFactory(article=article, title="Testosterone therapy guideline", kind="guideline",
                  strength="A", position=0)  # fmt: skip
    SourceFactory(article=article, title="A sleep restriction trial", kind="trial", strength="B",
                  position=1)  # fmt: skip
    sign(article)
    return article


@pytest.fixture
def staff(transactional_db):
    learning_center_groups()
    editor = StaffFactory(username="eddie")
    editor.set_password(PASSWORD)
    editor.save()
    editor.groups.add(Group.objects.get(name="Editors"))
    boss = StaffFactory(username="boss", is_superuser=True)
    boss.set_password(PASSWORD)
    boss.save()


def test_a_reader_weighs_the_evidence_and_says_it_did_not_help(
    live_server, article, staff, worker, browser: Browser, assert_accessible
):
    recount_dashboard()  # the dashboard as it stood before the reader answered
    reader = browser.new_context(**PHONE).new_page()
    reader.set_default_timeout(15_000)
    reader.goto(live_server.url + article.get_absolute_url())

    sources = reader.get_by_role("region", name="Sources")
    expect(sources.locator("li").nth(0)).to_contain_text("Practice Guideline · evidence A")
    expect(sources.locator("li").nth(1)).to_contain_text("Randomized Controlled Trial · evidence B")
    key = sources.locator(".evidence-key")
    expect(key.locator("dt")).to_contain_text(["A", "B"])
    expect(key.locator("dd")).to_contain_text(
        ["Consistent, good-quality evidence from people",
         "Inconsistent or limited evidence from people"]
    )  # fmt: skip
    data = json.loads(reader.locator('script[type="application/ld+json"]').first.text_content())
    page_data = data[0] if isinstance(data, list) else data
    assert page_data["@context"] == "https://schema.org"
    citations = page_data["citation"]
    assert schema_problems(citations) == []
    assert [(c["publicationType"], c["description"]) for c in citations] == [
        ("Practice Guideline",
         "Strength of evidence A: consistent, good-quality evidence from people"),
        ("Randomized Controlled Trial",
         "Strength of evidence B: inconsistent or limited evidence from people"),
    ]  # fmt: skip

    disclosures = reader.get_by_role("region", name="Disclosures")
    expect(disclosures).to_contain_text(
        "Written by: Sam Writer Employed by Halftime Health. Conflicts of interest: None"
    )
    expect(disclosures).to_contain_text(
        "Paid for each review. Conflicts of interest: Holds shares in Pharmaco."
    )
    expect(disclosures).to_contain_text("This article mentions treatments or services")
    expect(disclosures).to_contain_text("No AI tool was used")
    expect(disclosures.get_by_role("link", name="corrections policy")).to_have_attribute(
        "href", "/learn/editorial-policy/#corrections"
    )
    assert_accessible(reader)
    assert fits(reader)

    feedback = reader.get_by_role("region", name="Was this article helpful?")
    feedback.get_by_label("Anything we should know").fill("The shift-work table is hard to read.")
    feedback.get_by_role("button", name="No").click()
    expect(reader.get_by_role("heading", name="Thank you")).to_be_visible()

    counts = ArticleFeedback.objects.get(article=article)
    assert (counts.helpful, counts.not_helpful) == (0, 1)
    finding = Finding.objects.get()
    assert (finding.kind, finding.detail) == (
        "not_helpful",
        "The shift-work table is hard to read.",
    )
    agent = reader.evaluate("navigator.userAgent")
    kept = " ".join(
        str(value)
        for row in [*ArticleFeedback.objects.values(), *Finding.objects.values()]
        for value in row.values()
    )
    assert "127.0.0.1" not in kept and agent not in kept and "HeadlessChrome" not in kept

    editor = signed_in(browser, live_server.url, "desktop", "eddie", PASSWORD)
    editor.goto(f"{live_server.url}/admin/articles/article/?review=findings")
    editor.get_by_role("link", name="1 finding to look at").click()
    expect(editor.locator("#result_list")).to_contain_text("The shift-work table is hard to read.")
    expect(editor.locator("#result_list")).to_contain_text("A reader found it unhelpful")

    boss = signed_in(browser, live_server.url, "desktop", "boss", PASSWORD)
    boss.goto(f"{live_server.url}/admin/waitlist/subscriber/dashboard/")
    table = boss.get_by_role("region", name="Reader feedback by article")
    expect(table).to_be_visible()
    expect(table).not_to_contain_text("Sleep and testosterone")
    boss.get_by_role("button", name="Count now").click()
    expect(boss.get_by_text("Counting the figures again: reload in a moment.")).to_be_visible()
    row = table.locator("tr", has_text="Sleep and testosterone")
    for _ in range(30):
        if row.count():
            break
        boss.wait_for_timeout(500)
        boss.reload()
    expect(row.locator("td")).to_have_text(["0", "1", "0", "1"])
