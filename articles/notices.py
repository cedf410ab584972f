"""The review's emails: a reviewer is asked, an editor hears the answer or what the citation
monitor found. Each is a row of the outbox (`ReviewEmail`) written in the transaction of what
causes it; a worker sends it once that commits, through Django's mail API (SMTP or the email
service, as configured), and the sweep sends what a lost task left. A staff address is mailed
whatever the waitlist's suppression list says."""

import datetime as dt
import logging

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django_fsm_log.models import StateLog

from .models import Article, Finding, Person, ReviewEmail

logger = logging.getLogger(__name__)

SEND_TASK = "articles.tasks.send_review_emails"
MAX_ATTEMPTS = 5
# An email unsent this long after it was written was missed by its task.
SWEEP_AFTER = dt.timedelta(seconds=30)


def reviewers(reviewer: Person | None) -> list:
    """The accounts to ask: the chosen reviewer's, or every active medical reviewer's."""
    if reviewer is not None:
        return [reviewer.user]
    User = get_user_model()
    may_sign = Q(groups__permissions__codename="sign_off") | Q(
        user_permissions__codename="sign_off"
    )
    return list(User.objects.filter(may_sign, is_active=True).exclude(email="").distinct())


def review_url(article: Article) -> str:
    return settings.SITE_URL + reverse("articles:review", args=[article.slug])


def name_of(user) -> str:
    if user is None:
        return "An editor"
    return user.get_full_name() or user.get_username()


def review_requested(article: Article, *, by, reviewer: Person | None) -> None:
    context = {"article": article, "by": name_of(by), "url": review_url(article)}
    for user in reviewers(reviewer):
        context["name"] = user.get_short_name() or user.get_username()
        _queue(
            article, user.email, f"Medical review requested: {article.title}", "requested", context
        )


def editor_of(article: Article):
    """The editor who asked for the article's last review, if any."""
    asked = StateLog.objects.for_(article).filter(transition="request_review").first()
    return asked.by if asked else None


def finding_readers(article: Article) -> list:
    """Who hears of a citation finding: the article's editor, or, when it has none who can be
    mailed, every active account that may resolve findings."""
    editor = editor_of(article)
    if editor is not None and editor.is_active and editor.email:
        return [editor]
    User = get_user_model()
    may_resolve = Q(groups__permissions__codename="change_finding") | Q(
        user_permissions__codename="change_finding"
    )
    return list(User.objects.filter(may_resolve, is_active=True).exclude(email="").distinct())


def review_decided(article: Article, *, by, comment: str, signed: bool) -> None:
    """Tell the editor who asked for the review (the article's last request)."""
    editor = editor_of(article)
    if editor is None or not editor.email:
        return
    admin_url = settings.SITE_URL + reverse("admin:articles_article_change", args=[article.pk])
    context = {
        "article": article,
        "by": name_of(by),
        "comment": comment,
        "name": editor.get_short_name() or editor.get_username(),
        "url": admin_url if not signed else settings.SITE_URL + article.get_absolute_url(),
    }
    verb = "Signed off" if signed else "Returned with a comment"
    template = "signed" if signed else "returned"
    _queue(article, editor.email, f"{verb}: {article.title}", template, context)


def findings_made(article: Article, findings: list) -> None:
    """Tell the article's editors what the citation monitor found in its sources."""
    context = {
        "article": article,
        "findings": findings,
        "url": settings.SITE_URL + Finding.queue_url(article.pk),
    }
    subject = f"Check the sources: {article.title}"
    for user in finding_readers(article):
        context["name"] = user.get_short_name() or user.get_username()
        _queue(article, user.email, subject, "findings", context)


def _queue(article: Article, to: str, subject: str, template: str, context: dict) -> None:
    if not to:
        return
    body = render_to_string(f"articles/email/review_{template}.txt", context)
    ReviewEmail.objects.create(article=article, to=to, subject=subject, body=body)
    transaction.on_commit(enqueue)


def enqueue() -> None:
    try:
        current_app.send_task(SEND_TASK)
    except Exception:
        logger.warning("review emails: the broker is unavailable; the sweep sends them")


def due():
    return ReviewEmail.objects.filter(sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS)


def send_due() -> int:
    """Send every email due, each in its own transaction holding its row, so that two workers
    never send one twice. Returns how many were sent."""
    sent = 0
    connection = get_connection(fail_silently=False)
    for pk in list(due().order_by("created_at").values_list("pk", flat=True)):
        with transaction.atomic():
            email = due().select_for_update(skip_locked=True).filter(pk=pk).first()
            if email is None:
                continue
            message = EmailMessage(email.subject, email.body, to=[email.to], connection=connection)
            try:
                message.send()
            except Exception as exc:
                email.attempts += 1
                email.last_error = str(exc)[:300]
                email.save(update_fields=["attempts", "last_error"])
                logger.warning("review email %s not sent: %s", email.pk, exc)
                continue
            email.sent_at = timezone.now()
            email.attempts += 1
            email.save(update_fields=["sent_at", "attempts"])
            sent += 1
    return sent


def sweep() -> int:
    """Run by beat: send what was missed (the broker was down, a worker died)."""
    missed = due().filter(created_at__lt=timezone.now() - SWEEP_AFTER).count()
    if missed:
        enqueue()
    return missed
