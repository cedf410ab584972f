"""An article's history in admin: every saved text with who saved it and why, every step of its
review and publication (who, when, the comment), every sign-off with the text it covers; what
changed between two texts, word by word; and restoring a text, which brings back what a reader
reads and nothing else (`workflow.restore`)."""

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from . import workflow
from .content import FAQ_FIELDS, SOURCE_FIELDS, TEXT_FIELDS, Content
from .history import word_diff
from .models import Article, ArticleVersion

LABELS = {"tldr": "TL;DR"}


def _article(model_admin, request, object_id) -> Article:
    article = model_admin.get_object(request, unquote(object_id))
    if article is None or not model_admin.has_view_or_change_permission(request, article):
        raise Http404("No such article.")
    return article


def _entries(article: Article) -> list[dict]:
    """Saves, steps and sign-offs, newest first."""
    signed = {}
    for record in article.sign_offs.select_related("reviewer", "signed_by"):
        signed.setdefault(record.version_id, []).append(record)
    entries = [
        {
            "when": version.saved_at,
            "by": version.saved_by,
            "what": version.note or "Saved",
            "version": version,
            "sign_offs": signed.get(version.pk, []),
        }
        for version in article.versions.select_related("saved_by")
    ]
    for entry in workflow.log(article):
        entries.append(
            {
                "when": entry.timestamp,
                "by": entry.by,
                "what": step_name(entry),
                "comment": "" if entry.transition == "publish" else entry.description or "",
            }
        )
    entries.sort(key=lambda e: e["when"], reverse=True)
    return entries


def step_name(entry) -> str:
    names = {
        "change": "A change to the signed text, waiting",
        "request_review": "Review requested",
        "sign_off": "Signed off",
        "return_to_editor": "Returned to its editor",
        "sign_off_from_import": "Signed off, from an import",
        "publish_minor_edit": "Published as a minor edit",
        "discard_change": "Waiting change discarded",
        "unpublish": "Unpublished",
    }
    if entry.transition == "publish":
        return entry.description or "Published"
    return names.get(entry.transition, entry.transition)


def history(model_admin, request, object_id):
    article = _article(model_admin, request, object_id)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": article,
        "title": f"History: {article}",
        "entries": _entries(article),
        "newest": workflow.newest(article),
        "can_restore": model_admin.has_change_permission(request, article),
    }
    return TemplateResponse(request, "admin/articles/article/history.html", context)


def _rows(before: Content | None, after: Content) -> list[dict]:
    """Each part of the text that differs, as a word diff to read."""
    old = before or Content()
    rows = []
    for name in TEXT_FIELDS:
        a, b = getattr(old, name), getattr(after, name)
        if a != b:
            rows.append({"label": LABELS.get(name, name), "diff": word_diff(a, b)})
    for name, fields in (("faqs", FAQ_FIELDS), ("sources", SOURCE_FIELDS)):
        a, b = _as_text(getattr(old, name), fields), _as_text(getattr(after, name), fields)
        if a != b:
            rows.append({"label": "FAQ" if name == "faqs" else name, "diff": word_diff(a, b)})
    return rows


def _as_text(rows, fields) -> str:
    return "\n\n".join(
        "\n".join(f"{name}: {value}" for name, value in zip(fields, row, strict=True) if value)
        for row in rows
    )


def changes(model_admin, request, object_id, version_id):
    """What a text changed from the one saved before it, or from `?against=<version>` (the
    signed-off text, for the reviewer)."""
    article = _article(model_admin, request, object_id)
    version = get_object_or_404(ArticleVersion, pk=version_id, article=article)
    earlier = article.versions.filter(pk__lt=version.pk).first()
    if request.GET.get("against", "").isdigit():
        earlier = get_object_or_404(ArticleVersion, pk=request.GET["against"], article=article)
    before = Content.from_data(earlier.data) if earlier else None
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": article,
        "title": f"What changed: {article}",
        "version": version,
        "earlier": earlier,
        "rows": _rows(before, Content.from_data(version.data)),
        "history_url": reverse("admin:articles_article_history", args=[article.pk]),
        "restore_url": reverse("admin:articles_article_restore", args=[article.pk, version.pk]),
        "can_restore": model_admin.has_change_permission(request, article),
    }
    return TemplateResponse(request, "admin/articles/article/changes.html", context)


def restore(model_admin, request, object_id, version_id):
    article = _article(model_admin, request, object_id)
    if not model_admin.has_change_permission(request, article):
        raise PermissionDenied
    version = get_object_or_404(ArticleVersion, pk=version_id, article=article)
    if workflow.restore(article, version, by=request.user) is None:
        model_admin.message_user(request, "That text is the newest already.", messages.INFO)
    elif workflow.waiting(article):
        model_admin.message_user(
            request,
            "Text restored. The live page keeps the signed-off text until a reviewer signs off "
            "this change.",
            messages.SUCCESS,
        )
    else:
        model_admin.message_user(request, "Text restored.", messages.SUCCESS)
    return redirect("admin:articles_article_change", article.pk)
