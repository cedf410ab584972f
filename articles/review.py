"""The medical reviewer's page and the editor's steps.

A reviewer reads the newest text of an article on its real page (`/learn/<slug>/review/`, staff
only), under a banner that says what waits, since when, for whom and what changed, and signs it
off or returns it there: the form carries the digest of the text shown, so a sign-off covers
exactly what was read. The change form's buttons post to `step` (request a review, publish,
unpublish, a minor edit, discard a waiting change); each is offered only when it can be taken.
"""

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods

from . import citations, content, workflow
from .content import Content
from .models import Article, Person
from .seo import article_structured_data
from .views import can_preview
from .workflow import ReviewError, Stage


def _banner(article: Article, version, user) -> dict:
    signed = workflow.signed_off(article)
    returned = None
    if article.stage == Stage.RETURNED:
        returned = workflow.log(article).filter(transition="return_to_editor").first()
    diff_url = None
    if signed and version and signed.version_id != version.pk:
        diff_url = (
            reverse("admin:articles_article_changes", args=[article.pk, version.pk])
            + f"?against={signed.version_id}"
        )
    return {
        "version": version,
        "stage": article.get_stage_display(),
        "waiting": article.stage == Stage.IN_REVIEW,
        "requested_of": article.review_requested_of,
        "requested_at": article.review_requested_at,
        "signed": signed,
        "signed_this": bool(signed and version and signed.digest == version.digest),
        "returned": returned,
        "diff_url": diff_url,
        "can_decide": article.stage == Stage.IN_REVIEW and user.has_perm("articles.sign_off"),
        "admin_url": reverse("admin:articles_article_change", args=[article.pk]),
    }


@require_http_methods(["GET", "HEAD", "POST"])
def review_page(request, slug: str):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    if not can_preview(request):
        raise Http404("Only staff read an article's waiting version.")
    article = get_object_or_404(Article.objects.select_related("category", "author"), slug=slug)
    error = ""
    if request.method == "POST":
        digest, comment = request.POST.get("digest", ""), request.POST.get("comment", "")
        try:
            if request.POST.get("decision") == "sign_off":
                workflow.sign_off(article, by=request.user, digest=digest, comment=comment)
            elif request.POST.get("decision") == "return":
                workflow.return_to_editor(article, by=request.user, digest=digest, comment=comment)
            else:
                raise ReviewError("Choose to sign off the text or to return it.")
        except ReviewError as exc:
            error = str(exc)
            article.refresh_from_db()
        else:
            return redirect("articles:review", slug=article.slug)
    version = workflow.newest(article)
    text = Content.from_data(version.data) if version else Content.of(article)
    shown, faqs, sources = content.shown(article, text)
    citations.retractions(article, sources)
    context = {
        "article": shown,
        "faqs": faqs,
        "sources": sources,
        "preview": True,
        "structured_data": article_structured_data(shown, faqs=faqs, sources=sources),
        "review": {**_banner(article, version, request.user), "error": error},
    }
    return TemplateResponse(request, "articles/article.html", context, status=409 if error else 200)


def step(model_admin, request, object_id: str, name: str):
    """A button of the change form: one step of the article's lifecycle, then back to it."""
    article = model_admin.get_object(request, object_id)
    if article is None or not model_admin.has_change_permission(request, article):
        raise Http404("No such article.")
    by = request.user
    try:
        if name == "request_review":
            reviewer = None
            if chosen := request.POST.get("reviewer"):
                if chosen.isdigit():
                    reviewer = Person.objects.filter(pk=int(chosen)).first()
                if reviewer is None:
                    raise ReviewError("That reviewer no longer exists: choose another.")
            workflow.request_review(article, by=by, reviewer=reviewer)
            done = f"Review requested from {reviewer or 'the medical reviewers'}."
        elif name == "publish_minor_edit":
            workflow.publish_minor_edit(article, by=by, reason=request.POST.get("reason", ""))
            done = "Published as a minor edit."
        elif name == "discard_change":
            workflow.discard_change(article, by=by)
            done = "The waiting change was discarded: the signed-off text is the newest again."
        elif name == "publish":
            workflow.publish(article, by=by)
            done = "Published." if article.is_public else "Scheduled."
        elif name == "unpublish":
            workflow.unpublish(article, by=by)
            done = "Unpublished: it is a draft again, and its page is gone from the site."
        else:
            raise Http404("No such step.")
    except ReviewError as exc:
        model_admin.message_user(request, str(exc), messages.ERROR)
    else:
        model_admin.message_user(request, done, messages.SUCCESS)
    return redirect("admin:articles_article_change", article.pk)


