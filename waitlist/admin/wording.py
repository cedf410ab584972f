"""Admin for what the transactional emails say: one row a kind (its latest version), edited as
Markdown with the live preview; each save a new version, the earlier ones listed below it; a
test to the operator's own address."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Max, OuterRef, Subquery
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from articles.editor import MarkdownPreviewMixin
from articles.rendering import render_markdown

from ..engine import discreet
from ..engine import messages as mail
from ..models import EmailWording, OutboundEmail
from ..people import emails, wording


class WordingForm(forms.ModelForm):
    class Meta:
        model = EmailWording
        fields = ["subject", "body"]

    def clean(self):
        cleaned = super().clean()
        kind = self.instance.kind
        unknown = wording.unknown_placeholders(
            kind, cleaned.get("subject", ""), cleaned.get("body", "")
        )
        if unknown:
            names = ", ".join(f"{{{name}}}" for name in unknown)
            known = ", ".join(f"{{{name}}}" for name in wording.PLACEHOLDERS[kind])
            raise forms.ValidationError(
                f"This email has no value for {names}. It can use: {known}."
            )
        for problem in discreet.findings({"the subject": cleaned.get("subject", "")}):
            self.add_error("subject", problem)
        return cleaned


@admin.register(EmailWording)
class EmailWordingAdmin(MarkdownPreviewMixin, admin.ModelAdmin):
    form = WordingForm
    markdown_fields = ["body"]
    list_display = ["kind", "subject", "version", "created_at", "created_by"]
    fields = ["kind", "version", "subject", "body", "placeholders", "versions"]
    readonly_fields = ["kind", "version", "placeholders", "versions"]
    change_form_template = "admin/waitlist/emailwording/change_form.html"

    def get_queryset(self, request):
        latest = (
            EmailWording.objects.filter(kind=OuterRef("kind")).values("kind")
            .annotate(top=Max("version")).values("top")
        )  # fmt: skip
        rows = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            return rows.filter(version=Subquery(latest))
        return rows

    def changelist_view(self, request, extra_context=None):
        for kind in OutboundEmail.Kind.values:  # each kind's built-in wording, as version 1
            wording.current(kind)
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return False  # one row a kind, made with its built-in wording

    def has_delete_permission(self, request, obj=None):
        return False  # every version sent stays, as evidence

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.pk != wording.current(obj.kind).pk:
            return False  # an earlier version: history
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        """A change is a new version; the one edited stays as it was sent."""
        if not form.has_changed():
            return
        obj.pk, obj.created_at, obj.created_by = None, timezone.now(), request.user
        for attempt in range(3):
            obj.version = wording.current(obj.kind).version + 1
            try:
                with transaction.atomic():
                    obj.save()
                return
            except IntegrityError:  # another operator's version took the number: the next
                if attempt == 2:
                    raise

    def response_change(self, request, obj):
        if obj.pk is not None:
            messages.success(request, f"Saved as version {obj.version}: the next emails say it.")
        return HttpResponseRedirect(reverse("admin:waitlist_emailwording_change", args=[obj.pk]))

    def render_preview(self, source: str) -> str:
        return render_markdown(source, breaks=True).html

    @admin.display(description="placeholders")
    def placeholders(self, obj: EmailWording) -> str:
        names = ", ".join(f"{{{name}}}" for name in wording.PLACEHOLDERS[obj.kind])
        return f"Filled in for each email: {names}."

    @admin.display(description="versions")
    def versions(self, obj: EmailWording) -> str:
        rows = EmailWording.objects.filter(kind=obj.kind).select_related("created_by")
        return format_html(
            "<ol reversed>{}</ol>",
            format_html_join(
                "", "<li>Version {}, {}{}: {}</li>",
                ((row.version, date_format(timezone.localtime(row.created_at), "DATETIME_FORMAT"),
                  f" by {row.created_by}" if row.created_by else " (built in)", row.subject)
                 for row in rows),
            ),
        )  # fmt: skip

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/email/", view(self.email_view), name="emailwording_email"),
            path("<int:pk>/test/", view(require_POST(self.test_view)), name="emailwording_test"),
            *super().get_urls(),
        ]

    def email_view(self, request, pk: int) -> HttpResponse:
        """The HTML part as the person would see it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        version = get_object_or_404(EmailWording, pk=pk)
        copy = emails.sample_copy(version, to=request.user.email or "operator@example.com")
        response = HttpResponse(copy.html)
        response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        return response

    def test_view(self, request, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        version = get_object_or_404(EmailWording, pk=pk)
        back = reverse("admin:waitlist_emailwording_change", args=[pk])
        if not request.user.email:
            messages.error(request, "Your account has no email address to send the test to.")
            return HttpResponseRedirect(back)
        message = mail.message(emails.sample_copy(version, to=request.user.email))
        message.subject = f"[Test] {message.subject}"
        message.send()
        messages.success(
            request, f"Test of version {version.version} sent to {request.user.email}."
        )
        return HttpResponseRedirect(back)
