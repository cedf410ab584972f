"""Pre-rendered article pages: served from one column, never stale."""

import datetime as dt

import pytest
from django.utils import timezone

from articles.baking import BUILD_ID, keep_page
from articles.models import Article
from tests.factories import ArticleFactory, FAQFactory, GlossaryTermFactory, SourceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_page_cache(settings):
    settings.PAGE_CACHE_SECONDS = 0


def stored(article: Article) -> str:
    return Article.objects.values_list("page_html", flat=True).get(pk=article.pk)


def test_the_first_anonymous_view_stores_the_page_and_the_next_is_served_from_it(client):
    article = ArticleFactory()
    first = client.get(article.get_absolute_url()).content.decode()
    assert stored(article) == first
    Article.objects.filter(pk=article.pk).update(page_html=first.replace("</h1>", "!</h1>"))
    assert "!</h1>" in client.get(article.get_absolute_url()).content.decode()


def test_a_new_faq_source_or_glossary_term_shows_on_the_next_view(client):
    article = ArticleFactory(body="Levels of SHBG vary.")
    client.get(article.get_absolute_url())
    FAQFactory(article=article, question="A brand-new question?")
    assert "A brand-new question?" in client.get(article.get_absolute_url()).content.decode()
    SourceFactory(article=article, title="A brand-new source")
    assert "A brand-new source" in client.get(article.get_absolute_url()).content.decode()
    GlossaryTermFactory(term="SHBG", slug="shbg", definition="A carrier protein")
    Article.objects.rerender()
    assert "A carrier protein" in client.get(article.get_absolute_url()).content.decode()


def test_editing_an_article_refreshes_the_pages_that_list_it_as_related(client):
    other = ArticleFactory(title="Old related title")
    article = ArticleFactory()
    article.related.add(other)
    assert "Old related title" in client.get(article.get_absolute_url()).content.decode()
    other.title = "New related title"
    other.save()
    assert "New related title" in client.get(article.get_absolute_url()).content.decode()


def test_a_related_article_scheduled_for_later_appears_when_its_time_comes(client):
    later = ArticleFactory(title="Coming soon", publish_at=timezone.now() + dt.timedelta(hours=1))
    article = ArticleFactory()
    article.related.add(later)
    assert "Coming soon" not in client.get(article.get_absolute_url()).content.decode()
    assert Article.objects.get(pk=article.pk).page_stale_at == later.publish_at
    Article.objects.filter(pk=later.pk).update(publish_at=timezone.now() - dt.timedelta(seconds=1))
    Article.objects.filter(pk=article.pk).update(page_stale_at=timezone.now())
    assert "Coming soon" in client.get(article.get_absolute_url()).content.decode()


def test_a_render_that_raced_an_edit_is_not_stored():
    article = ArticleFactory()
    Article.objects.filter(pk=article.pk).forget_pages()
    keep_page(article, "<p>rendered before the edit</p>")
    assert stored(article) == ""


def test_pages_of_an_older_build_are_not_served(client):
    article = ArticleFactory()
    client.get(article.get_absolute_url())
    Article.objects.filter(pk=article.pk).update(page_build="0" * 16, page_html="old build")
    assert "old build" not in client.get(article.get_absolute_url()).content.decode()
    assert Article.objects.get(pk=article.pk).page_build == BUILD_ID


def test_staff_previews_are_never_stored(staff_client):
    draft = ArticleFactory(draft=True)
    article = ArticleFactory()
    staff_client.get(draft.get_absolute_url())
    staff_client.get(article.get_absolute_url())
    assert stored(draft) == "" and stored(article) == ""


def test_an_unpublished_article_is_not_served_from_its_stored_page(client):
    article = ArticleFactory()
    client.get(article.get_absolute_url())
    Article.objects.filter(pk=article.pk).update(status="draft")
    assert client.get(article.get_absolute_url()).status_code == 404
