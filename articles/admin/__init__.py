"""The Learning Center in Django admin."""

from django.contrib import admin
from django.db import models
from django.utils.html import format_html

from ..history import HistoryAdmin
from ..models import Article, Category, GlossaryTerm, Person, SearchMiss, SlugRedirect
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


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["name", "credentials", "role", "written", "reviewed", "page_link"]
    search_fields = ["name", "credentials", "role"]
    prepopulated_fields = {"slug": ["name"]}
    fields = ["name", "credentials", "slug", "role", "bio", "photo_url", "links", "user"]
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
