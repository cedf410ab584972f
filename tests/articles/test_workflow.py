"""An article's medical review and publication (articles.workflow): a sign-off covers exactly
the text its reviewer read, a change waits meanwhile, and no step is taken that its state or its
person does not allow."""

import datetime as dt
from dataclasses import replace

import pytest
from django.contrib.auth.models import Group, Permission
from django.utils import timezone
from django_fsm_log.models import StateLog

from articles import notices, workflow
from articles.content import Content
from articles.models import Article, ArticleUpdate, ReviewEmail, SignOff
from articles.workflow import ReviewError
from tests.factories import ArticleFactory, PersonFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor():
    user = StaffFactory(username="eddie", email="eddie@halftime.example")
    user.groups.add(Group.objects.get(name="Editors"))
    return user


@pytest.fixture
def reviewer():
    user = StaffFactory(username="renata", email="renata@halftime.example")
    user.groups.add(Group.objects.get(name="Medical reviewers"))
    return PersonFactory(name="Renata Osei", credentials="MD", user=user)


def changed(article: Article, body: str = "## Dosing\n\nThe usual dose is 100 mg.\n") -> Content:
    """The article's newest text with a new body (and a source, which a review needs)."""
    text = workflow.newest_content(article)
    sources = text.sources or (("A guideline", "", "", 2018, "https://example.org/g", "", "", ""),)
    return replace(text, body=body, sources=sources)


def test_a_change_to_a_signed_text_waits_and_the_rows_keep_the_signed_text(editor):
    article = ArticleFactory(body="## Dosing\n\nThe usual dose is 50 mg.\n")
    signed = Content.of(article)
    workflow.save_text(article, changed(article), by=editor, note="Dose corrected")
    article.refresh_from_db()
    assert article.stage == Article.Stage.DRAFT and workflow.waiting(article)
    assert Content.of(article) == signed and "50 mg" in article.body_html
    assert article.is_public
    assert workflow.newest_content(article).body.endswith("100 mg.")


def test_a_sign_off_makes_exactly_the_text_read_public_under_its_reviewer_and_today(
    editor, reviewer
):
    article = ArticleFactory(body="## Dosing\n\nThe usual dose is 50 mg.\n")
    workflow.save_text(
        article, changed(article), by=editor, note="Dose", update_note="Corrected the dose."
    )
    workflow.request_review(article, by=editor, reviewer=reviewer)
    read = workflow.newest(article)
    record = workflow.sign_off(article, by=reviewer.user, digest=read.digest, comment="Agreed.")
    article.refresh_from_db()
    assert (record.version, record.digest, record.reviewer) == (read, read.digest, reviewer)
    assert Content.of(article).digest == read.digest
    assert (article.reviewer, article.last_reviewed) == (reviewer, timezone.localdate())
    assert article.next_review_due == timezone.localdate().replace(
        year=timezone.localdate().year + 1
    )
    assert article.stage == Article.Stage.SIGNED and not workflow.waiting(article)
    assert "100 mg" in article.body_html
    assert timezone.localdate(article.content_updated_at) == timezone.localdate()
    assert ArticleUpdate.objects.get(article=article).note == "Corrected the dose."
    # A change after the sign-off waits again: the sign-off covers one text.
    workflow.save_text(article, changed(article, "## Dosing\n\n200 mg.\n"), by=editor, note="x")
    article.refresh_from_db()
    assert workflow.waiting(article) and "100 mg" in article.body_html
    assert SignOff.objects.filter(article=article).first().digest == read.digest


def test_a_sign_off_of_a_text_that_changed_while_it_was_read_is_refused(editor, reviewer):
    article = ArticleFactory()
    workflow.save_text(article, changed(article), by=editor, note="first")
    workflow.request_review(article, by=editor)
    read = workflow.newest(article).digest
    workflow.save_text(article, changed(article, "## Later\n\nMore.\n"), by=editor, note="again")
    with pytest.raises(ReviewError, match="The text changed while you were reading it"):
        workflow.sign_off(article, by=reviewer.user, digest=read)
    article.refresh_from_db()
    assert (
        article.stage == Article.Stage.IN_REVIEW
        and not article.sign_offs.exclude(via=SignOff.Via.CARRIED).exists()
    )


def test_an_editor_cannot_sign_off_or_return_even_by_calling_the_service(editor, reviewer):
    article = ArticleFactory()
    workflow.save_text(article, changed(article), by=editor, note="x")
    workflow.request_review(article, by=editor)
    digest = workflow.newest(article).digest
    PersonFactory(name="Eddie", user=editor)  # an editor with a page is still no reviewer
    with pytest.raises(ReviewError, match="Only a medical reviewer may sign off"):
        workflow.sign_off(article, by=editor, digest=digest)
    with pytest.raises(ReviewError, match="Only a medical reviewer may return"):
        workflow.return_to_editor(article, by=editor, digest=digest, comment="no")
    with pytest.raises(ReviewError, match="You may not publish a change without review"):
        workflow.publish_minor_edit(article, by=editor, reason="typo")
    article.refresh_from_db()
    assert workflow.waiting(article) and "A paragraph about the subject" in article.body


