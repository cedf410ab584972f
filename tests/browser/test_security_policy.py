"""Every page works under the Content-Security-Policy: no inline script or style is refused."""

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page

from tests.factories import ArticleFactory, StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def violations(page: Page, url: str) -> list[str]:
    seen = []
    page.on("console", lambda message: seen.append(message.text))
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return [text for text in seen if "Content Security Policy" in text]


def test_public_pages_run_under_the_policy_without_violations(live_server, phone_page: Page):
    article = ArticleFactory(body="## One\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    for path in ["/", "/learn/", article.get_absolute_url(), "/waitlist/", "/learn/glossary/"]:
        assert violations(phone_page, live_server.url + path) == [], path


def test_admin_pages_run_under_the_policy_without_violations(live_server, browser):
    StaffFactory(username="boss", is_superuser=True, password="correct horse battery staple")
    page = browser.new_page()
    assert violations(page, f"{live_server.url}/admin/login/") == []
    page.fill("#id_username", "boss")
    page.fill("#id_password", "correct horse battery staple")
    page.click("input[type=submit]")
    for path in ["/admin/", "/admin/articles/article/add/", "/admin/waitlist/campaign/add/"]:
        assert violations(page, live_server.url + path) == [], path
    page.close()


def test_two_factor_sign_in_works_in_a_browser_under_the_policy(live_server, browser, settings):
    settings.ADMIN_OTP_REQUIRED = True
    user = StaffFactory(username="boss", is_superuser=True, password="correct horse battery staple")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    page = browser.new_page()
    assert violations(page, f"{live_server.url}/admin/") == []
    page.fill("#id_username", "boss")
    page.fill("#id_password", "correct horse battery staple")
    page.fill("#id_otp_token", f"{TOTP(device.bin_key, step=30, t0=0, digits=6).token():06d}")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    assert page.locator("h1").inner_text() == "Site administration"
    page.close()
