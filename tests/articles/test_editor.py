from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group, Permission
from django.templatetags.static import static
from django.test import Client
from django.urls import reverse

from articles.editor import MAX_PREVIEW_CHARS
from articles.models import GlossaryTerm
from articles.rendering import render_markdown
from tests.factories import ArticleFactory, GlossaryTermFactory, StaffFactory

pytestmark = pytest.mark.django_db

PREVIEW = "admin:articles_article_preview"
BODY = "## Why sleep matters\n\n- Seven hours\n- The same wake-up time\n\nSHBG carries it.\n"


def signed_in(user) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


@pytest.fixture
def editor_client() -> Client:
    editor = StaffFactory(username="editor")
    editor.groups.add(Group.objects.get(name="Editors"))
    return signed_in(editor)


def staff_who_may(*codenames: str) -> Client:
    user = StaffFactory(username="staff-" + "-".join(codenames or ("nothing",)))
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="articles", codename__in=codenames)
    )
    return signed_in(user)


def preview(client: Client, source: str):
    return client.post(reverse(PREVIEW), {"source": source})


class Elements(HTMLParser):
    def __init__(self, markup: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_the_preview_is_the_articles_own_rendering_with_the_glossary(editor_client):
    GlossaryTermFactory(term="SHBG", slug="shbg", definition="A protein that carries hormones.")
    response = preview(editor_client, BODY)
    assert response.status_code == 200
    html = response.json()["html"]
    assert html == render_markdown(BODY, glossary=GlossaryTerm.objects.all()).html
    assert '<h2 id="why-sleep-matters">Why sleep matters</h2>' in html
    assert "<li>Seven hours</li>" in html
    assert '<dfn id="term-shbg">' in html and "in plain English: A protein" in html


def test_the_preview_runs_no_script_and_no_event_handler(editor_client):
    source = (
        "<script>alert(1)</script>\n\n"
        '<img src="x" onerror="alert(1)">\n\n'
        '![x](https://example.org/x.png" onerror="alert(1))\n\n'
        "[link](javascript:alert(1))\n"
    )
    tags = Elements(preview(editor_client, source).json()["html"]).tags
    assert "script" not in [tag for tag, _ in tags]
    assert not [name for _, attrs in tags for name in attrs if name.startswith("on")]
    assert not [v for _, attrs in tags for v in attrs.values() if "javascript:" in (v or "")]


def test_the_preview_refuses_a_get(editor_client):
    assert editor_client.get(reverse(PREVIEW), {"source": "# Hi"}).status_code == 405


def test_the_preview_needs_the_csrf_token_like_every_admin_form():
    editor = StaffFactory(username="editor", is_superuser=True)
    client = Client(HTTP_HOST="localhost", enforce_csrf_checks=True)
    client.force_login(editor)
    assert client.post(reverse(PREVIEW), {"source": "Hi"}).status_code == 403
    page = client.get(reverse("admin:articles_article_add"))
    token = str(page.context["csrf_token"])
    response = client.post(reverse(PREVIEW), {"source": "Hi"}, headers={"X-CSRFToken": token})
    assert response.json()["html"] == "<p>Hi</p>\n"


@pytest.mark.parametrize("codename", ["add_article", "change_article"])
def test_staff_who_may_add_or_change_articles_may_preview(codename):
    assert preview(staff_who_may(codename), "Hi").status_code == 200


@pytest.mark.parametrize("codenames", [(), ("view_article",), ("add_glossaryterm",)])
def test_staff_who_may_neither_add_nor_change_articles_are_refused(codenames):
    assert preview(staff_who_may(*codenames), "Hi").status_code == 403


def test_anonymous_visitors_are_sent_to_the_admin_login(client):
    response = preview(client, "Hi")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_a_source_over_the_limit_is_refused_with_a_reason(editor_client):
    assert preview(editor_client, "x" * MAX_PREVIEW_CHARS).status_code == 200
    response = preview(editor_client, "x" * (MAX_PREVIEW_CHARS + 1))
    assert response.status_code == 400
    assert response.json() == {"error": "The preview takes at most 200,000 characters."}


@pytest.mark.parametrize(
    "body",
    [
        b"source=",
        b"",
        b"source=a%00b%00",
        b"source=%ED%A0%80%ED%B0%80+lone+surrogates",
        b"source=%FF%FE+not+UTF-8",
        b"source=" + b"%3E" * 5000 + b"deep",
        b"source=" + b"*[" * 5000,
    ],
    ids=["empty", "no-field", "nul", "surrogates", "not-utf8", "deep-quotes", "brackets"],
)
def test_odd_input_is_previewed_not_a_server_error(editor_client, body):
    response = editor_client.generic(
        "POST", reverse(PREVIEW), body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert isinstance(response.json()["html"], str)


def test_odd_input_in_a_multipart_body_is_previewed_too(editor_client):
    charset, value = "utf-8", b"\x00\xed\xa0\x80\xff"
    body = (
        b"--b\r\nContent-Disposition: form-data; name=source\r\n\r\n"
        b"## Hi\n\n" + value + b"\r\n--b--\r\n"
    )
    response = editor_client.generic(
        "POST",
        reverse(PREVIEW),
        body,
        content_type=f"multipart/form-data; boundary=b; charset={charset}",
    )
    assert response.status_code == 200
    assert "Hi</h2>" in response.json()["html"]


def test_a_body_in_a_charset_that_is_not_utf_8_is_refused(editor_client):
    body = b"--b\r\nContent-Disposition: form-data; name=source\r\n\r\nA +2AA- b\r\n--b--\r\n"
    response = editor_client.generic(
        "POST",
        reverse(PREVIEW),
        body,
        content_type="multipart/form-data; boundary=b; charset=utf-7",
    )
    assert response.status_code == 400


def assert_has_the_editor(page: str) -> None:
    assert f'data-preview-url="{reverse(PREVIEW)}"' in page
    assert '<textarea name="body"' in page
    assert 'role="region" aria-label="Preview"' in page
    assert f'<script src="{static("js/markdown-editor.js")}" defer></script>' in page
    assert f'href="{static("css/admin-editor.css")}"' in page


def test_the_add_page_edits_the_body_beside_its_preview(editor_client):
    assert_has_the_editor(editor_client.get(reverse("admin:articles_article_add")).content.decode())


def test_the_change_page_edits_the_body_beside_its_preview(editor_client):
    article = ArticleFactory(draft=True, body="## Kept\n\nAs written.")
    page = editor_client.get(reverse("admin:articles_article_change", args=[article.pk]))
    assert_has_the_editor(page.content.decode())
    assert "## Kept\n\nAs written.</textarea>" in page.content.decode()
