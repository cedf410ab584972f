"""Evidence a reader can weigh: each source's kind and the strength of the evidence for the
claim it supports, beside the citation with a key, in the JSON-LD, and signed off like the
rest of the text."""

import json
import re

import pytest
from django.utils import timezone

from articles import workflow
from articles.content import Content, digest
from articles.models import SearchMiss
from tests.articles.test_review_admin import editor, form, reviewer, save  # noqa: F401
from tests.factories import ArticleFactory, SourceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_page_cache(settings):
    settings.PAGE_CACHE_SECONDS = 0


def citations(page: str) -> list[dict]:
    data = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    return json.loads(data.group(1))[0]["citation"]


def test_each_graded_source_shows_its_kind_and_strength_with_the_key(client):
    article = ArticleFactory()
    article.sources.all().delete()
    SourceFactory(article=article, title="Testosterone therapy guideline", kind="guideline",
                  strength="A", position=0)  # fmt: skip
    SourceFactory(article=article, title="A small trial", kind="trial", strength="B", position=1)
    SourceFactory(article=article, title="An old review", doi="", url="", position=2)
    page = client.get(article.get_absolute_url()).content.decode()
    items = re.findall(r"<li>(.*?)</li>", page.split('id="sources-heading"')[1], re.S)
    assert "Practice Guideline · " in items[0] and ">evidence A</abbr>" in items[0]
    assert "Randomized Controlled Trial · " in items[1] and ">evidence B</abbr>" in items[1]
    assert 'class="evidence"' not in items[2], "an ungraded source shows no grade"
    key = page.split('class="evidence-key"')[1]
    for grade, meaning in [
        ("A", "Consistent, good-quality evidence from people"),
        ("B", "Inconsistent or limited evidence from people"),
        ("C", "Expert agreement, usual practice, or studies of lab values rather than health"),
    ]:
        assert f"<dt>{grade}</dt><dd>{meaning}</dd>" in key
    assert citations(page) == [
        {"@type": "MedicalScholarlyArticle", "name": "Testosterone therapy guideline",
         "publicationType": "Practice Guideline",
         "description": "Strength of evidence A: consistent, good-quality evidence from people",
         "url": "https://doi.org/10.1210/jc.2018-00229"},
        {"@type": "MedicalScholarlyArticle", "name": "A small trial",
         "publicationType": "Randomized Controlled Trial",
         "description": "Strength of evidence B: inconsistent or limited evidence from people",
         "url": "https://doi.org/10.1210/jc.2018-00229"},
        {"@type": "CreativeWork", "name": "An old review"},
    ]  # fmt: skip


def test_a_page_with_no_graded_source_has_no_key(client):
    article = ArticleFactory()
    page = client.get(article.get_absolute_url()).content.decode()
    assert 'id="sources-heading"' in page and "evidence-key" not in page


def test_a_text_signed_off_before_grades_existed_keeps_its_digest():
    article = ArticleFactory()
    text = Content.of(article)
    before = text.as_data()
    # What a sign-off recorded before sources had grades: no grade keys at all.
    for source in before["sources"]:
        assert "kind" not in source and "strength" not in source
    assert digest(before) == text.digest == workflow.signed_off(article).digest


def test_a_changed_grade_waits_for_a_sign_off_as_the_text_does(editor, reviewer, client):  # noqa: F811
    article = ArticleFactory()
    save(editor, article, **{"sources-0-kind": "trial", "sources-0-strength": "A"})
    page = client.get(article.get_absolute_url()).content.decode()
    assert "evidence A" not in page, "the public page keeps the signed-off text"
    editor.post(
        f"/admin/articles/article/{article.pk}/step/request_review/",
        {"reviewer": reviewer.person.pk},
    )
    waiting = reviewer.get(f"/learn/{article.slug}/review/").content.decode()
    assert "Randomized Controlled Trial" in waiting and "evidence A" in waiting
    reviewer.post(
        f"/learn/{article.slug}/review/",
        {"decision": "sign_off", "digest": workflow.newest(article).digest},
    )
    page = client.get(article.get_absolute_url()).content.decode()
    assert "Randomized Controlled Trial" in page and ">evidence A</abbr>" in page
    assert workflow.signed_off(article).reviewed_on == timezone.localdate()


def test_a_grade_that_is_not_one_of_the_choices_is_refused(editor):  # noqa: F811
    article = ArticleFactory()
    response = save(editor, article, **{"sources-0-strength": "D"})
    assert "Select a valid choice. D is not one of the available choices." in (
        response.content.decode()
    )
    assert "strength" not in Content.of(article).as_data()["sources"][0]


def test_searches_that_find_nothing_are_listed_for_editors_with_their_count(client, editor):  # noqa: F811
    ArticleFactory(title="Reading a lab report", body="## Labs\n\nA lab report shows levels.\n")
    for query in ("Zinc  dosage", "zinc dosage", "lab report", "jo@example.com", "555 123 4567"):
        client.get("/learn/search/", {"q": query})
    client.get("/learn/search/", {"q": "zinc dosage", "page": "2"})  # the same search, paged
    listing = editor.get("/admin/articles/searchmiss/")
    assert listing.status_code == 200
    rows = re.findall(r'<td class="field-query">(.*?)</td>\s*<td class="field-count">(\d+)</td>',
                      listing.content.decode())  # fmt: skip
    assert rows == [("zinc dosage", "2")], "found searches and personal-looking ones are not kept"
    assert SearchMiss.objects.get().count == 2
