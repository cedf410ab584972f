"""History, and a medical review bound to the text it covered."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from reversion.models import Version

from articles.importer import import_articles
from articles.models import Article, ArticleRevision
from tests.articles.test_import import GOOD, write
from tests.factories import ArticleFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_page_cache(settings):
    # Pages here are read straight after a save in the test's transaction, which never commits:
    # the page cache would not learn of the change (its own tests cover that).
    settings.PAGE_CACHE_SECONDS = 0


Kind = ArticleRevision.Kind


def editor(*extra: str) -> Client:
    user = StaffFactory()
    codenames = ["view_article", "change_article", "add_article", "view_person", *extra]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def change_form(article: Article, **overrides) -> dict:
    source = article.sources.first()
    data = {
        "title": article.title,
        "slug": article.slug,
        "category": article.category_id,
        "label": article.label,
        "summary": article.summary,
        "tldr": article.tldr,
        "body": article.body,
        "status": article.status,
        "publish_at_0": timezone.localtime(article.publish_at).strftime("%Y-%m-%d"),
        "publish_at_1": timezone.localtime(article.publish_at).strftime("%H:%M:%S"),
        "author": article.author_id or "",
        "reviewer": article.reviewer_id or "",
        "last_reviewed": str(article.last_reviewed),
        "next_review_due": str(article.next_review_due or ""),
        "disclaimer": "",
        "meta_description": "",
        "update_note": "",
        "minor_reason": "",
        "faqs-TOTAL_FORMS": "0",
        "faqs-INITIAL_FORMS": "0",
        "sources-TOTAL_FORMS": "0",
        "sources-INITIAL_FORMS": "0",
        "updates-TOTAL_FORMS": "0",
        "updates-INITIAL_FORMS": "0",
    }
    if source:
        data.update({
            "sources-TOTAL_FORMS": "1",
            "sources-INITIAL_FORMS": "1",
            "sources-0-id": source.pk,
            "sources-0-article": article.pk,
            **{
                f"sources-0-{name}": getattr(source, name)
                for name in ("title", "authors", "publisher", "year", "doi")
            },
            "sources-0-position": "0",
        })  # fmt: skip
    data.update(overrides)
    return data


def draft_form(article: Article) -> dict:
    """The change form of a draft that has no review yet."""
    return change_form(
        article, status="draft", publish_at_0="", publish_at_1="", last_reviewed="", reviewer=""
    )


def save(client: Client, article: Article, **overrides):
    response = client.post(
        f"/admin/articles/article/{article.pk}/change/", change_form(article, **overrides)
    )
    assert response.status_code in (200, 302)
    return response


REVIEWED = "## Dosing\n\nThe usual dose is 50 mg a day.\n"
CHANGED = "## Dosing\n\nThe usual dose is 100 mg a day.\n"


def test_an_edit_after_review_waits_and_the_public_page_keeps_the_reviewed_text(client):
    article = ArticleFactory(body=REVIEWED)
    staff = editor()

    response = save(staff, article, body=CHANGED, title="Dosing, rewritten")

    assert response.status_code == 302
    public = client.get(article.get_absolute_url()).content.decode()
    assert "50 mg a day" in public and "100 mg" not in public
    # The feed, the sitemap's date and the share image follow the public text too.
    assert "Dosing, rewritten" not in client.get("/learn/feed/").content.decode()
    assert article.title in client.get("/learn/feed/").content.decode()
    assert Article.objects.get().title == article.title
    assert Article.objects.get().body == REVIEWED
    assert article.revisions.first().kind == Kind.PENDING
    # The editor goes on from the pending text, told it waits for review.
    form = staff.get(f"/admin/articles/article/{article.pk}/change/").content.decode()
    assert "100 mg a day" in form and "waiting for medical review" in form
    # Search follows the public text.
    assert list(client.get("/learn/search/?q=100+mg").context["results"]) == []

    # A reviewer's new date publishes it, with the editor's line in the Updates list.
    reviewed_on = timezone.localdate()
    save(
        staff,
        article,
        body=CHANGED,
        title="Dosing, rewritten",
        last_reviewed=str(reviewed_on),
        update_note="The usual dose now follows the 2026 guideline.",
    )
    public = client.get(article.get_absolute_url()).content.decode()
    assert "100 mg a day" in public and "50 mg" not in public
    assert "The usual dose now follows the 2026 guideline." in public
    article.refresh_from_db()
    assert article.revisions.first().kind == Kind.PUBLISHED
    assert timezone.localdate(article.content_updated_at) == reviewed_on
    assert "<dt>Updated</dt>" in public
    assert "Dosing, rewritten" in client.get("/learn/feed/").content.decode()
    history = staff.get(f"/admin/articles/article/{article.pk}/history/").content.decode()
    assert "Published after medical review (the review of" in history
    assert "Waiting for medical review" in history


def test_a_review_that_changes_nothing_moves_the_review_date_only(client):
    article = ArticleFactory(body=REVIEWED)
    save(editor(), article, last_reviewed=str(timezone.localdate()))
    article.refresh_from_db()
    assert article.last_reviewed == timezone.localdate()
    assert article.content_updated_at is None and article.updated_on is None
    assert article.revisions.first().kind == Kind.REVIEW


def test_a_minor_edit_needs_the_permission_and_a_reason_and_is_logged(client):
    article = ArticleFactory(body="## Dosing\n\nThe usual dose is 50 mg a dya.\n")
    fixed = "## Dosing\n\nThe usual dose is 50 mg a day.\n"

    refused = save(editor(), article, body=fixed, minor_reason="Typo")
    assert refused.status_code == 200
    assert "You may not publish a change without review" in refused.content.decode()
    assert (
        Article.objects.get().body != fixed
        and not article.revisions.filter(kind=Kind.PENDING).exists()
    )

    allowed = save(editor("publish_minor_edit"), article, body=fixed, minor_reason="Typo: dya")
    assert allowed.status_code == 302
    assert Article.objects.get().body == fixed.strip()
    assert "a day." in client.get(article.get_absolute_url()).content.decode()
    edit = article.revisions.first()
    assert (edit.kind, edit.reason) == (Kind.MINOR, "Typo: dya")
    history = editor().get(f"/admin/articles/article/{article.pk}/history/").content.decode()
    assert "Minor edit" in history and "Typo: dya" in history


def test_restoring_an_earlier_version_brings_its_body_back_and_is_in_the_history():
    article = ArticleFactory(draft=True, body="## One\n\nThe first text.\n")
    staff = editor()
    form = draft_form(article)
    url = f"/admin/articles/article/{article.pk}/change/"
    assert staff.post(url, form).status_code == 302
    assert staff.post(url, {**form, "body": "## Two\n\nThe second text.\n"}).status_code == 302
    first = article.revisions.order_by("revision_id").first().revision
    version = first.version_set.get(object_id=str(article.pk), content_type__model="article")

    restore_url = f"/admin/articles/article/{article.pk}/history/{version.pk}/"
    assert "The first text." in staff.get(restore_url).content.decode()
    assert Article.objects.get().body == "## Two\n\nThe second text."  # viewing kept nothing
    assert staff.post(restore_url, {**form, "body": article.body}).status_code == 302

    assert Article.objects.get().body == "## One\n\nThe first text."
    newest = article.revisions.first()
    assert newest.revision.pk > first.pk
    assert "Reverted to previous version" in newest.revision.get_comment()
    history = staff.get(f"/admin/articles/article/{article.pk}/history/").content.decode()
    assert history.count("/history/") >= 3


def test_the_changes_page_shows_the_changed_sentence():
    article = ArticleFactory(draft=True, body="## Dosing\n\nTake it daily. It is safe.\n")
    staff = editor()
    draft = draft_form(article)
    url = f"/admin/articles/article/{article.pk}/change/"
    staff.post(url, draft)
    staff.post(url, {**draft, "body": "## Dosing\n\nTake it weekly. It is safe.\n"})
    newest = article.revisions.first().revision
    version = newest.version_set.get(content_type__model="article")
    page = staff.get(f"/admin/articles/article/{article.pk}/history/{version.pk}/changes/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "<del>daily.</del>" in text and "<ins>weekly.</ins>" in text
    assert "It is safe." in text


def test_reimporting_a_published_article_follows_the_review_rule(tmp_path, client):
    import_articles([write(tmp_path, "a.md", GOOD)])
    article = Article.objects.get()
    assert article.is_public

    changed = GOOD.replace("A lab report shows total testosterone.", "A lab report shows more.")
    import_articles([write(tmp_path, "a.md", changed)])
    page = client.get(article.get_absolute_url()).content.decode()
    assert "shows total testosterone" in page and "shows more" not in page
    assert article.revisions.first().kind == Kind.PENDING

    newer = changed.replace("last_reviewed: 2026-10-01", "last_reviewed: 2026-11-15")
    import_articles([write(tmp_path, "a.md", newer)])
    page = client.get(article.get_absolute_url()).content.decode()
    assert "shows more" in page
    article.refresh_from_db()
    assert article.last_reviewed == dt.date(2026, 11, 15)
    assert article.revisions.first().kind == Kind.PUBLISHED


def test_a_glossary_term_s_history_shows_the_changed_definition_and_restores_it(staff_client):
    from articles.models import GlossaryTerm

    article = ArticleFactory(body="## Basics\n\nYour SHBG level matters.\n")
    form = {"term": "SHBG", "slug": "shbg", "aliases": "", "definition": "A carrier protein."}
    assert staff_client.post("/admin/articles/glossaryterm/add/", form).status_code == 302
    term = GlossaryTerm.objects.get()
    url = f"/admin/articles/glossaryterm/{term.pk}/change/"
    newer = {**form, "definition": "A protein that carries hormones."}
    assert staff_client.post(url, newer).status_code == 302
    versions = Version.objects.get_for_object(term)  # newest first
    assert len(versions) == 2
    changes = staff_client.get(
        f"/admin/articles/glossaryterm/{term.pk}/history/{versions[0].pk}/changes/"
    ).content.decode()
    assert "A <del>carrier protein.</del><ins>protein that carries hormones.</ins>" in changes

    restore = f"/admin/articles/glossaryterm/{term.pk}/history/{versions[1].pk}/"
    assert staff_client.post(restore, form).status_code == 302
    assert GlossaryTerm.objects.get().definition == "A carrier protein."
    assert "A carrier protein" in Article.objects.get(pk=article.pk).body_html
    assert len(Version.objects.get_for_object(term)) == 3


def test_a_campaign_s_history_shows_what_changed(staff_client):
    from waitlist.models import Campaign

    form = {
        "name": "Launch", "subject": "We are live", "preheader": "", "body": "## Hi\n\nNews.",
        "send_at_0": "", "send_at_1": "",
    }  # fmt: skip
    assert staff_client.post("/admin/waitlist/campaign/add/", form).status_code == 302
    campaign = Campaign.objects.get()
    url = f"/admin/waitlist/campaign/{campaign.pk}/change/"
    assert staff_client.post(url, {**form, "subject": "We are live in Texas"}).status_code == 302
    newest = Version.objects.get_for_object(campaign)[0]
    history = staff_client.get(f"/admin/waitlist/campaign/{campaign.pk}/history/")
    assert history.status_code == 200 and "What changed" in history.content.decode()
    changes = staff_client.get(
        f"/admin/waitlist/campaign/{campaign.pk}/history/{newest.pk}/changes/"
    ).content.decode()
    assert "We are live<ins> in Texas</ins>" in changes


def test_a_version_opens_only_in_its_own_model_s_admin_and_articles_are_not_recovered(
    staff_client,
):
    from articles.models import GlossaryTerm

    article = ArticleFactory(draft=True)
    term = GlossaryTerm.objects.create(term="SHBG", slug="shbg", definition="A protein.")
    staff_client.post(
        f"/admin/articles/article/{article.pk}/change/",
        draft_form(article),
    )
    version = Version.objects.get_for_object(article)[0]
    # An article's version under a glossary term whose id it shares, or to recover.
    assert version.object_id == str(article.pk)
    GlossaryTerm.objects.filter(pk=term.pk).update(id=article.pk)
    assert (
        staff_client.get(
            f"/admin/articles/glossaryterm/{article.pk}/history/{version.pk}/"
        ).status_code
        == 404
    )
    assert staff_client.get(f"/admin/articles/article/recover/{version.pk}/").status_code == 404
    assert staff_client.get("/admin/articles/article/recover/").status_code == 404


def test_a_draft_campaign_takes_an_earlier_version_and_a_sent_one_does_not(staff_client):
    from waitlist.models import Campaign

    form = {
        "name": "Launch", "subject": "We are live", "preheader": "", "body": "## Hi\n\nNews.",
        "send_at_0": "", "send_at_1": "",
    }  # fmt: skip
    staff_client.post("/admin/waitlist/campaign/add/", form)
    campaign = Campaign.objects.get()
    url = f"/admin/waitlist/campaign/{campaign.pk}/change/"
    staff_client.post(url, {**form, "subject": "We are live in Texas"})
    first = Version.objects.get_for_object(campaign)[1]
    restore = f"/admin/waitlist/campaign/{campaign.pk}/history/{first.pk}/"

    assert "We are live" in staff_client.get(restore).content.decode()
    assert staff_client.post(restore, form).status_code == 302
    campaign.refresh_from_db()
    assert (campaign.subject, campaign.status) == ("We are live", Campaign.Status.DRAFT)

    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENT)
    assert staff_client.post(restore, form).status_code == 403
    assert Campaign.objects.get().status == Campaign.Status.SENT


def test_an_edit_to_an_article_whose_related_reading_was_deleted_saves(client):
    article = ArticleFactory(body=REVIEWED)
    other = ArticleFactory(title="Gone soon")
    article.related.add(other)
    staff = editor()
    save(staff, article, body=REVIEWED, related=[other.pk])  # kept as the public revision
    other.delete()

    response = save(staff, article, body=CHANGED)

    assert response.status_code == 302
    assert Article.objects.get(pk=article.pk).body == REVIEWED.strip()
    assert article.revisions.first().kind == Kind.PENDING
    assert not Article.related.through.objects.filter(from_article=article).exists()


def test_the_publish_action_leaves_published_articles_and_their_waiting_edits_alone():
    article = ArticleFactory(body=REVIEWED)
    staff = editor()
    save(staff, article, body=CHANGED)
    response = staff.post(
        "/admin/articles/article/",
        {"action": "publish", "_selected_action": [article.pk]},
        follow=True,
    )
    assert "1 article(s) were published or scheduled already." in response.content.decode()
    assert article.revisions.first().kind == Kind.PENDING


def test_a_browser_s_line_breaks_are_no_change(client):
    """Browsers send a textarea's line breaks as CRLF; the files and the rows have LF."""
    article = ArticleFactory(body=REVIEWED, tldr="First point\nSecond point")
    staff = editor()
    response = save(
        staff, article, body=REVIEWED.replace("\n", "\r\n"), tldr="First point\r\nSecond point"
    )
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.body == REVIEWED.strip() and article.tldr == "First point\nSecond point"
    assert article.revisions.first().kind == Kind.DETAILS
    assert "No fields changed." in article.revisions.first().revision.get_comment()