def test_a_reviewer_without_a_page_cannot_sign_off(editor):
    user = StaffFactory(username="nopage")
    user.groups.add(Group.objects.get(name="Medical reviewers"))
    article = ArticleFactory()
    workflow.save_text(article, changed(article), by=editor, note="x")
    workflow.request_review(article, by=editor)
    with pytest.raises(ReviewError, match="not linked to a reviewer's page"):
        workflow.sign_off(article, by=user, digest=workflow.newest(article).digest)


def test_a_review_is_never_dated_in_the_future_by_any_path(reviewer):
    article = ArticleFactory(draft=True)
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    workflow.save_text(article, changed(article), note="x")
    with pytest.raises(ValueError, match="cannot be dated in the future"):
        workflow.sign_off_from_import(
            article, workflow.newest(article), reviewer=reviewer, on=tomorrow, operator="ops"
        )
    article.refresh_from_db()
    assert article.last_reviewed is None and not article.sign_offs.exists()
    # The reviewer's own sign-off takes today's date; nothing lets them choose one.
    workflow.request_review(article, by=None)
    workflow.sign_off(article, by=reviewer.user, digest=workflow.newest(article).digest)
    assert Article.objects.get(pk=article.pk).last_reviewed == timezone.localdate()


def test_a_returned_change_carries_the_comment_and_the_page_keeps_the_signed_text(editor, reviewer):
    article = ArticleFactory()
    workflow.save_text(article, changed(article), by=editor, note="x")
    workflow.request_review(article, by=editor, reviewer=reviewer)
    with pytest.raises(ReviewError, match="Say what needs changing"):
        workflow.return_to_editor(
            article, by=reviewer.user, digest=workflow.newest(article).digest, comment=" "
        )
    workflow.return_to_editor(
        article,
        by=reviewer.user,
        digest=workflow.newest(article).digest,
        comment="Cite the 2018 guideline for the dose.",
    )
    article.refresh_from_db()
    assert article.stage == Article.Stage.RETURNED and workflow.waiting(article)
    entry = workflow.log(article).first()
    assert (entry.transition, entry.by, entry.description) == (
        "return_to_editor",
        reviewer.user,
        "Cite the 2018 guideline for the dose.",
    )
    # The editor changes it and asks again.
    workflow.save_text(
        article, changed(article, "## Dosing\n\nSee the guideline.\n"), by=editor, note="y"
    )
    workflow.request_review(article, by=editor)
    assert Article.objects.get(pk=article.pk).stage == Article.Stage.IN_REVIEW


def test_each_step_is_recorded_with_who_and_when(editor, reviewer):
    article = ArticleFactory()
    workflow.save_text(article, changed(article), by=editor, note="x")
    workflow.request_review(article, by=editor)
    workflow.sign_off(article, by=reviewer.user, digest=workflow.newest(article).digest)
    steps = [(e.transition, e.by) for e in StateLog.objects.for_(article).order_by("pk")]
    assert steps == [
        ("change", editor),
        ("request_review", editor),
        ("sign_off", reviewer.user),
    ]


def test_a_request_needs_a_change_a_summary_and_a_source(editor):
    signed = ArticleFactory()
    with pytest.raises(ReviewError, match="Its text is signed off: there is no change"):
        workflow.request_review(signed, by=editor)
    draft = ArticleFactory(draft=True, summary="")
    with pytest.raises(ReviewError, match="needs a summary and at least one source"):
        workflow.request_review(draft, by=editor)


def test_a_minor_edit_goes_live_with_its_reason_and_keeps_the_review_line(reviewer):
    minor = StaffFactory(username="chief")
    minor.user_permissions.add(
        *Permission.objects.filter(codename__in=["publish_minor_edit", "change_article"])
    )
    article = ArticleFactory(reviewer=reviewer)
    before = (article.reviewer, article.last_reviewed)
    workflow.save_text(article, changed(article, "## Dosing\n\nTypo fixed.\n"), by=minor, note="t")
    with pytest.raises(ReviewError, match="Say why"):
        workflow.publish_minor_edit(article, by=minor, reason="")
    workflow.publish_minor_edit(article, by=minor, reason="A typo in the heading")
    article.refresh_from_db()
    assert "Typo fixed." in article.body_html and not workflow.waiting(article)
    assert (article.reviewer, article.last_reviewed) == before
    assert workflow.log(article).first().description == "A typo in the heading"


