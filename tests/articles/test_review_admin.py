"""The review as editors and reviewers use it in admin and on the page: one honest message per
save, only possible steps offered, forced requests refused, the waiting text on the real page."""

import datetime as dt
import json
import re

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from articles import workflow
from articles.content import SOURCE_FIELDS, Content
from articles.models import Article, ArticleVersion
from tests.factories import ArticleFactory, PersonFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_page_cache(settings):
    # Pages are read straight after a save in the test's transaction, which never commits: the
    # page cache would not learn of the change (its own tests cover that).
    settings.PAGE_CACHE_SECONDS = 0


def logged_in(user) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


@pytest.fixture
def editor():
    user = StaffFactory(username="eddie", email="eddie@halftime.example")
    user.groups.add(Group.objects.get(name="Editors"))
    return logged_in(user)


@pytest.fixture
def reviewer():
    user = StaffFactory(username="renata", email="renata@halftime.example", first_name="Renata")
    user.groups.add(Group.objects.get(name="Medical reviewers"))
    person = PersonFactory(name="Renata Osei", credentials="MD", user=user)
    client = logged_in(user)
    client.person = person
    return client


def form(article: Article, **overrides) -> dict:
    """The change form as the browser sends it back: the newest text, the details as stored."""
    text = workflow.newest_content(article) if article.pk else Content()
    local = timezone.localtime(article.publish_at) if article.publish_at else None
    data = {
        "title": text.title, "slug": article.slug, "category": article.category_id or "",
        "label": article.label, "summary": text.summary, "tldr": text.tldr, "body": text.body,
        "disclaimer": text.disclaimer, "meta_description": article.meta_description,
        "publish_at_0": local.strftime("%Y-%m-%d") if local else "",
        "publish_at_1": local.strftime("%H:%M:%S") if local else "",
        "author": article.author_id or "", "update_note": "",
        "mentions_services": "" if article.mentions_services is None else article.mentions_services,
        "ai_used": "" if article.ai_used is None else article.ai_used, "ai_use": article.ai_use,
        "faqs-TOTAL_FORMS": str(len(text.faqs)), "faqs-INITIAL_FORMS": "0",
        "sources-TOTAL_FORMS": str(len(text.sources)), "sources-INITIAL_FORMS": "0",
        "updates-TOTAL_FORMS": "0", "updates-INITIAL_FORMS": "0",
    }  # fmt: skip
    for n, (question, answer) in enumerate(text.faqs):
        data.update({f"faqs-{n}-question": question, f"faqs-{n}-answer": answer})
        data[f"faqs-{n}-position"] = n
    for n, row in enumerate(text.sources):
        for name, value in zip(SOURCE_FIELDS, row, strict=True):
            data[f"sources-{n}-{name}"] = "" if value is None else value
        data[f"sources-{n}-position"] = n
    data.update(overrides)
    return data


def save(client: Client, article: Article, **overrides):
    response = client.post(
        f"/admin/articles/article/{article.pk}/change/", form(article, **overrides), follow=True
    )
    assert response.status_code == 200
    return response


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_an_editor_s_change_to_a_live_article_waits_with_one_message_saying_so(editor, client):
    article = ArticleFactory(body="## Dosing\n\nThe usual dose is 50 mg.\n")
    response = save(editor, article, body="## Dosing\n\nThe usual dose is 100 mg.\n")
    assert said(response) == [
        "Saved. The live page keeps the signed-off text until a reviewer signs off this change."
    ]
    public = client.get(article.get_absolute_url()).content.decode()
    assert "50 mg" in public and "100 mg" not in public and "waits for medical review" not in public
    staff = editor.get(article.get_absolute_url()).content.decode()
    assert "A change to this page waits for medical review." in staff
    # The form opens on the waiting text; saving it again as it is changes nothing.
    page = editor.get(f"/admin/articles/article/{article.pk}/change/").content.decode()
    assert "100 mg" in page and "Request medical review" in page
    versions = ArticleVersion.objects.filter(article=article).count()
    save(editor, article)
    assert ArticleVersion.objects.filter(article=article).count() == versions
    assert Article.objects.get(pk=article.pk).sources.count() == 1


def test_no_forced_request_lets_an_editor_put_a_change_live(editor, client):
    article = ArticleFactory(body="## Dosing\n\nThe usual dose is 50 mg.\n")
    save(
        editor,
        article,
        body="## Dosing\n\nThe usual dose is 100 mg.\n",
        last_reviewed=timezone.localdate().isoformat(),
        reviewer=article.reviewer_id,
        stage="signed",
    )
    base = f"/admin/articles/article/{article.pk}/step"
    refused = editor.post(f"{base}/publish_minor_edit/", {"reason": "typo"}, follow=True)
    assert said(refused) == ["You may not publish a change without review."]
    editor.post(f"{base}/request_review/", {"reviewer": ""})
    digest = workflow.newest(article).digest
    review = f"/learn/{article.slug}/review/"
    answer = editor.post(review, {"decision": "sign_off", "digest": digest, "comment": ""})
    assert answer.status_code == 409
    assert "Only a medical reviewer may sign off a text." in answer.content.decode()
    assert editor.post(f"{base}/sign_off/").status_code == 404
    article.refresh_from_db()
    assert article.stage == Article.Stage.IN_REVIEW
    assert "50 mg" in client.get(article.get_absolute_url()).content.decode()