def reviewers() -> list[Person]:
    """The people a review can be asked of: those with an account."""
    return list(Person.objects.filter(user__isnull=False, user__is_active=True))


# Search results show about this many characters of a title.
SEARCH_TITLE_LENGTH = 70


def title_in_search(title: str) -> str:
    if len(title) <= SEARCH_TITLE_LENGTH:
        return f"Shown whole ({len(title)} characters)."
    shown = title[:SEARCH_TITLE_LENGTH].rsplit(" ", 1)[0]
    return (
        f"Cut in search results: {len(title)} characters, about {SEARCH_TITLE_LENGTH} shown "
        f"(“{shown} …”)."
    )


def review_line(article: Article) -> str:
    """The review line as the page shows it, with where its text is in review."""
    if article.pk is None or article.last_reviewed is None:
        return "Not signed off yet: request a medical review when the text is ready."
    line = (
        f"Signed off by {article.reviewer} on {date_format(article.last_reviewed, 'M j, Y')}; "
        f"next review due {date_format(article.next_review_due, 'M j, Y')}."
    )
    if workflow.waiting(article):
        line += " A change to its text waits: the page keeps the signed-off text meanwhile."
    return line


def queue_line(article: Article) -> str:
    """The list's review column: what waits for whom and since when, or the last sign-off."""
    if article.stage == Stage.IN_REVIEW:
        whom = article.review_requested_of or "any reviewer"
        since = date_format(timezone.localtime(article.review_requested_at), "M j, Y")
        return format_html("<strong>Waiting for {}</strong><br>since {}", whom, since)
    if article.stage == Stage.RETURNED:
        return format_html("<strong>{}</strong>", "Returned to its editor")
    due = date_format(article.next_review_due, "M j, Y") if article.next_review_due else "–"
    reviewer = article.reviewer or "Not signed off yet"
    waits = " · a change waits" if workflow.waiting(article) else ""
    return format_html('{}{}<br><span class="quiet">next due {}</span>', reviewer, waits, due)


def saved_message(article: Article) -> str:
    """The one message a save shows: what became of it, read from what was stored."""
    article = Article.objects.get(pk=article.pk)
    if workflow.waiting(article):
        where = "live page" if article.is_public else "scheduled page"
        if article.status == Article.Status.DRAFT:
            where = "article"
        message = f"Saved. The {where} keeps the signed-off text until a reviewer signs off "
        message += "this change."
        if article.stage == Stage.IN_REVIEW:
            message += " The reviewer reads this newest text."
        return message
    if article.stage == Stage.IN_REVIEW:
        return "Saved. The reviewer reads this newest text."
    if article.last_reviewed is None:
        return "Saved as a draft. Request a medical review when it is ready."
    return "Saved."


def headline(article: Article) -> str:
    """Where the article is, in a few words: its state, and its newest text's review."""
    if not workflow.waiting(article) and article.last_reviewed is not None:
        return f"{article.state} · signed off"
    about = "a change" if article.last_reviewed is not None else "its text"
    stage = {
        Stage.DRAFT: f"{about} being written",
        Stage.IN_REVIEW: f"{about} waiting for medical review",
        Stage.RETURNED: f"{about} returned to its editor",
    }[article.stage]
    return f"{article.state} · {stage}"


def panel(article: Article, user) -> dict:
    """The change form's review panel: where the article is, what it needs, what may be done."""
    needs = article.publish_problems(source_count=article.sources.count())
    if article.last_reviewed is None:
        text = workflow.newest_content(article)
        needs.pop("summary", None)
        needs.pop("sources", None)
        if not text.summary:
            needs["summary"] = "a summary"
        if not text.sources:
            needs["sources"] = "at least one source"
    anchors = {
        "category": "id_category", "summary": "id_summary", "sources": "sources-group",
        "mentions_services": "id_mentions_services", "ai_used": "id_ai_used",
    }  # fmt: skip
    return {
        "headline": headline(article),
        "line": review_line(article),
        "banner": _banner(article, workflow.newest(article), user),
        "needs": [
            {"need": need, "anchor": anchors.get(name)}
            for name, need in needs.items()
            if article.status == Article.Status.DRAFT
        ],
        "steps": workflow.offered(article, user),
        "reviewers": reviewers(),
        "review_url": reverse("articles:review", args=[article.slug]),
    }