def test_restoring_a_text_saved_while_scheduled_keeps_a_live_article_live_with_the_text_waiting(
    editor,
):
    article = ArticleFactory(
        body="## Old\n\nThe text when it was scheduled.\n",
        publish_at=timezone.now() + dt.timedelta(days=2),
    )
    scheduled_version = workflow.newest(article)
    Article.objects.filter(pk=article.pk).update(publish_at=timezone.now() - dt.timedelta(days=1))
    article.refresh_from_db()
    workflow.save_text(article, changed(article, "## New\n\nA newer text.\n"), by=editor, note="n")
    # (signed off meanwhile: the rows hold the newer text)
    workflow.request_review(article, by=editor)
    reviewer = PersonFactory(name="Rev Iewer", user=StaffFactory(username="rev"))
    reviewer.user.groups.add(Group.objects.get(name="Medical reviewers"))
    workflow.sign_off(article, by=reviewer.user, digest=workflow.newest(article).digest)
    article.refresh_from_db()
    live = (
        article.status,
        article.publish_at,
        article.slug,
        article.reviewer,
        article.last_reviewed,
    )

    workflow.restore(article, scheduled_version, by=editor)
    article.refresh_from_db()
    assert article.is_public
    assert (
        article.status,
        article.publish_at,
        article.slug,
        article.reviewer,
        article.last_reviewed,
    ) == live
    assert "A newer text." in article.body_html
    assert workflow.waiting(article)
    assert "The text when it was scheduled." in workflow.newest_content(article).body


def test_a_draft_signed_off_is_published_at_its_date_or_now(editor, reviewer):
    article = ArticleFactory(draft=True, publish_at=timezone.now() - dt.timedelta(days=3))
    workflow.save_text(article, changed(article), by=editor, note="x")
    workflow.request_review(article, by=editor)
    before = timezone.now()
    workflow.sign_off(article, by=reviewer.user, digest=workflow.newest(article).digest)
    article.refresh_from_db()
    assert article.is_public and article.publish_at >= before
    later = ArticleFactory(draft=True, publish_at=timezone.now() + dt.timedelta(days=3))
    workflow.save_text(later, changed(later), by=editor, note="x")
    workflow.request_review(later, by=editor)
    workflow.sign_off(later, by=reviewer.user, digest=workflow.newest(later).digest)
    later.refresh_from_db()
    assert later.state == "Scheduled"


def test_discarding_a_waiting_change_makes_the_signed_text_the_newest_again(editor):
    article = ArticleFactory()
    signed = Content.of(article)
    workflow.save_text(article, changed(article), by=editor, note="x")
    workflow.discard_change(article, by=editor)
    article.refresh_from_db()
    assert not workflow.waiting(article) and workflow.newest_content(article) == signed


def test_a_step_over_a_row_that_moved_meanwhile_is_refused(editor, reviewer):
    article = ArticleFactory()
    workflow.save_text(article, changed(article), by=editor, note="x")
    stale = Article.objects.get(pk=article.pk)
    workflow.request_review(article, by=editor)
    workflow.sign_off(article, by=reviewer.user, digest=workflow.newest(article).digest)
    with pytest.raises(ReviewError):
        workflow.request_review(stale, by=editor)
    assert Article.objects.get(pk=article.pk).stage == Article.Stage.SIGNED


def test_the_review_emails_reach_the_reviewer_and_then_the_editor(mail, editor, reviewer):
    article = ArticleFactory(title="Testosterone and sleep")
    workflow.save_text(article, changed(article), by=editor, note="x")
    workflow.request_review(article, by=editor, reviewer=reviewer)
    assert notices.send_due() == 1
    asked = mail.to("renata@halftime.example")[0]
    assert asked.message["Subject"] == "Medical review requested: Testosterone and sleep"
    assert f"http://localhost:8000/learn/{article.slug}/review/" in asked.text
    workflow.return_to_editor(
        article, by=reviewer.user, digest=workflow.newest(article).digest, comment="Add a source."
    )
    assert notices.send_due() == 1
    told = mail.to("eddie@halftime.example")[0]
    assert told.message["Subject"] == "Returned with a comment: Testosterone and sleep"
    assert "Add a source." in told.text
    assert not ReviewEmail.objects.filter(sent_at__isnull=True).exists()


def test_a_request_to_the_group_mails_every_active_reviewer(editor, reviewer):
    other = StaffFactory(username="second", email="second@halftime.example")
    other.groups.add(Group.objects.get(name="Medical reviewers"))
    StaffFactory(username="gone", email="gone@halftime.example", is_active=False).groups.add(
        Group.objects.get(name="Medical reviewers")
    )
    article = ArticleFactory()
    workflow.save_text(article, changed(article), by=editor, note="x")
    workflow.request_review(article, by=editor)
    assert set(ReviewEmail.objects.values_list("to", flat=True)) == {
        "renata@halftime.example",
        "second@halftime.example",
    }


def test_an_email_the_server_refuses_stays_queued_with_its_error(settings, editor, reviewer):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    article = ArticleFactory()
    workflow.save_text(article, changed(article), by=editor, note="x")
    workflow.request_review(article, by=editor, reviewer=reviewer)
    assert notices.send_due() == 0
    email = ReviewEmail.objects.get()
    assert email.sent_at is None and email.attempts == 1 and email.last_error


def test_an_article_with_its_versions_and_sign_offs_can_be_deleted(editor, reviewer):
    article = ArticleFactory()
    workflow.save_text(article, changed(article), by=editor, note="x")
    workflow.request_review(article, by=editor, reviewer=reviewer)
    workflow.sign_off(article, by=reviewer.user, digest=workflow.newest(article).digest)
    article.delete()
    assert not SignOff.objects.exists() and not ReviewEmail.objects.exists()
