"""The waitlist form on another site: a page served from a second local server (another
origin) joins through the plain snippet, and through fetch when its origin is listed; the
browser's CORS check refuses fetch's answer to a page whose origin is not."""

import html
import http.server
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect

from waitlist.models import Subscriber
from waitlist.people import embed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def other_site(tmp_path: Path):
    """A static site on its own port: an origin other than the live server's."""

    def serve(html: str) -> str:
        (tmp_path / "index.html").write_text(
            f"<!doctype html><html lang='en'><body>{html}</body></html>"
        )
        return f"http://127.0.0.1:{server.server_address[1]}/index.html"

    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield serve
    server.shutdown()


def snippet_on_other_site(settings, live_server, other_site, *, with_script: bool) -> str:
    settings.SITE_URL = live_server.url
    return other_site(embed.snippet(with_script=with_script))


def test_the_plain_snippet_joins_from_another_site(live_server, settings, other_site, phone_page):
    url = snippet_on_other_site(settings, live_server, other_site, with_script=False)
    page = phone_page
    page.goto(url)
    page.get_by_label("Email address").fill("from.elsewhere@example.com")
    page.get_by_role("button", name="Join the Halftime Health waitlist").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    person = Subscriber.objects.get()
    assert (person.email, person.placement) == ("from.elsewhere@example.com", "embed")
    assert person.referrer_url.startswith(url.rsplit("/", 1)[0])
    assert person.consents.get().consent_text in html.unescape(embed.snippet(with_script=False))


def test_a_listed_origin_joins_through_fetch_and_reads_the_answer(
    live_server, settings, other_site, phone_page
):
    url = snippet_on_other_site(settings, live_server, other_site, with_script=True)
    settings.WAITLIST_ALLOWED_ORIGINS = [url.split("/index.html")[0]]
    page = phone_page
    page.goto(url)
    page.get_by_label("Email address").fill("listed@example.com")
    page.get_by_role("button", name="Join the Halftime Health waitlist").click()
    expect(page.get_by_role("status")).to_contain_text("Check your inbox")
    assert page.url == url  # answered in place
    person = Subscriber.objects.get()
    assert (person.email, person.placement, person.referrer_url) == (
        "listed@example.com",
        "embed",
        url,
    )


def test_an_origin_not_listed_cannot_read_the_answer(live_server, settings, other_site, phone_page):
    url = snippet_on_other_site(settings, live_server, other_site, with_script=True)
    settings.WAITLIST_ALLOWED_ORIGINS = ["https://somewhere-else.example"]
    page = phone_page
    page.goto(url)
    outcome = page.evaluate(
        """url => fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                body: JSON.stringify({email: "refused@example.com"})})
           .then(() => "read", error => "refused: " + error.name)""",
        f"{live_server.url}/api/waitlist/",
    )
    assert outcome == "refused: TypeError"  # the preflight is answered 403: the browser stops
    assert not Subscriber.objects.filter(email="refused@example.com").exists()
