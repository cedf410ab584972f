"""What readers tell us without being tracked: "Was this helpful?" and "Report an error" under
each article, counted, with each comment in the editors' queue; and the dashboard's figures."""

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from articles.models import ArticleFeedback, Finding, SearchMiss
from tests.factories import ArticleFactory, StaffFactory
from waitlist.tasks import recount_dashboard

pytestmark = pytest.mark.django_db

READER = {"REMOTE_ADDR": "203.0.113.77", "HTTP_USER_AGENT": "Reader-Browser/1.0"}


@pytest.fixture
def editor() -> Client:
    user = StaffFactory(username="eddie")
    user.groups.add(Group.objects.get(name="Editors"))
    client = Client()
    client.force_login(user)
    return client


def answer(client, article, verdict: str, comment: str = ""):
    return client.post(
        f"/learn/{article.slug}/feedback/", {"verdict": verdict, "comment": comment}, **READER
    )


def stored_values() -> str:
    """Everything the feedback tables hold, as one text."""
    rows = [*ArticleFeedback.objects.values(), *Finding.objects.values()]
    return " ".join(str(value) for row in rows for value in row.values())


def test_each_article_asks_whether_it_helped_in_a_form_that_needs_no_script(client):
    article = ArticleFactory()
    page = client.get(article.get_absolute_url()).content.decode()
    form = re.search(r'<form method="post" action="/learn/[^"]+/feedback/">.*?</form>', page, re.S)
    assert form, "a plain form POST"
    for verdict in ("yes", "no", "error"):
        assert f'name="verdict" value="{verdict}"' in form.group(0)
    assert 'name="comment"' in form.group(0) and "csrfmiddlewaretoken" not in form.group(0)


def test_no_with_a_comment_is_counted_and_queued_for_the_editors_keeping_nothing_of_the_reader(
    client, editor
):
    article = ArticleFactory(title="Sleep and testosterone")
    response = answer(client, article, "no", "The table on  shift work\nis hard to read.")
    assert response.status_code == 302
    assert response["Location"] == f"/learn/{article.slug}/feedback/"
    assert "Thank you" in client.get(response["Location"]).content.decode()
    answer(client, article, "yes")
    answer(client, article, "yes")
    counts = ArticleFeedback.objects.get(article=article)
    assert (counts.helpful, counts.not_helpful, counts.errors_reported) == (2, 1, 0)
    finding = Finding.objects.get()
    assert (finding.kind, finding.detail) == (
        "not_helpful",
        "The table on shift work is hard to read.",
    )
    held = stored_values()
    assert "203.0.113" not in held and "Reader-Browser" not in held

    queue = editor.get("/admin/articles/finding/?open=1").content.decode()
    assert "The table on shift work is hard to read." in queue
    listing = editor.get("/admin/articles/article/?review=findings").content.decode()
    assert "Sleep and testosterone" in listing and "1 finding to look at" in listing


def test_contact_details_in_a_comment_are_taken_out_before_it_is_kept(client):
    article = ArticleFactory()
    answer(
        client, article, "error", "Dose is wrong. Call me on +1 (555) 123-4567 or jo@example.com"
    )
    finding = Finding.objects.get()
    assert finding.kind == "error"
    assert finding.detail == "Dose is wrong. Call me on [removed] or [removed]"
    assert ArticleFeedback.objects.get().errors_reported == 1


def test_control_characters_in_a_comment_count_as_spaces(client):
    article = ArticleFactory()
    assert answer(client, article, "no", "Too\x00long,\r\n\tand\x1b unclear").status_code == 302
    assert Finding.objects.get().detail == "Too long, and unclear"


@pytest.mark.parametrize(
    "verdict, comment, message",
    [
        ("error", "  ", "Say what is wrong, so that an editor can correct it."),
        ("error", "\x00\x07 ", "Say what is wrong, so that an editor can correct it."),
        ("maybe", "", "Choose Yes, No or Report an error."),
        ("no", "x" * 501, "Keep the comment to 500 characters (it has 501)."),
    ],
)
def test_a_bad_answer_is_refused_with_the_reason_and_nothing_counted(
    client, verdict, comment, message
):
    article = ArticleFactory()
    response = answer(client, article, verdict, comment)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ArticleFeedback.objects.exists() and not Finding.objects.exists()


def test_only_a_published_article_takes_answers(client):
    draft = ArticleFactory(draft=True)
    assert answer(client, draft, "yes").status_code == 404
    assert not ArticleFeedback.objects.exists()


def test_resolving_a_finding_takes_it_out_of_the_queue(client, editor):
    article = ArticleFactory()
    answer(client, article, "error", "The second table has the units swapped.")
    finding = Finding.objects.get()
    editor.post(
        "/admin/articles/finding/",
        {"action": "resolve", "_selected_action": [finding.pk]},
    )
    finding.refresh_from_db()
    assert finding.resolved_at is not None and finding.resolved_by.username == "eddie"
    listing = editor.get("/admin/articles/article/?review=findings").content.decode()
    assert article.title not in listing


def test_the_dashboard_shows_reader_feedback_and_searches_that_found_nothing(client, admin_client):
    article = ArticleFactory(title="GLP-1 medicines")
    answer(client, article, "no", "Too long.")
    answer(client, article, "yes")
    client.get("/learn/search/", {"q": "zinc dosage"})
    client.get("/learn/search/", {"q": "zinc dosage"})
    recount_dashboard()
    page = admin_client.get("/admin/waitlist/subscriber/dashboard/").content.decode()
    feedback = page[page.index("Reader feedback by article") :]
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", feedback)
    row = cells.index("GLP-1 medicines")
    assert cells[row : row + 5] == ["GLP-1 medicines", "1", "1", "0", "1"]
    searches = page[page.index("Searches that found nothing") :]
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", searches)
    row = cells.index("zinc dosage")
    assert cells[row : row + 2] == ["zinc dosage", "2"]
    assert SearchMiss.objects.get().count == 2
