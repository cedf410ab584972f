"""The article body's editor in a real browser: Markdown typed into the body shows in the preview
beside it, rendered and sanitized by the server, before anything is saved, under the
Content-Security-Policy, on a desktop and a phone."""

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import Browser, Route, expect

from articles.models import Article
from tests.browser.conftest import PHONE
from tests.factories import GlossaryTermFactory, StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
SIZES = {"phone": PHONE, "desktop": {"viewport": {"width": 1280, "height": 800}}}
PREVIEW_URL = "**/articles/article/preview/"
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sample}`);
});
"""
BODY = (
    "## Why sleep matters\n\n"
    "- Seven hours\n"
    "- The same wake-up time\n\n"
    "SHBG carries testosterone in the blood.\n\n"
    "<img src=x onerror=window.ran=1>\n"
)


class EditorPage:
    """The article add page, signed in as an editor, with every CSP violation recorded."""

    def __init__(self, browser: Browser, base: str, size: str):
        self.context = browser.new_context(**SIZES[size])
        self.context.set_default_timeout(10_000)
        self.context.add_init_script(RECORD_VIOLATIONS)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", lambda message: self.console.append(message.text))
        self.page.goto(f"{base}/admin/login/?next=/admin/articles/article/add/")
        self.page.fill("#id_username", "editor")
        self.page.fill("#id_password", PASSWORD)
        self.page.get_by_role("button", name="Log in").click()
        expect(self.page.get_by_role("heading", name="Add article")).to_be_visible()
        self.body = self.page.get_by_role("textbox", name="Body")
        self.preview = self.page.get_by_role("region", name="Preview")
        self.status = self.page.locator(".field-body").get_by_role("status")

    def violations(self) -> list[str]:
        refused = [text for text in self.console if "Content Security Policy" in text]
        return refused + self.page.evaluate("window.cspViolations")

    def fits(self) -> bool:
        """Nothing wider than the screen: no sideways scrolling of the whole page."""
        return self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture
def editor_user() -> None:
    user = StaffFactory(username="editor")
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="articles",
            codename__in=["add_article", "change_article", "view_article"],
        )
    )


@pytest.fixture
def open_editor(live_server, browser: Browser, editor_user) -> Iterator:
    pages: list[EditorPage] = []

    def open_page(size: str) -> EditorPage:
        pages.append(EditorPage(browser, live_server.url, size))
        return pages[-1]

    yield open_page
    for page in pages:
        page.context.close()


@pytest.mark.parametrize("size", SIZES)
def test_typed_markdown_shows_rendered_in_the_preview_before_saving(
    open_editor, assert_accessible, size
):
    GlossaryTermFactory(term="SHBG", slug="shbg", definition="A protein that carries hormones.")
    editor = open_editor(size)
    expect(editor.preview).to_have_text("")

    editor.body.press_sequentially(BODY)

    expect(editor.preview.get_by_role("heading", level=2)).to_have_text("Why sleep matters")
    expect(editor.preview.get_by_role("listitem")).to_have_text(
        ["Seven hours", "The same wake-up time"]
    )
    expect(editor.preview.locator("dfn")).to_have_text("SHBG")
    expect(editor.preview).to_contain_text("(in plain English: A protein that carries hormones)")
    # Typed HTML is shown as text, never run.
    expect(editor.preview).to_contain_text("<img src=x onerror=window.ran=1>")
    assert editor.page.evaluate("window.ran") is None
    # The reading grade of what is typed, as it is typed.
    expect(editor.page.locator("[data-markdown-note]")).to_contain_text("Body reading grade")
    assert not Article.objects.exists()
    assert editor.violations() == []
    assert_accessible(editor.page, within=".field-body")
    assert editor.fits()


def test_on_a_phone_the_preview_sits_under_the_text_within_the_screen(open_editor):
    editor = open_editor("phone")
    editor.body.fill("## A heading long enough to wrap on the narrowest of phones, twice over\n")
    expect(editor.preview.get_by_role("heading", level=2)).to_be_visible()
    text, preview = editor.body.bounding_box(), editor.preview.bounding_box()
    assert preview["y"] >= text["y"] + text["height"]
    assert preview["x"] >= 0 and preview["x"] + preview["width"] <= PHONE["viewport"]["width"]
    assert editor.fits()


def test_a_late_answer_never_replaces_a_newer_one(open_editor):
    editor = open_editor("desktop")
    held: list[Route] = []

    def hold_the_first(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    editor.page.route(PREVIEW_URL, hold_the_first)
    editor.body.fill("Older")
    for _ in range(100):  # past the pause that sends it
        if held:
            break
        editor.page.wait_for_timeout(100)
    assert len(held) == 1
    editor.body.fill("Newer")
    expect(editor.preview).to_have_text("Newer")
    with editor.page.expect_response(PREVIEW_URL):
        held[0].continue_()
    editor.page.wait_for_timeout(100)
    expect(editor.preview).to_have_text("Newer")


def test_a_failed_preview_says_so_and_the_next_one_recovers(open_editor):
    editor = open_editor("desktop")
    editor.page.route(PREVIEW_URL, lambda route: route.fulfill(status=500, body="Boom"))
    editor.body.fill("Anything")
    expect(editor.status).to_have_text("Preview unavailable.")
    editor.page.unroute(PREVIEW_URL)
    editor.body.fill("Anything else")
    expect(editor.preview).to_have_text("Anything else")
    expect(editor.status).to_have_text("")
