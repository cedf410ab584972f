import datetime as dt
import json
import re
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from articles.views import highlight
from tests.factories import (
    ArticleFactory,
    CategoryFactory,
    FAQFactory,
    GlossaryTermFactory,
    SourceFactory,
    StaffFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def structured_data(response) -> list[dict]:
    match = re.search(
        r'<script type="application/ld\+json">(.*?)</script>', response.content.decode(), re.S
    )
    assert match, "no JSON-LD on the page"
    return json.loads(match.group(1))


def logged_in(user) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


# --- the article page ----------------------------------------------------------------------------


def test_article_page_shows_the_anatomy_in_reading_order(client):
    related = ArticleFactory(title="Sleep and hormones")
    article = ArticleFactory(
        title="Two philosophies",
        label="PRIME",
        summary="Replace or nudge.",
        tldr="One replaces\nOne nudges",
        body="## What it is\n\nText.\n\n## How it works\n\nMore.\n\n## Who asks\n\nEven more.",
    )
    article.related.add(related)
    FAQFactory(article=article, question="Are they the same?", answer="No.")
    page = client.get(article.get_absolute_url()).content.decode()
    page = page[page.index("<main") :]
    landmarks = [
        "← Learning Center",
        "Men&#x27;s Health",
        "PRIME",
        "1 min read",
        '<h1 id="article-title">Two philosophies</h1>',
        "Replace or nudge.",
        'Medically reviewed by <a href="/learn/people/jane-doe/">Jane Doe, MD</a>',
        "<dt>Published</dt>",
        "<dt>Medically reviewed</dt>",
        "TL;DR",
        "One replaces",
        "On this page",
        '<h2 id="what-it-is">What it is</h2>',
        "Related reading",
        "Sleep and hormones",
        "Are they the same?",
        "Disclaimer",
        "Get updates",
        "Sources",
        "Testosterone Therapy in Men With Hypogonadism",
    ]
    positions = [page.index(text) for text in landmarks]
    assert positions == sorted(positions)


def test_a_source_links_to_its_doi_when_it_has_no_url(client):
    article = ArticleFactory()
    page = client.get(article.get_absolute_url()).content.decode()
    assert 'href="https://doi.org/10.1210/jc.2018-00229"' in page


def test_a_citation_is_punctuated_once(client):
    article = ArticleFactory()
    article.sources.all().delete()
    SourceFactory(
        article=article, authors="Bhasin S, et al.", title="Is it worth it?", publisher="JCEM",
        year=2018, url="https://example.org/a", doi="",
    )  # fmt: skip
    SourceFactory(article=article, authors="Snyder PJ", title="Effects of testosterone", doi="")
    page = client.get(article.get_absolute_url()).content.decode()
    assert "Bhasin S, et al. <a" in page and "Is it worth it?</a> <cite>JCEM</cite>" in page
    assert "Snyder PJ. Effects of testosterone. <cite>" in page
    assert ".." not in page.split('id="sources-heading"', 1)[1]


def test_per_article_disclaimer_overrides_the_site_default(client, settings):
    default = ArticleFactory()
    custom = ArticleFactory(disclaimer="Special disclaimer for this page.")
    assert (
        settings.ARTICLE_DISCLAIMER[:40] in client.get(default.get_absolute_url()).content.decode()
    )
    page = client.get(custom.get_absolute_url()).content.decode()
    assert "Special disclaimer for this page." in page
    assert settings.ARTICLE_DISCLAIMER[:40] not in page


def test_draft_is_404_for_anonymous_visitors_and_for_users_without_staff_rights(client):
    draft = ArticleFactory(draft=True)
    assert client.get(draft.get_absolute_url()).status_code == 404
    assert logged_in(UserFactory()).get(draft.get_absolute_url()).status_code == 404
    assert logged_in(StaffFactory()).get(draft.get_absolute_url()).status_code == 404


def test_editors_preview_a_draft_on_the_real_page_with_a_banner_and_noindex():
    draft = ArticleFactory(draft=True, title="Work in progress")
    editor = StaffFactory()
    editor.groups.add(Group.objects.get(name="Editors"))
    response = logged_in(editor).get(draft.get_absolute_url())
    assert response.status_code == 200
    page = response.content.decode()
    assert '<h1 id="article-title">Work in progress</h1>' in page
    assert "Only staff can see this page." in page
    assert '<meta name="robots" content="noindex">' in page


@pytest.mark.django_db(transaction=True)  # the cache moves on when an edit commits
def test_scheduled_article_is_404_until_its_publish_time_then_public(client):
    article = ArticleFactory(publish_at=timezone.now() + dt.timedelta(hours=1))
    assert client.get(article.get_absolute_url()).status_code == 404
    assert article.title not in client.get("/learn/").content.decode()
    article.publish_at = timezone.now() - dt.timedelta(seconds=1)
    article.save()
    assert client.get(article.get_absolute_url()).status_code == 200
    assert article.title in client.get("/learn/").content.decode()


def test_changed_slug_answers_301_from_the_old_address(staff_client, client):
    article = ArticleFactory(slug="old-address")
    source = article.sources.get()
    data = {
        "title": article.title,
        "slug": "new-address",
        "category": article.category_id,
        "summary": article.summary,
        "tldr": article.tldr,
        "body": article.body,
        "status": "published",
        "publish_at_0": "2026-01-01",
        "publish_at_1": "09:00:00",
        "author": article.author_id,
        "reviewer": article.reviewer_id,
        "last_reviewed": str(article.last_reviewed),
        "next_review_due": str(article.next_review_due),
        "faqs-TOTAL_FORMS": "0",
        "faqs-INITIAL_FORMS": "0",
        "sources-TOTAL_FORMS": "1",
        "sources-INITIAL_FORMS": "1",
        "updates-TOTAL_FORMS": "0",
        "updates-INITIAL_FORMS": "0",
        "sources-0-id": article.sources.get().pk,
        "sources-0-article": article.pk,
        **{
            f"sources-0-{name}": getattr(source, name)
            for name in ("title", "authors", "publisher", "year", "doi")
        },
        "sources-0-position": "0",
    }
    response = staff_client.post(f"/admin/articles/article/{article.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    redirect = client.get("/learn/old-address/")
    assert redirect.status_code == 301
    assert redirect["Location"] == "/learn/new-address/"
    assert client.get("/learn/new-address/").status_code == 200


def test_old_slug_of_a_draft_does_not_reveal_it(client):
    article = ArticleFactory(draft=True, slug="secret-new")
    article.remember_slug("secret-old")
    assert client.get("/learn/secret-old/").status_code == 404


# --- search engines ----------------------------------------------------------------------------


def test_article_has_title_description_canonical_open_graph_and_twitter_tags(client, settings):
    article = ArticleFactory(title="Reading a lab report", meta_description="How to read labs.")
    page = client.get(article.get_absolute_url()).content.decode()
    url = f"{settings.SITE_URL}/learn/{article.slug}/"
    assert "<title>Reading a lab report · Halftime Health</title>" in page
    assert '<meta name="description" content="How to read labs.">' in page
    assert f'<link rel="canonical" href="{url}">' in page
    assert f'<meta property="og:url" content="{url}">' in page
    assert '<meta property="og:title" content="Reading a lab report">' in page
    assert '<meta name="twitter:card" content="summary_large_image">' in page
    assert f'<meta property="og:image" content="{url}share.png">' in page


def test_json_ld_describes_a_medically_reviewed_page_its_faq_and_breadcrumbs(client, settings):
    article = ArticleFactory(title="TRT basics")
    FAQFactory(article=article, question="Is it lifelong?", answer="Often.")
    page, breadcrumbs, faq = structured_data(client.get(article.get_absolute_url()))
    url = f"{settings.SITE_URL}/learn/{article.slug}/"
    assert page["@type"] == ["Article", "MedicalWebPage"]
    assert page["@context"] == "https://schema.org"
    assert page["url"] == url and page["name"] == "TRT basics"
    assert page["reviewedBy"] == {
        "@type": "Person",
        "@id": f"{settings.SITE_URL}/learn/people/jane-doe/#person",
        "name": "Jane Doe",
        "url": f"{settings.SITE_URL}/learn/people/jane-doe/",
        "honorificSuffix": "MD",
    }
    assert page["lastReviewed"] == article.last_reviewed.isoformat()
    assert page["author"]["name"] == "Sam Writer"
    assert page["author"]["url"] == f"{settings.SITE_URL}/learn/people/sam-writer/"
    assert page["citation"][0]["url"] == "https://doi.org/10.1210/jc.2018-00229"
    assert breadcrumbs["@type"] == "BreadcrumbList"
    assert [item["name"] for item in breadcrumbs["itemListElement"]] == [
        "Learning Center",
        "Men's Health",
        "TRT basics",
    ]
    assert [item["position"] for item in breadcrumbs["itemListElement"]] == [1, 2, 3]
    assert faq == {
        "@context": "https://schema.org",
        "@type": "FAQPage",
        "mainEntity": [
            {
                "@type": "Question",
                "name": "Is it lifelong?",
                "acceptedAnswer": {"@type": "Answer", "text": "Often."},
            }
        ],
    }


def test_json_ld_cannot_be_broken_out_of_by_a_title(client):
    article = ArticleFactory(title="</script><script>alert(1)</script>")
    page = client.get(article.get_absolute_url()).content.decode()
    assert "<script>alert(1)" not in page
    assert structured_data(client.get(article.get_absolute_url()))[0]["name"] == article.title


def test_sitemap_lists_public_articles_topics_and_pages_only(client):
    live = ArticleFactory(slug="live-one")
    ArticleFactory(slug="future-one", publish_at=timezone.now() + dt.timedelta(days=1))
    ArticleFactory(slug="draft-one", draft=True)
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locations = [loc.text for loc in ET.fromstring(response.content).findall(".//s:loc", ns)]
    assert "http://localhost/learn/live-one/" in locations
    assert "http://localhost/learn/topic/mens-health/" in locations
    assert "http://localhost/learn/" in locations
    assert "http://localhost/learn/glossary/" in locations
    assert not any("future-one" in loc or "draft-one" in loc for loc in locations)
    lastmod = ET.fromstring(response.content).find(
        ".//s:url[s:loc='http://localhost/learn/live-one/']/s:lastmod", ns
    )
    assert lastmod.text == timezone.localtime(live.date_modified).date().isoformat()


def test_feed_has_the_latest_public_articles_newest_first(client):
    older = ArticleFactory(title="Older", publish_at=timezone.now() - dt.timedelta(days=3))
    newer = ArticleFactory(title="Newer", summary="Fresh summary.")
    ArticleFactory(title="Not yet", publish_at=timezone.now() + dt.timedelta(days=1))
    ArticleFactory(title="Draft", draft=True)
    response = client.get("/learn/feed/")
    assert response["Content-Type"].startswith("application/rss+xml")
    items = ET.fromstring(response.content).findall("./channel/item")
    assert [item.findtext("title") for item in items] == ["Newer", "Older"]
    assert items[0].findtext("link") == f"http://localhost{newer.get_absolute_url()}"
    assert items[0].findtext("description") == "Fresh summary."
    assert items[1].findtext("category") == "Men's Health"
    assert older.get_absolute_url() in items[1].findtext("link")


@pytest.mark.django_db(transaction=True)
def test_a_feed_reader_shows_a_title_and_summary_as_text_never_as_markup(live_server):
    ArticleFactory(title="Sleep <b>and</b> you", summary='<img src=x onerror="alert(1)"> & more')
    with urllib.request.urlopen(f"{live_server.url}/learn/feed/") as response:
        item = ET.fromstring(response.read()).find("./channel/item")
    # What a reader renders as HTML: the markup's characters, escaped.
    assert item.findtext("title") == "Sleep &lt;b&gt;and&lt;/b&gt; you"
    summary = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; more"
    assert item.findtext("description") == summary


def test_robots_txt_points_at_the_sitemap_and_does_not_name_the_admin_path(client, settings):
    body = client.get("/robots.txt").content.decode()
    assert "admin" not in body
    assert f"Sitemap: {settings.SITE_URL}/sitemap.xml" in body


# --- search ---------------------------------------------------------------------------------------


@pytest.mark.postgresql  # full-text ranking and stemming
def test_search_ranks_title_matches_above_body_matches_and_highlights_them(client):
    body_only = ArticleFactory(
        title="Sleep basics", body="A note that mentions hematocrit once in passing."
    )
    title_match = ArticleFactory(
        title="Hematocrit on testosterone therapy",
        summary="Why hematocrit is watched.",
        body="Hematocrit is the share of blood made of red cells; clinicians watch hematocrit.",
    )
    ArticleFactory(title="Unrelated", body="Nothing to see.")
    ArticleFactory(title="Hematocrit draft", draft=True)
    response = client.get("/learn/search/", {"q": "hematocrit"})
    results = list(response.context["results"])
    assert results == [title_match, body_only]
    page = response.content.decode()
    assert "<mark>hematocrit</mark>" in page.lower()
    assert "2 results for “hematocrit”." in page


def found(client, query: str) -> list:
    return list(client.get("/learn/search/", {"q": query}).context["results"])


def test_search_ranks_a_title_match_first_on_either_database(client):
    days_ago = lambda n: timezone.now() - dt.timedelta(days=n)  # noqa: E731
    in_title = ArticleFactory(title="Hematocrit on testosterone therapy", publish_at=days_ago(9))
    in_body = ArticleFactory(
        title="Sleep basics", body="It mentions hematocrit once.", publish_at=days_ago(1)
    )
    assert found(client, "hematocrit") == [in_title, in_body]


def test_an_abbreviation_the_glossary_knows_finds_its_articles(client):
    GlossaryTermFactory(
        term="testosterone therapy", aliases="TRT, testosterone replacement therapy"
    )
    about = ArticleFactory(title="Starting testosterone therapy", body="What the therapy involves.")
    ArticleFactory(title="Sleep basics", body="Nothing about hormones.")
    assert found(client, "trt") == [about]
    assert found(client, "TRT") == [about]


def test_a_search_that_finds_nothing_suggests_a_term_and_articles(client):
    GlossaryTermFactory(term="hematocrit")
    article = ArticleFactory(title="Reading a lab report")
    page = client.get("/learn/search/", {"q": "hematokrit"}).content.decode()
    assert "0 results for “hematokrit”." in page
    assert 'Did you mean <a href="/learn/search/?q=hematocrit">hematocrit</a>?' in page
    assert f'href="{article.get_absolute_url()}"' in page


@pytest.mark.postgresql  # full-text ranking and stemming
def test_search_understands_stems_and_phrases(client):
    article = ArticleFactory(title="Monitoring", body="Clinicians monitored the patients closely.")
    assert list(client.get("/learn/search/", {"q": "monitor"}).context["results"]) == [article]
    assert list(client.get("/learn/search/", {"q": '"patients closely"'}).context["results"]) == [
        article
    ]


@pytest.mark.postgresql  # full-text ranking and stemming
def test_search_snippet_escapes_what_the_article_says(client):
    ArticleFactory(body="Typing <script>alert(1)</script> about hematocrit")
    page = client.get("/learn/search/", {"q": "hematocrit"}).content.decode()
    assert "<script>alert(1)" not in page
    assert "<mark>hematocrit</mark>" in page


def test_highlight_escapes_the_snippet_and_keeps_only_its_own_marks():
    assert highlight("<b>\ue000dose\ue001</b> & more") == (
        "&lt;b&gt;<mark>dose</mark>&lt;/b&gt; &amp; more"
    )


@pytest.mark.parametrize("query", ["", "   ", "&&&", "!!!", "(", "'", "a" * 5000, "\x00"])
def test_search_never_fails_on_odd_input(client, query):
    ArticleFactory(title="Hematocrit")
    response = client.get("/learn/search/", {"q": query})
    assert response.status_code == 200


# --- listings and glossary -----------------------------------------------------------------------


def test_learning_center_shows_featured_topics_and_latest(client):
    ArticleFactory(title="A featured one", featured=True)
    ArticleFactory(title="A plain one", category=CategoryFactory(name="Sleep", slug="sleep"))
    page = client.get("/learn/").content.decode()
    assert "Featured" in page and "A featured one" in page
    assert 'href="/learn/topic/sleep/"' in page
    assert "A plain one" in page


def test_topic_page_lists_only_its_public_articles(client):
    sleep = CategoryFactory(name="Sleep", slug="sleep")
    ArticleFactory(title="In sleep", category=sleep)
    ArticleFactory(title="Elsewhere")
    page = client.get("/learn/topic/sleep/").content.decode()
    assert "In sleep" in page and "Elsewhere" not in page
    assert client.get("/learn/topic/nope/").status_code == 404


def test_glossary_lists_every_term_with_an_anchor(client):
    GlossaryTermFactory(term="HPG axis", slug="hpg-axis", definition="The hormone signal line.")
    GlossaryTermFactory(term="Hematocrit", slug="hematocrit", definition="Red-cell share.")
    page = client.get("/learn/glossary/").content.decode()
    assert '<div id="hpg-axis">' in page and "The hormone signal line." in page
    assert page.index("Hematocrit") < page.index("HPG axis")


# --- the page cache ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the cache moves on when an edit commits
def test_an_edit_shows_at_once_even_though_pages_are_cached(client):
    article = ArticleFactory(title="First title")
    assert "First title" in client.get(article.get_absolute_url()).content.decode()
    article.title = "Second title"
    article.save()
    assert "Second title" in client.get(article.get_absolute_url()).content.decode()


@pytest.mark.django_db(transaction=True)  # the cache moves on when an edit commits
def test_a_new_source_shows_at_once(client):
    article = ArticleFactory()
    client.get(article.get_absolute_url())
    SourceFactory(article=article, title="A brand-new citation")
    assert "A brand-new citation" in client.get(article.get_absolute_url()).content.decode()


def test_pages_still_render_when_the_cache_is_down(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    from django.core.cache import caches

    caches._settings = caches.settings = settings.CACHES
    try:
        article = ArticleFactory()
        assert client.get(article.get_absolute_url()).status_code == 200
    finally:
        del caches._settings


def test_search_matches_words_never_inside_another_word(client, settings):
    """On both databases (PostgreSQL's full text, the embedded default's word patterns)."""
    settings.PAGE_CACHE_SECONDS = 0
    GlossaryTermFactory(term="Erectile dysfunction", aliases="ED", slug="ed")
    GlossaryTermFactory(term="Low testosterone", aliases="low T", slug="low-t")
    ed = ArticleFactory(title="Treating erectile dysfunction", body="## Options\n\nPills work.\n")
    low = ArticleFactory(
        title="When testosterone runs low", body="## Signs\n\nLow testosterone tires.\n"
    )
    other = ArticleFactory(title="Sleep", body="## Why\n\nWhat changed in your sleep matters.\n")

    def found(q: str) -> set[str]:
        return {a.title for a in client.get("/learn/search/", {"q": q}).context["results"]}

    assert found("ED") == {ed.title}
    assert found("low t") == {low.title}
    assert found("changes") == {other.title}  # "changed": an ending English adds
    assert found("t") == set()


def test_an_over_long_search_is_trimmed_and_answered_by_the_site(client):
    response = client.get("/learn/search/", {"q": "testosterone " * 400})
    assert response.status_code == 200
    assert len(response.context["query"]) <= 200
