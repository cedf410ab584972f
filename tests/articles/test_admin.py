import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone

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
        "publish_at_0": "",
        "publish_at_1": "",
        "author": "",
        "update_note": "",
        "disclaimer": "",
        "meta_description": "",
        "mentions_services": "False",
        "ai_used": "False",
        "ai_use": "",
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
    # Publishing without review and signing off are granted on their own; the versions,
    # sign-offs and review emails are written by the review's steps, not edited as rows.
    kept = {"articleversion", "signoff", "reviewemail"}
    assert everything - codenames == {
        ("articles", "publish_minor_edit"),
        ("articles", "sign_off"),
        # Searches that found nothing are counted by the search page: read and deleted only.
        ("articles", "add_searchmiss"),
        ("articles", "change_searchmiss"),
        # Readers' answers are counted by the article page; findings are made by readers and the
        # citation monitor, and resolved by editors, never deleted.
        ("articles", "add_articlefeedback"),
        ("articles", "change_articlefeedback"),
        ("articles", "delete_articlefeedback"),
        ("articles", "add_finding"),
        ("articles", "delete_finding"),
        *{
            ("articles", f"{verb}_{model}")
            for verb in ("add", "change", "delete", "view")
            for model in kept
        },
    }


def test_medical_reviewers_sign_off_and_read_but_do_not_edit():
    codenames = set(
        Group.objects.get(name="Medical reviewers").permissions.values_list("codename", flat=True)
    )
    assert codenames == {"sign_off", "view_article", "view_person", "view_category"}


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


def test_no_field_of_the_form_publishes_or_sets_the_review_line_even_when_forced(editor_client):
    reviewer = PersonFactory()
    category = ArticleFactory().category
    response = editor_client.post(
        "/admin/articles/article/add/",
        article_form(
            category=category.pk,
            status="published",
            stage="signed",
            reviewer=reviewer.pk,
            last_reviewed="2025-12-20",
            next_review_due="2026-12-20",
            publish_at_0="2026-01-01",
            publish_at_1="09:00",
        ),
    )
    assert response.status_code == 302
    article = Article.objects.get(slug="sleep-and-testosterone")
    assert (article.status, article.stage) == ("draft", "draft")
    assert article.reviewer is None and article.last_reviewed is None
    assert article.next_review_due is None and not article.sign_offs.exists()


def test_the_form_lists_publish_problems_at_its_top_linking_their_fields(editor_client):
    unready = ArticleFactory(draft=True, title="Half-done", category=None, summary="")
    page = editor_client.get(f"/admin/articles/article/{unready.pk}/change/").content.decode()
    needs = page[page.index("To publish, this article needs:") :]
    needs = needs[: needs.index("</ul>")]
    assert "a medical reviewer&#x27;s sign-off" in needs
    assert '<a href="#id_category">a category</a>' in needs
    assert '<a href="#id_summary">a summary</a>' in needs
    assert '<a href="#sources-group">at least one source</a>' in needs


def test_the_bulk_action_names_the_same_problems_as_the_form(editor_client):
    unready = ArticleFactory(draft=True, title="Half-done", category=None)
    response = editor_client.post(
        "/admin/articles/article/",
        {"action": "publish", "_selected_action": [unready.pk]},
        follow=True,
    )
    assert (
        "Not published: “Half-done”: It needs a medical reviewer&#x27;s sign-off, a category, "
        "at least one source." in response.content.decode()
    )


def test_a_title_over_200_characters_is_refused_with_its_length_never_cut(editor_client):
    title = "Testosterone " * 40
    form = article_form(title=title)
    response = editor_client.post("/admin/articles/article/add/", form)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["title"] == [
        f"Keep the title to 200 characters: it has {len(title.strip())}. Search results show "
        "about 70."
    ]
    assert 'maxlength="200"' not in response.content.decode().split('name="title"')[1][:200]
    assert not Article.objects.exists()


def test_a_title_over_70_characters_is_flagged_as_cut_in_search_results(editor_client):
    article = ArticleFactory(
        draft=True,
        title="What a low testosterone result means, and what to ask your doctor next time",
    )
    page = editor_client.get(f"/admin/articles/article/{article.pk}/change/").content.decode()
    assert "Cut in search results: 75 characters, about 70 shown" in page
    short = ArticleFactory(draft=True, title="Sleep and testosterone")
    page = editor_client.get(f"/admin/articles/article/{short.pk}/change/").content.decode()
    assert "Shown whole (22 characters)." in page


def test_the_form_defaults_the_publish_date_to_now(editor_client):
    form = editor_client.get("/admin/articles/article/add/").context["adminform"].form
    initial = form.get_initial_for_field(form.fields["publish_at"], "publish_at")
    assert abs((initial - timezone.now()).total_seconds()) < 60


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
    assert "Not published: “Half-done”: It needs a medical reviewer&#x27;s sign-off" in page
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
