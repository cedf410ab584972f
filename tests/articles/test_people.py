"""Authors and medical reviewers as people with pages of their own."""

import datetime as dt
import json
import re

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from articles.importer import import_articles
from articles.models import Article, Person
from tests.articles.test_import import GOOD, problems_of, write
from tests.factories import ArticleFactory, PersonFactory

pytestmark = pytest.mark.django_db


def json_ld(page: str) -> list:
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    return [json.loads(block) for block in blocks]


def test_a_reviewer_s_page_lists_what_they_reviewed_and_names_them_for_search_engines(
    client, settings
):
    reviewer = PersonFactory(
        name="Ada Okafor",
        credentials="MD, FACS",
        role="Board-certified urologist",
        bio="Dr. Okafor treats men's hormone disorders.",
        links="https://example.org/okafor\nnot a link",
    )
    reviewed = ArticleFactory(title="Reading a lab report", reviewer=reviewer)
    ArticleFactory(title="Someone else's review")
    ArticleFactory(title="Not public yet", reviewer=reviewer, draft=True)

    response = client.get("/learn/people/ada-okafor/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "<h1>Ada Okafor, MD, FACS</h1>" in page
    assert "Board-certified urologist" in page
    section = page[page.index('id="reviewed-heading"') :]
    assert reviewed.get_absolute_url() in section and "Reading a lab report" in section
    assert "Someone else" not in page and "Not public yet" not in page
    ((profile,),) = json_ld(page)
    url = f"{settings.SITE_URL}/learn/people/ada-okafor/"
    assert profile["@type"] == "ProfilePage" and profile["url"] == url
    assert profile["mainEntity"] == {
        "@type": "Person",
        "@id": f"{url}#person",
        "name": "Ada Okafor",
        "url": url,
        "honorificSuffix": "MD, FACS",
        "jobTitle": "Board-certified urologist",
        "sameAs": ["https://example.org/okafor"],
    }


def test_a_person_with_no_public_article_has_no_public_page(client):
    ArticleFactory(draft=True, author=PersonFactory(name="Quiet Writer", credentials=""))
    assert client.get("/learn/people/quiet-writer/").status_code == 404
    assert client.get("/learn/people/nobody/").status_code == 404


def test_the_article_page_links_its_people_and_its_json_ld_dates_match_the_visible_ones(
    client, settings
):
    article = ArticleFactory()
    page = client.get(article.get_absolute_url()).content.decode()

    assert '<a href="/learn/people/jane-doe/">Jane Doe, MD</a>' in page
    assert '<a href="/learn/people/sam-writer/">Sam Writer</a>' in page
    assert '<a href="/learn/editorial-policy/">How we review</a>' in page
    data = json_ld(page)[0][0]
    assert data["author"]["url"] == f"{settings.SITE_URL}/learn/people/sam-writer/"
    assert data["reviewedBy"]["url"] == f"{settings.SITE_URL}/learn/people/jane-doe/"
    visible = dict(re.findall(r'<dt>([^<]+)</dt> <dd><time datetime="([^"]+)">', page))
    assert visible["Published"] == data["datePublished"]
    assert visible["Medically reviewed"] == data["lastReviewed"]
    assert "Updated" not in visible  # nothing it says has changed since it was published
    assert data["dateModified"] == data["datePublished"]
    assert client.get("/learn/people/jane-doe/").status_code == 200
    policy = client.get("/learn/editorial-policy/").content.decode()
    assert "at least every 12 months" in policy
    assert '<a href="/learn/people/jane-doe/">Jane Doe, MD</a>' in policy


def test_the_import_names_people_by_slug_or_by_name_and_credentials(tmp_path):
    PersonFactory(name="Ada Okafor", credentials="MD", slug="ada-okafor")
    PersonFactory(name="Sam Writer", credentials="")
    by_slug = GOOD.replace("reviewer: Jane Doe, MD", "reviewer: ada-okafor")
    import_articles([write(tmp_path, "a.md", by_slug)])
    article = Article.objects.get()
    assert article.reviewer.slug == "ada-okafor"
    assert (article.author.name, article.author.credentials) == ("Sam Writer", "")

    by_name = by_slug.replace("slug: reading-testosterone-labs", "slug: other").replace(
        "reviewer: ada-okafor", "reviewer: ada okafor, MD"
    )
    import_articles([write(tmp_path, "b.md", by_name)])
    assert Article.objects.get(slug="other").reviewer.slug == "ada-okafor"
    assert Person.objects.count() == 2  # Ada Okafor and Sam Writer, each once


def test_the_import_refuses_an_unknown_person_slug_with_its_line(tmp_path):
    path = write(tmp_path, "a.md", GOOD.replace("reviewer: Jane Doe, MD", "reviewer: dr-nobody"))
    line = GOOD.splitlines().index("reviewer: Jane Doe, MD") + 1
    assert problems_of(path) == [
        f"{path}:{line}: reviewer 'dr-nobody' is no person's slug: add them under People in "
        "admin, or write their name and credentials"
    ]
    assert not Article.objects.exists() and not Person.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_migrations_carry_today_s_articles_over_with_no_loss_and_bylines_become_people(
    client,
):
    executor = MigrationExecutor(connection)
    before = [("articles", "0004_no_stored_pages")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    OldArticle = old.get_model("articles", "Article")
    category = old.get_model("articles", "Category").objects.create(name="Sleep", slug="sleep")
    common = {"category": category, "summary": "S.", "body": "## Why\n\nBecause.", "tldr": "A"}
    one = OldArticle.objects.create(
        title="One", slug="one", author="Sam Writer", reviewer="Jane Doe, MD",
        status="published", last_reviewed=dt.date(2026, 10, 1),
        publish_at=timezone.now() - dt.timedelta(days=5), label="PRIME",
        body_html="<h2>Why</h2><p>Because.</p>", **common,
    )  # fmt: skip
    two = OldArticle.objects.create(
        title="Two", slug="two", author="", reviewer="jane doe, MD, FACS", status="draft",
        **common,
    )  # fmt: skip
    OldArticle.objects.create(title="Three", slug="three", status="draft", **common)
    one.related.add(two)
    old.get_model("articles", "FAQ").objects.create(article=one, question="Q?", answer="A.")
    old.get_model("articles", "Source").objects.create(article=one, title="A guideline")
    kept = ["id", "title", "slug", "category_id", "label", "summary", "tldr", "body",
            "body_html", "status", "publish_at", "last_reviewed", "created_at"]  # fmt: skip
    then = {a["slug"]: a for a in OldArticle.objects.values(*kept)}

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert {a["slug"]: a for a in Article.objects.values(*kept)} == then
    bylines = {
        a.slug: (a.author and a.author.name, a.reviewer and a.reviewer.name)
        for a in Article.objects.select_related("author", "reviewer")
    }
    assert bylines == {
        "one": ("Sam Writer", "Jane Doe"),
        "two": (None, "Jane Doe"),
        "three": (None, None),
    }
    assert list(Person.objects.order_by("name").values_list("name", "credentials", "slug")) == [
        ("Jane Doe", "MD", "jane-doe"),
        ("Sam Writer", "", "sam-writer"),
    ]
    article = Article.objects.get(slug="one")
    assert [f.question for f in article.faqs.all()] == ["Q?"]
    assert [s.title for s in article.sources.all()] == ["A guideline"]
    assert [r.slug for r in article.related.all()] == ["two"]
    page = client.get("/learn/one/").content.decode()
    assert '<a href="/learn/people/jane-doe/">Jane Doe, MD</a>' in page