def test_the_reviewer_reads_the_waiting_text_on_its_page_and_signs_it_off(editor, reviewer, client):
    article = ArticleFactory(body="## Dosing\n\nThe usual dose is 50 mg.\n")
    save(editor, article, body="## Dosing\n\nThe usual dose is 100 mg.\n")
    editor.post(
        f"/admin/articles/article/{article.pk}/step/request_review/",
        {"reviewer": reviewer.person.pk},
    )
    page = reviewer.get(f"/learn/{article.slug}/review/").content.decode()
    assert "Waiting for review" in page and "Asked of Renata Osei, MD" in page
    assert "100 mg" in page and "Sign off this text" in page
    diff = re.search(r'href="([^"]+/changes/\?against=\d+)"', page).group(1)
    changes = reviewer.get(diff.replace("&amp;", "&")).content.decode()
    assert "<del>50</del><ins>100</ins>" in changes
    # The editor sees the banner but no decision.
    assert "Sign off this text" not in editor.get(f"/learn/{article.slug}/review/").content.decode()

    digest = workflow.newest(article).digest
    answer = reviewer.post(
        f"/learn/{article.slug}/review/", {"decision": "sign_off", "digest": digest}
    )
    assert answer.status_code == 302
    public = client.get(article.get_absolute_url()).content.decode()
    today = timezone.localdate()
    assert "100 mg" in public and "Medically reviewed by" in public
    assert "Renata Osei, MD" in public and today.strftime("%B %-d, %Y") in public
    data = json.loads(
        re.search(r'<script type="application/ld\+json">(.+?)</script>', public, re.S).group(1)
    )
    page_data = data[0] if isinstance(data, list) else data
    assert page_data["lastReviewed"] == today.isoformat()
    assert page_data["reviewedBy"]["name"] == "Renata Osei"
    after = reviewer.get(f"/learn/{article.slug}/review/").content.decode()
    assert "Renata Osei, MD signed off this text on" in after


def test_a_review_asked_of_a_reviewer_who_is_not_there_is_refused_and_asks_nobody(editor):
    article = ArticleFactory()
    save(editor, article, body="## New\n\nA change.\n")
    gone = PersonFactory(name="Gone Reviewer")
    gone_id = gone.pk
    gone.delete()
    for chosen in (str(gone_id), "not-a-number", "1.5"):
        refused = editor.post(
            f"/admin/articles/article/{article.pk}/step/request_review/",
            {"reviewer": chosen},
            follow=True,
        )
        assert said(refused) == ["That reviewer no longer exists: choose another."]
    assert Article.objects.get(pk=article.pk).stage == Article.Stage.DRAFT


def test_a_returned_change_shows_the_comment_to_its_editor(editor, reviewer):
    article = ArticleFactory()
    save(editor, article, body="## New\n\nA change.\n")
    editor.post(f"/admin/articles/article/{article.pk}/step/request_review/", {"reviewer": ""})
    reviewer.post(
        f"/learn/{article.slug}/review/",
        {
            "decision": "return",
            "digest": workflow.newest(article).digest,
            "comment": "Say where the number comes from.",
        },
    )
    page = editor.get(f"/admin/articles/article/{article.pk}/change/").content.decode()
    assert "Returned by Renata" in page and "Say where the number comes from." in page
    refused = reviewer.post(
        f"/learn/{article.slug}/review/",
        {"decision": "sign_off", "digest": workflow.newest(article).digest},
    )
    assert refused.status_code == 409
    assert "Nobody asked for a review of this text" in refused.content.decode()


