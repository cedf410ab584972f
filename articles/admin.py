from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html

from .editor import MarkdownPreviewMixin
from .models import (
    FAQ,
    Article,
    Category,
    GlossaryTerm,
    Person,
    SlugRedirect,
    Source,
    publish_refusal,
)
from .readability import FUNDAMENTALS_TARGET, readability


class SourceFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        kept = [
            form
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE", False)
        ]
        if self.instance.status != Article.Status.DRAFT and not kept:
            raise ValidationError(publish_refusal("at least one source"))


class FAQInline(admin.StackedInline):
    model = FAQ
    extra = 0
    fields = ["question", "answer", "position"]


class SourceInline(admin.StackedInline):
    model = Source
    formset = SourceFormSet
    extra = 0
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fields = [("title", "year"), ("authors", "publisher"), ("url", "doi"), "position"]


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("draft", "Draft"), ("scheduled", "Scheduled"), ("published", "Published")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "draft":
            return queryset.filter(status=Article.Status.DRAFT)
        if self.value() == "scheduled":
            return queryset.filter(status=Article.Status.PUBLISHED, publish_at__gt=now)
        if self.value() == "published":
            return queryset.published()
        return queryset


class ReviewDueFilter(admin.SimpleListFilter):
    title = "medical review"
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue"), ("unset", "No due date")]

    def queryset(self, request, queryset):
        if self.value() == "overdue":
            return queryset.review_overdue()
        if self.value() == "unset":
            return queryset.filter(next_review_due__isnull=True)
        return queryset


@admin.register(Article)
class ArticleAdmin(MarkdownPreviewMixin, admin.ModelAdmin):
    markdown_fields = ["body"]
    list_display = [
        "title",
        "state",
        "category",
        "publish_at",
        "next_review_due",
        "reviewer",
        "preview_link",
    ]
    list_filter = [StateFilter, ReviewDueFilter, "category", "featured"]
    search_fields = ["title", "summary", "slug", "reviewer__name", "author__name"]
    date_hierarchy = "publish_at"
    prepopulated_fields = {"slug": ["title"]}
    autocomplete_fields = ["related", "author", "reviewer"]
    readonly_fields = ["readability", "reading_minutes", "created_at", "updated_at"]
    inlines = [FAQInline, SourceInline]
    actions = ["publish", "unpublish"]
    save_on_top = True
    fieldsets = [
        (None, {"fields": ["title", "slug", "category", "label", "featured"]}),
        ("Page", {"fields": ["summary", "tldr", "body", "related", "disclaimer"]}),
        (
            "Publishing",
            {
                "fields": ["status", "publish_at"],
                "description": "Only published articles whose publish date has come are public. "
                "Staff can preview any article on its page.",
            },
        ),
        (
            "Medical review",
            {
                "fields": ["author", "reviewer", "last_reviewed", "next_review_due"],
                "description": "Nothing is published without a reviewer, a last-reviewed date "
                "and at least one source.",
            },
        ),
        ("Search engines", {"fields": ["meta_description"], "classes": ["collapse"]}),
        ("Computed", {"fields": ["readability", "reading_minutes", "created_at", "updated_at"]}),
    ]

    @admin.display(description="reading grade")
    def readability(self, article: Article) -> str:
        if not article.pk:
            return "Shown once the article is saved."
        score = readability(article.body_html, lead=[article.summary, *article.tldr_items])
        tiers = [
            (name, tier, name.lower().startswith("fundamentals")) for name, tier in score.tiers
        ]
        # The target is the basics': Fundamentals, or the whole article when it has no tiers.
        judged = [tier for _, tier, basic in tiers if basic] or [score.whole]
        return render_to_string(
            "admin/articles/article/readability.html",
            {
                "score": score,
                "tiers": tiers,
                "target": FUNDAMENTALS_TARGET,
                "over": any(t.grade is not None and t.grade > FUNDAMENTALS_TARGET for t in judged),
            },
        )

    @admin.display(description="state")
    def state(self, article: Article) -> str:
        return article.state

    @admin.display(description="preview")
    def preview_link(self, article: Article) -> str:
        return format_html('<a href="{}">View</a>', article.get_absolute_url())

    def save_model(self, request, obj, form, change):
        if change and "slug" in form.changed_data:
            old_slug = form.initial.get("slug")
            with transaction.atomic():
                super().save_model(request, obj, form, change)
                obj.remember_slug(old_slug)
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="Publish selected articles (at their publish date, or now)")
    def publish(self, request, queryset):
        published, refused = 0, []
        for article in queryset.prefetch_related("sources"):
            article.publish_at = article.publish_at or timezone.now()
            needs = article.publish_problems(source_count=len(article.sources.all()))
            if needs:
                refused.append(f"“{article.title}” needs " + ", ".join(needs.values()))
                continue
            article.status = Article.Status.PUBLISHED
            article.save(update_fields=["status", "publish_at", "updated_at"])
            published += 1
        if published:
            self.message_user(request, f"Published {published} article(s).", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, f"Not published: {reason}.", messages.ERROR)

    @admin.action(description="Unpublish selected articles (back to draft)")
    def unpublish(self, request, queryset):
        count = 0
        for article in queryset.exclude(status=Article.Status.DRAFT):
            article.status = Article.Status.DRAFT
            article.save(update_fields=["status", "updated_at"])
            count += 1
        self.message_user(request, f"Moved {count} article(s) back to draft.", messages.SUCCESS)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position"]
    list_editable = ["position"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


@admin.register(GlossaryTerm)
class GlossaryTermAdmin(admin.ModelAdmin):
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


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["name", "credentials", "role", "written", "reviewed", "page_link"]
    search_fields = ["name", "credentials", "role"]
    prepopulated_fields = {"slug": ["name"]}
    fields = ["name", "credentials", "slug", "role", "bio", "photo_url", "links"]

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
