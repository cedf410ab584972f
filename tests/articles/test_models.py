import datetime as dt

import pytest
from django.db import IntegrityError
from django.utils import timezone

from articles.models import Article
from tests.factories import ArticleFactory, GlossaryTermFactory, SourceFactory

pytestmark = pytest.mark.django_db


def test_database_refuses_a_published_article_without_a_reviewer():
    article = ArticleFactory(draft=True)
    with pytest.raises(IntegrityError, match="article_reviewed_before_publishing"):
        Article.objects.filter(pk=article.pk).update(
            status=Article.Status.PUBLISHED,
            publish_at=timezone.now(),
            last_reviewed=timezone.localdate(),
        )


def test_database_refuses_a_published_article_without_a_last_reviewed_date():
    with pytest.raises(IntegrityError, match="article_reviewed_before_publishing"):
        ArticleFactory(last_reviewed=None)


def test_a_draft_needs_only_a_title():
    article = Article.objects.create(title="Notes", slug="notes")
    assert article.status == Article.Status.DRAFT


def test_publish_problems_lists_everything_the_review_gate_wants():
    article = ArticleFactory.build(
        draft=True, category=None, summary="", status=Article.Status.PUBLISHED
    )
    assert article.publish_problems(source_count=0) == {
        "review": "a medical reviewer's sign-off",
        "category": "a category",
        "summary": "a summary",
        "sources": "at least one source",
    }


def test_a_reviewed_article_with_a_source_passes_the_gate():
    article = ArticleFactory()
    assert article.publish_problems(source_count=article.sources.count()) == {}


def test_published_means_status_published_and_publish_date_come():
    now = timezone.now()
    live = ArticleFactory(publish_at=now - dt.timedelta(minutes=1))
    ArticleFactory(publish_at=now + dt.timedelta(minutes=5))
    ArticleFactory(draft=True)
    assert list(Article.objects.published()) == [live]


def test_a_scheduled_article_becomes_public_when_its_time_comes_with_no_job():
    article = ArticleFactory(publish_at=timezone.now() + dt.timedelta(seconds=1))
    assert article.state == "Scheduled"
    assert not Article.objects.published().exists()
    Article.objects.filter(pk=article.pk).update(
        publish_at=timezone.now() - dt.timedelta(seconds=1)
    )
    article.refresh_from_db()
    assert article.state == "Published"
    assert list(Article.objects.published()) == [article]


def test_review_overdue_finds_articles_past_their_next_review_date():
    overdue = ArticleFactory(next_review_due=timezone.localdate() - dt.timedelta(days=1))
    ArticleFactory(next_review_due=timezone.localdate() + dt.timedelta(days=1))
    assert list(Article.objects.review_overdue()) == [overdue]


def test_saving_renders_the_body_the_table_of_contents_and_reading_time():
    article = ArticleFactory(body="## One\n\n" + "word " * 500 + "\n\n## Two\n\n### Three\n")
    assert '<h2 id="one">One</h2>' in article.body_html
    assert [entry["id"] for entry in article.toc] == ["one", "two", "three"]
    assert article.reading_minutes == 3


def test_rerender_applies_a_new_glossary_term_to_existing_articles():
    article = ArticleFactory(body="Low SHBG can mislead.")
    GlossaryTermFactory(term="SHBG", slug="shbg", definition="A carrier protein")
    assert Article.objects.rerender() == 1
    article.refresh_from_db()
    assert '<dfn id="term-shbg">' in article.body_html


def test_remembering_an_old_slug_keeps_one_redirect_per_address():
    article = ArticleFactory(slug="new-name")
    article.remember_slug("old-name")
    article.remember_slug("old-name")
    assert list(article.old_slugs.values_list("old_slug", flat=True)) == ["old-name"]


def test_source_link_prefers_url_then_doi_and_never_a_script_url():
    assert SourceFactory(url="https://example.org/a", doi="10.1/x").link == "https://example.org/a"
    assert SourceFactory(url="", doi="10.1/x").link == "https://doi.org/10.1/x"
    assert SourceFactory(url="javascript:alert(1)", doi="").link == ""


def test_table_of_contents_nests_each_h3_under_its_h2():
    article = ArticleFactory(body="### Lead-in\n\n## One\n\n### One a\n\n### One b\n\n## Two\n")
    assert [(e["text"], [c["text"] for c in e["children"]]) for e in article.toc_tree] == [
        ("Lead-in", []),
        ("One", ["One a", "One b"]),
        ("Two", []),
    ]