def test_the_review_page_asks_strangers_to_log_in_and_hides_from_visitors(client):
    article = ArticleFactory()
    response = client.get(f"/learn/{article.slug}/review/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    visitor = logged_in(StaffFactory(username="plain", is_staff=False))
    assert visitor.get(f"/learn/{article.slug}/review/").status_code == 404


def test_the_review_queue_lists_what_waits_for_whom_beside_the_overdue_queue(editor, reviewer):
    mine = ArticleFactory(title="Waiting for Renata")
    anyone = ArticleFactory(title="Waiting for anyone")
    quiet = ArticleFactory(title="Nothing waits")
    overdue = ArticleFactory(title="Overdue one", next_review_due="2020-01-01")
    other = PersonFactory(name="Someone Else", user=StaffFactory(username="else"))
    elsewhere = ArticleFactory(title="Waiting for someone else")
    for article, person in ((mine, reviewer.person), (anyone, None), (elsewhere, other)):
        save(editor, article, body="## Changed\n\nText.\n")
        url = f"/admin/articles/article/{article.pk}/step/request_review/"
        editor.post(url, {"reviewer": person.pk if person else ""})
    listing = reviewer.get("/admin/articles/article/?review=waiting").content.decode()
    assert all(a.title in listing for a in (mine, anyone, elsewhere))
    assert quiet.title not in listing and overdue.title not in listing
    assert "Waiting for Renata Osei, MD" in listing and "since" in listing
    own = reviewer.get("/admin/articles/article/?review=mine").content.decode()
    assert mine.title in own and anyone.title in own and elsewhere.title not in own
    late = reviewer.get("/admin/articles/article/?review=overdue").content.decode()
    assert overdue.title in late and mine.title not in late
    reviewer.post(
        f"/learn/{mine.slug}/review/",
        {"decision": "return", "digest": workflow.newest(mine).digest, "comment": "Cite it."},
    )
    returned = editor.get("/admin/articles/article/?review=returned").content.decode()
    assert mine.title in returned and anyone.title not in returned
    assert (
        mine.title not in reviewer.get("/admin/articles/article/?review=waiting").content.decode()
    )


def test_the_form_offers_only_the_steps_possible_now(editor):
    draft = ArticleFactory(draft=True)
    page = editor.get(f"/admin/articles/article/{draft.pk}/change/").content.decode()
    assert "Request medical review" in page and "Unpublish" not in page
    assert ">Publish<" not in page
    live = ArticleFactory()
    page = editor.get(f"/admin/articles/article/{live.pk}/change/").content.decode()
    assert "Request medical review" not in page and "Unpublish (back to draft)" in page
    assert "Discard the waiting change" not in page


def test_a_new_draft_keeps_its_faq_and_sources_and_says_what_comes_next(editor):
    data = form(
        Article(title="x"),
        title="Sleep and testosterone",
        slug="sleep",
        summary="How sleep shapes hormones.",
        body="## Why\n\nBecause.",
        **{
            "faqs-TOTAL_FORMS": "1",
            "faqs-0-question": "Does sleep matter?",
            "faqs-0-answer": "Yes.",
            "faqs-0-position": "0",
            "sources-TOTAL_FORMS": "1",
            "sources-0-title": "A study",
            "sources-0-url": "https://example.org/study",
            "sources-0-position": "0",
        },  # fmt: skip
    )
    response = editor.post("/admin/articles/article/add/", data, follow=True)
    assert said(response) == ["Saved as a draft. Request a medical review when it is ready."]
    article = Article.objects.get(slug="sleep")
    assert article.faqs.get().question == "Does sleep matter?"
    assert article.sources.get().url == "https://example.org/study"
    removed = form(article, **{"faqs-0-DELETE": "on"})
    editor.post(f"/admin/articles/article/{article.pk}/change/", removed)
    assert not article.faqs.exists() and article.sources.count() == 1


def test_the_history_lists_texts_and_steps_and_restores_a_text_without_its_state(editor):
    article = ArticleFactory(body="## First\n\nThe first text.\n")
    first = workflow.newest(article)
    save(editor, article, body="## Second\n\nThe second text.\n")
    history = editor.get(f"/admin/articles/article/{article.pk}/history/").content.decode()
    assert "Saved in admin" in history and "A change to the signed text, waiting" in history
    assert "Signed off by" in history
    discarded = editor.post(
        f"/admin/articles/article/{article.pk}/step/discard_change/", follow=True
    )
    assert said(discarded) == [
        "The waiting change was discarded: the signed-off text is the newest again."
    ]
    second = article.versions.filter(note="Saved in admin").get()
    restored = editor.post(
        f"/admin/articles/article/{article.pk}/history/{second.pk}/restore/", follow=True
    )
    assert said(restored) == [
        "Text restored. The live page keeps the signed-off text until a reviewer signs off this "
        "change."
    ]
    article.refresh_from_db()
    assert article.is_public and "The first text." in article.body_html
    assert "The second text." in workflow.newest_content(article).body
    assert (
        editor.get(f"/admin/articles/article/{article.pk}/history/{first.pk}/restore/").status_code
        == 405
    )


def test_the_form_shows_each_row_of_the_newest_text_as_the_browser_sends_it_back(editor):
    article = ArticleFactory()
    page = editor.get(f"/admin/articles/article/{article.pk}/change/").content.decode()
    assert 'name="sources-TOTAL_FORMS" value="1"' in page
    assert 'name="sources-INITIAL_FORMS" value="0"' in page
    title = article.sources.get().title
    assert f'name="sources-0-title" value="{title}"' in page
    assert 'name="faqs-TOTAL_FORMS" value="0"' in page


def test_the_history_calls_a_scheduling_step_scheduled_for_its_date(editor):
    article = ArticleFactory(status="draft", publish_at=None)
    later = timezone.localtime() + dt.timedelta(days=3)
    workflow.publish(article, by=None, at=later)
    history = editor.get(f"/admin/articles/article/{article.pk}/history/").content.decode()
    assert "Scheduled for " + later.strftime("%b %-d, %Y") in history
