"""The one page cache: whole Learning Center pages for anonymous visitors, never stale."""

import datetime as dt
import shutil
import threading
import time
import urllib.request

import pytest
import redis
from django.conf import settings
from django.db import connections, transaction
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from tests.conftest import database_url
from tests.factories import ArticleFactory, GlossaryTermFactory
from tests.mailsink import free_port
from tests.processes import ROOT, Process, gunicorn, wait_until
from waitlist.models import ConsentRecord
from waitlist.people import consent

# Edits move the cache on when they commit: these tests commit, as requests do.
pytestmark = pytest.mark.django_db(transaction=True)


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None


def cached_pages() -> list[bytes]:
    return redis.Redis.from_url(settings.REDIS_URL).keys("*learn:page:*")


def test_an_anonymous_page_is_kept_once_and_served_with_a_short_public_max_age(client):
    article = ArticleFactory(title="Kept once")
    first = client.get(article.get_absolute_url())
    second = client.get(article.get_absolute_url())
    assert second.content == first.content and "Kept once" in second.content.decode()
    assert len(cached_pages()) == 1
    for response in (first, second):
        assert set(response["Cache-Control"].split(", ")) == {"public", "max-age=60"}


def test_query_strings_and_cookies_that_do_not_change_the_page_make_no_new_entry(client):
    article = ArticleFactory()
    url = article.get_absolute_url()
    for number in range(1, 1001):
        assert client.get(f"{url}?x={number}&utm_source=s{number}").status_code == 200
    for number in range(1000):
        visitor = Client(HTTP_HOST="localhost")
        visitor.cookies[f"c{number}"] = str(number * 7919)
        assert visitor.get(url).status_code == 200
    assert len(cached_pages()) == 1


def test_a_listing_keeps_one_entry_per_page_it_reads(client):
    ArticleFactory.create_batch(21)
    first, second = (
        page(client, "/learn/topic/mens-health/"),
        page(client, "/learn/topic/mens-health/?page=2"),
    )
    assert first != second
    page(client, "/learn/topic/mens-health/?page=2&ref=abc")
    assert len(cached_pages()) == 2


def test_staff_and_previews_bypass_the_cache_and_are_never_stored(staff_client):
    draft = ArticleFactory(draft=True)
    article = ArticleFactory()
    for url in (draft.get_absolute_url(), article.get_absolute_url()):
        response = staff_client.get(url)
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert cached_pages() == []


def test_a_new_consent_wording_appears_at_once_on_every_page_and_in_the_next_record(
    client, monkeypatch
):
    articles = ArticleFactory.create_batch(2)
    old_words = escape(consent.current_text())  # as the page writes it
    for article in articles:
        assert old_words in page(client, article.get_absolute_url())
    new_words = "Email me about the launch. One click unsubscribes me, any time."
    monkeypatch.setitem(consent.VERSIONS[consent.Purpose.LIST], "2026-12", new_words)
    monkeypatch.setitem(consent.CURRENT, consent.Purpose.LIST, "2026-12")

    for url in [a.get_absolute_url() for a in articles] + ["/waitlist/"]:
        shown = page(client, url)
        assert escape(new_words) in shown and old_words not in shown, url
    client.post("/waitlist/", {"email": "reader@example.com", "placement": "inline"})
    record = ConsentRecord.objects.get()
    assert (record.consent_version, record.consent_text) == ("2026-12", new_words)


def test_editing_a_glossary_term_in_admin_shows_on_every_article_that_uses_it(client, staff_client):
    term = GlossaryTermFactory(term="SHBG", slug="shbg", definition="A carrier protein.")
    articles = [ArticleFactory(body=f"Levels of SHBG vary, part {n}.") for n in range(2)]
    for article in articles:
        assert "in plain English: A carrier protein" in page(client, article.get_absolute_url())
    response = staff_client.post(
        f"/admin/articles/glossaryterm/{term.pk}/change/",
        {"term": "SHBG", "slug": "shbg", "definition": "It carries hormones.", "aliases": ""},
    )
    assert response.status_code == 302
    for article in articles:
        shown = page(client, article.get_absolute_url())
        assert "in plain English: It carries hormones" in shown
        assert "A carrier protein" not in shown


def test_a_page_read_while_an_edit_was_still_uncommitted_is_not_kept_as_current(client):
    article = ArticleFactory(title="Before the edit")
    seen = []

    def read_meanwhile():
        seen.append(page(Client(HTTP_HOST="localhost"), article.get_absolute_url()))
        connections.close_all()

    with transaction.atomic():
        article.title = "After the edit"
        article.save()
        reader = threading.Thread(target=read_meanwhile)
        reader.start()
        reader.join(30)
    assert "Before the edit" in seen[0]  # what the database held then
    assert "After the edit" in page(client, article.get_absolute_url())


def test_a_scheduled_article_appears_in_listings_when_its_time_comes(client):
    ArticleFactory(title="Already out")
    soon = timezone.now() + dt.timedelta(seconds=2)
    ArticleFactory(title="Coming soon", publish_at=soon)
    assert "Coming soon" not in page(client, "/learn/")
    time.sleep(max(0, (soon - timezone.now()).total_seconds()) + 0.2)
    assert "Coming soon" in page(client, "/learn/")


def test_a_template_change_reaches_an_anonymous_reader_after_a_restart(tmp_path):
    """A deploy: the same database and cache, new templates, the server restarted, no cache
    command run."""
    article = ArticleFactory(title="Deployed")
    site = tmp_path / "site"
    for name in ("halftime", "articles", "waitlist", "templates", "static", "manage.py"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, site / name)
    url = f"http://127.0.0.1:{free_port()}{article.get_absolute_url()}"

    def serve() -> Process:
        port = url.split(":")[2].split("/")[0]
        server = gunicorn({"DATABASE_URL": database_url()}, port=int(port), cwd=site)
        wait_until(lambda: fetch(url) is not None, timeout=30, message=server.output())
        return server

    server = serve()
    assert "Deployed" in fetch(url) and "A new line" not in fetch(url)
    server.stop()
    template = site / "templates" / "articles" / "article.html"
    template.write_text(template.read_text().replace("</article>", "<p>A new line</p></article>"))
    server = serve()
    try:
        assert "A new line" in fetch(url)
    finally:
        server.stop()


def test_the_page_cache_can_be_turned_off(client, settings):
    settings.PAGE_CACHE_SECONDS = 0
    article = ArticleFactory()
    page(client, article.get_absolute_url())
    assert cached_pages() == []
