"""The Learning Center in Django admin."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from .. import tasks
from ..history import HistoryAdmin
from ..models import (
    Article,
    ArticleFeedback,
    Category,
    Finding,
    GlossaryTerm,
    Person,
    SearchMiss,
    SlugRedirect,
)
from . import article  # noqa: F401  (registers ArticleAdmin)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position"]
    list_editable = ["position"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


@admin.register(GlossaryTerm)
class GlossaryTermAdmin(HistoryAdmin):
    list_display = ["term", "definition", "aliases"]
    search_fields = ["term", "aliases", "definition"]
    prepopulated_fields = {"slug": ["term"]}

    # Articles mark glossary terms when rendered, so a change to the glossary renders them again.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        Article.objects.rerender()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        Article.objects.rerender()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        Article.objects.rerender()


@admin.register(SlugRedirect)
class SlugRedirectAdmin(admin.ModelAdmin):
    list_display = ["old_slug", "article", "created_at"]
    search_fields = ["old_slug", "article__title"]
    autocomplete_fields = ["article"]


@admin.register(SearchMiss)
class SearchMissAdmin(admin.ModelAdmin):
    """What readers searched for and did not find, most often first: for editors to write or
    to add to the glossary. Counted by the search page; an editor deletes a row once handled."""

    list_display = ["query", "count", "first_seen", "last_seen"]
    list_display_links = None  # each row is all there is to it
    search_fields = ["query"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OpenFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("1", "To look at"), ("0", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.open()
        if self.value() == "0":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    """The editors' queue: what readers wrote under an article and what the citation monitor
    found, each open until an editor resolves it (the fix itself goes through the article's
    review)."""

    list_display = ["article_link", "kind", "detail", "cited", "found_at", "resolved"]
    list_display_links = None
    list_filter = [OpenFilter, "kind"]
    search_fields = ["article__title", "detail", "cited"]
    list_select_related = ["article", "resolved_by"]
    actions = ["resolve"]
    change_list_template = "admin/articles/finding/change_list.html"

    def get_urls(self):
        check = self.admin_site.admin_view(require_POST(self.check_citations))
        return [path("check/", check, name="articles_finding_check"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        allowed = self.has_change_permission(request)
        return super().changelist_view(
            request, {"can_check_citations": allowed, **(extra_context or {})}
        )

    def check_citations(self, request):
        """The citation monitor's weekly run, now, by a worker."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        tasks.check_citations.delay()
        self.message_user(
            request,
            "Checking the citations of every published article: what it finds appears here "
            "in a few minutes.",
            messages.SUCCESS,
        )
        return redirect("admin:articles_finding_changelist")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def lookup_allowed(self, lookup, value, request=None):
        # The article list links to one article's findings.
        return lookup == "article" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="article", ordering="article__title")
    def article_link(self, finding: Finding) -> str:
        url = reverse("admin:articles_article_change", args=[finding.article_id])
        return format_html('<a href="{}">{}</a>', url, finding.article.title)

    @admin.display(description="resolved", ordering="resolved_at")
    def resolved(self, finding: Finding) -> str:
        if finding.resolved_at is None:
            return "To look at"
        when = date_format(timezone.localtime(finding.resolved_at), "M j, Y")
        return f"{when} by {finding.resolved_by or 'someone'}"

    @admin.action(description="Mark the selected findings resolved", permissions=["change"])
    def resolve(self, request, queryset):
        count = queryset.open().update(resolved_at=timezone.now(), resolved_by=request.user)
        self.message_user(request, f"Resolved {count} finding(s).", messages.SUCCESS)


@admin.register(ArticleFeedback)
class ArticleFeedbackAdmin(admin.ModelAdmin):
    """Readers' answers under each article, as counts."""

    list_display = ["article", "helpful", "not_helpful", "errors_reported"]
    list_display_links = None
    search_fields = ["article__title"]
    list_select_related = ["article"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["name", "credentials", "role", "written", "reviewed", "page_link"]
    search_fields = ["name", "credentials", "role"]
    prepopulated_fields = {"slug": ["name"]}
    fields = [
        "name", "credentials", "slug", "role", "bio", "photo_url", "links", "funding", "conflicts",
        "user",
    ]  # fmt: skip
    autocomplete_fields = ["user"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                written_count=models.Count("articles_written", distinct=True),
                reviewed_count=models.Count("articles_reviewed", distinct=True),
            )
        )

    @admin.display(description="wrote", ordering="written_count")
    def written(self, person: Person) -> int:
        return person.written_count

    @admin.display(description="reviewed", ordering="reviewed_count")
    def reviewed(self, person: Person) -> int:
        return person.reviewed_count

    @admin.display(description="page")
    def page_link(self, person: Person) -> str:
        return format_html('<a href="{}">View</a>', person.get_absolute_url())
