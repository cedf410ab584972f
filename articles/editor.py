"""Markdown fields in admin, edited beside a live preview that the server renders exactly as the
public page does, glossary terms and sanitizing included, before the first save too."""

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from .models import GlossaryTerm
from .rendering import render_markdown

MAX_PREVIEW_CHARS = 200_000


class MarkdownEditor(forms.Textarea):
    """A textarea with the rendered page beside it; markdown-editor.js keeps the two in step."""

    wrapper_template_name = "articles/widgets/markdown_editor.html"

    class Media:
        css = {"all": ["css/admin-editor.css"]}
        js = [forms.Script("js/markdown-editor.js", defer=True)]

    def __init__(self, attrs=None, *, preview_url: str):
        super().__init__(attrs={"class": "vLargeTextField", "rows": 20, **(attrs or {})})
        self.preview_url = preview_url

    def render(self, name, value, attrs=None, renderer=None):
        # The form renderer looks only in Django's and the apps' template folders, so the
        # textarea is Django's own and the project's template engine draws what surrounds it.
        textarea = super().render(name, value, attrs, renderer)
        return render_to_string(
            self.wrapper_template_name, {"textarea": textarea, "preview_url": self.preview_url}
        )


class MarkdownPreviewMixin:
    """For a ModelAdmin: each field named in `markdown_fields` gets the MarkdownEditor, and
    `<app>/<model>/preview/` renders its Markdown for anyone who may add or change the model."""

    markdown_fields: list[str] = []

    @property
    def preview_url_name(self) -> str:
        opts = self.model._meta
        return f"{opts.app_label}_{opts.model_name}_preview"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in self.markdown_fields:
            preview_url = reverse(f"{self.admin_site.name}:{self.preview_url_name}")
            kwargs["widget"] = MarkdownEditor(preview_url=preview_url)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_urls(self):
        preview = self.admin_site.admin_view(self.markdown_preview)
        # First: the object URLs that follow take any "<something>/" for an object's id.
        return [
            path("preview/", preview, name=self.preview_url_name),
            *super().get_urls(),
        ]

    @method_decorator(require_POST)
    def markdown_preview(self, request: HttpRequest) -> JsonResponse:
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        source = request.POST.get("source", "")
        if len(source) > MAX_PREVIEW_CHARS:
            return JsonResponse(
                {"error": f"The preview takes at most {MAX_PREVIEW_CHARS:,} characters."},
                status=400,
            )
        html = self.render_preview(source)
        return JsonResponse({"html": html, "note": self.preview_note(html)})

    def render_preview(self, source: str) -> str:
        return render_markdown(source, glossary=GlossaryTerm.objects.all()).html

    def preview_note(self, html: str) -> str:
        """A line shown under the preview about the text as rendered (none by default)."""
        return ""
