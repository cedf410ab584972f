"""Real-browser fixtures: one Chromium for the session, axe-core for accessibility checks."""

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
SIZES = {"phone": PHONE, "desktop": DESKTOP}
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"The browser tests need Debian's Chromium at {CHROMIUM}: run `python3 dev.py test` "
            "(it installs it) or `apt-get install chromium`.",
            pytrace=False,
        )
    # Playwright's sync API keeps an asyncio loop running in this thread for as long as it is
    # started, which Django takes for async code: it would refuse every ORM call after this.
    with pytest.MonkeyPatch.context() as env, sync_playwright() as playwright:
        env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        # As long as the pages' actions may take: on a loaded machine a server's answer (the
        # preview of what was typed, a worker's count) can take more than the default 5 s.
        expect.set_options(timeout=10_000)
        yield browser
        browser.close()


def forced_post(page: Page, url: str, form: dict) -> int:
    """A POST the page does not offer, sent with the session and its CSRF token."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        url, form=form, headers={"X-CSRFToken": token, "Referer": url}, max_redirects=0
    )
    return response.status


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(**PHONE)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def format_violations(violations: list[dict]) -> str:
    lines = [f"axe-core found {len(violations)} accessibility violation(s):"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        lines.extend(f"    {' >>> '.join(node['target'])}" for node in violation["nodes"])
    return "\n".join(lines)


@pytest.fixture
def assert_accessible() -> Callable[..., None]:
    """Run axe-core's WCAG 2.0/2.1 A and AA rules on the page as it stands (or the part of it
    `within` selects: in admin, what this project drew); fail on any."""

    def check(page: Page, *, within: str | None = None) -> None:
        page.evaluate(AXE_SCRIPT)
        context = {"include": [within]} if within else None
        results = page.evaluate(
            "([context, options]) => axe.run(context || document, options)",
            [context, AXE_OPTIONS],
        )
        if results["violations"]:
            pytest.fail(format_violations(results["violations"]), pytrace=False)

    return check


def learning_center_groups() -> None:
    """The Editors and Medical reviewers groups as the migrations leave them (a transactional
    test empties every table, the migrations' rows too): tests/articles/test_admin.py checks the
    same sets on the migrated database."""
    module = importlib.import_module("articles.migrations.0007_review_sign_off")
    module.create_reviewers_group(apps, None)
    editors, _ = Group.objects.get_or_create(name="Editors")
    editors.permissions.set(
        Permission.objects.filter(content_type__app_label="articles")
        .exclude(codename__in=["publish_minor_edit", "sign_off"])
        .exclude(content_type__model__in=["articleversion", "signoff", "reviewemail"])
        .exclude(codename__in=["add_searchmiss", "change_searchmiss", "add_finding",
                               "delete_finding"])
        .exclude(content_type__model="articlefeedback", codename__in=[
            "add_articlefeedback", "change_articlefeedback", "delete_articlefeedback"])
    )  # fmt: skip


def signed_in(browser: Browser, base: str, size: str, username: str, password: str) -> Page:
    """A new browser at `size` ("phone" or "desktop"), signed in to admin as `username`."""
    page = browser.new_context(**SIZES[size]).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#site-name")).to_be_visible()
    return page


def mail_to(smtp_sink, address: str, subject: str):
    """The first email to `address` with `subject`, waiting for it to arrive."""
    for _ in range(300):
        found = [m for m in smtp_sink.to(address) if m.message["Subject"] == subject]
        if found:
            return found[0]
        smtp_sink.wait_for(len(smtp_sink.messages) + 1, timeout=30)
    raise AssertionError(f"no {subject!r} to {address}")


def fits(page: Page) -> bool:
    """Nothing wider than the screen: no sideways scrolling of the whole page."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
