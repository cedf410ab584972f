import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from articles.models import Article
from tests.factories import ArticleFactory, PersonFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor():
    user = StaffFactory(username="editor")
    user.groups.add(Group.objects.get(name="Editors"))
    return user


@pytest.fixture
def editor_client(editor) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(editor)
    return client


def article_form(article: Article | None = None, **overrides) -> dict:
    data = {
        "title": "Sleep and testosterone",
        "slug": "sleep-and-testosterone",
        "category": "",
        "label": "",
        "summary": "How sleep shapes hormones.",
        "tldr": "Sleep matters",
        "body": "## Why\n\nBecause.",
        "status": "draft",
        "publish_at_0": "",
        "publish_at_1": "",
        "author": "",
        "reviewer": "",
        "last_reviewed": "",
        "next_review_due": "",
        "disclaimer": "",
        "meta_description": "",
        "faqs-TOTAL_FORMS": "0",
        "faqs-INITIAL_FORMS": "0",
        "sources-TOTAL_FORMS": "0",
        "sources-INITIAL_FORMS": "0",
        "updates-TOTAL_FORMS": "0",
        "updates-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_editors_group_holds_exactly_the_learning_center_permissions():
    codenames = set(
        Group.objects.get(name="Editors").permissions.values_list(
            "content_type__app_label", "codename"
        )
    )
    assert {app for app, _ in codenames} == {"articles"}
    assert ("articles", "change_article") in codenames
    assert ("articles", "add_glossaryterm") in codenames
    everything = set(
        Permission.objects.filter(content_type__app_label="articles").values_list(
            "content_type__app_label", "codename"
        )
    )
    # Publishing without review is granted on its own; the history is admin's, not a model's.
    assert everything - codenames == {
        ("articles", "publish_minor_edit"),
        ("articles", "add_articlerevision"),
        ("articles", "change_articlerevision"),
        ("articles", "delete_articlerevision"),
        ("articles", "view_articlerevision"),
    }


def test_editor_sees_articles_in_admin_and_nothing_else(editor_client):
    index = editor_client.get("/admin/").content.decode()
    assert "/admin/articles/article/" in index
    assert "/admin/auth/user/" not in index
    assert editor_client.get("/admin/articles/article/").status_code == 200
    assert editor_client.get("/admin/articles/glossaryterm/").status_code == 200
    assert editor_client.get("/admin/auth/user/").status_code == 403
    assert editor_client.get("/admin/auth/group/").status_code == 403


def test_anonymous_visitors_are_sent_to_the_admin_login(client):
    response = client.get("/admin/articles/article/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_editor_saves_a_draft_with_only_a_title(editor_client):
    response = editor_client.post("/admin/articles/article/add/", article_form())
    assert response.status_code == 302
    assert Article.objects.get().status == "draft"


def test_admin_refuses_to_publish_without_review_and_says_what_is_missing(editor_client):
    response = editor_client.post(
        "/admin/articles/article/add/",
        article_form(status="published", publish_at_0="2026-01-01", publish_at_1="09:00"),
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors == {
        "reviewer": ["To publish or schedule, this article needs a medical reviewer."],
        "last_reviewed": [
            "To publish or schedule, this article needs the date of its medical review."
        ],
        "category": ["To publish or schedule, this article needs a category."],
    }
    sources = next(
        f for f in response.context["inline_admin_formsets"] if f.formset.prefix == "sources"
    )
    assert sources.formset.non_form_errors() == [
        "To publish or schedule, this article needs at least one source."
    ]
    page = response.content.decode()
    # Each problem once, beside its field; nothing repeats them at the top.
    assert page.count("needs a medical reviewer") == 1
    assert page.count("needs at least one source") == 1
    assert "errornote" in page and "A published article needs a reviewer" not in page
    assert not Article.objects.exists()


def test_the_bulk_action_names_the_same_problems_as_the_form(editor_client):
    unready = ArticleFactory(draft=True, title="Half-done", category=None)
    response = editor_client.post(
        "/admin/articles/article/",
        {"action": "publish", "_selected_action": [unready.pk]},
        follow=True,
    )
    assert (
        "Not published: “Half-done” needs a medical reviewer, the date of its medical review, "
        "a category, at least one source." in response.content.decode()
    )


def test_admin_publishes_a_reviewed_article_with_a_source(editor_client):
    category = ArticleFactory().category
    response = editor_client.post(
        "/admin/articles/article/add/",
        article_form(
            status="published",
            category=category.pk,
            publish_at_0="2026-01-01",
            publish_at_1="09:00",
            reviewer=PersonFactory().pk,
            last_reviewed="2025-12-20",
            **{
                "sources-TOTAL_FORMS": "1",
                "sources-0-title": "A guideline",
                "sources-0-url": "https://example.org/guideline",
                "sources-0-position": "0",
            },
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    article = Article.objects.get(slug="sleep-and-testosterone")
    assert article.is_public and article.sources.get().title == "A guideline"


def test_publish_action_publishes_reviewed_articles_and_refuses_the_rest(editor_client):
    ready = ArticleFactory(status="draft", publish_at=None)
    unready = ArticleFactory(draft=True, title="Half-done")
    response = editor_client.post(
        "/admin/articles/article/",
        {"action": "publish", "_selected_action": [ready.pk, unready.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "Published 1 article(s)." in page
    assert "Not published: “Half-done” needs a medical reviewer" in page
    ready.refresh_from_db()
    unready.refresh_from_db()
    assert ready.is_public and unready.status == "draft"


def test_unpublish_action_returns_articles_to_draft(editor_client, client):
    article = ArticleFactory()
    editor_client.post(
        "/admin/articles/article/", {"action": "unpublish", "_selected_action": [article.pk]}
    )
    article.refresh_from_db()
    assert article.status == "draft"
    assert client.get(article.get_absolute_url()).status_code == 404


def test_review_overdue_filter_and_state_column(editor_client):
    ArticleFactory(title="Overdue one", next_review_due="2020-01-01")
    ArticleFactory(title="Fine one")
    page = editor_client.get("/admin/articles/article/?review=overdue").content.decode()
    assert "Overdue one" in page and "Fine one" not in page
    listing = editor_client.get("/admin/articles/article/").content.decode()
    assert "Published" in listing


def test_changelist_links_to_the_preview(editor_client):
    draft = ArticleFactory(draft=True)
    page = editor_client.get("/admin/articles/article/").content.decode()
    assert f'href="{draft.get_absolute_url()}">View</a>' in page
    assert editor_client.get(draft.get_absolute_url()).status_code == 200
