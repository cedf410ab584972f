"""The article's admin: configuration and the form; the steps are `articles.workflow`."""

from functools import partial

from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import unquote
from django.db import transaction
from django.db.models import Count, Q
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from .. import review, versions, workflow
from ..content import FAQ_FIELDS, SOURCE_FIELDS, TEXT_FIELDS, Content
from ..editor import MarkdownPreviewMixin
from ..models import (
    FAQ,
    Article,
    ArticleUpdate,
    Finding,
    Source,
)
from ..readability import FUNDAMENTALS_TARGET, basics, over_target, readability
from .forms import (
    ArticleAdminForm,
    FAQInline,
    ReviewFilter,
    SourceInline,
    StateFilter,
    UpdateInline,
)

DETAIL_FIELDS = [
    "slug",
    "category",
    "label",
    "featured",
    "publish_at",
    "author",
    "meta_description",
]


@admin.register(Article)
class ArticleAdmin(MarkdownPreviewMixin, admin.ModelAdmin):
    """Configuration and the form; the review and publication steps are `articles.workflow`,
    their pages `articles.review` and `articles.versions`."""

    markdown_fields = ["body"]
    list_display = ["headline", "state", "review", "preview_link"]
    list_filter = [StateFilter, ReviewFilter, "category", "featured"]
    search_fields = ["title", "summary", "slug", "reviewer__name", "author__name"]
    date_hierarchy = "publish_at"
    prepopulated_fields = {"slug": ["title"]}
    autocomplete_fields = ["related", "author"]
    readonly_fields = [
        "title_in_search", "medical_review", "readability", "reading_minutes", "created_at",
        "updated_at",
    ]  # fmt: skip
    form = ArticleAdminForm
    list_per_page = 50
    inlines = [FAQInline, SourceInline, UpdateInline]
    change_form_template = "admin/articles/article/change_form.html"
    actions = ["publish", "unpublish"]
    save_on_top = True
    fieldsets = [
        (None, {"fields": ["title", "title_in_search", "slug", "category", "label", "featured"]}),
        ("Page", {"fields": ["summary", "tldr", "body", "related", "disclaimer"]}),
        (
            "Publishing",
            {
                "fields": ["publish_at"],
                "description": "A signed-off article goes public at this date (now, if it has "
                "passed); a later date schedules it. Staff can preview any article on its page.",
            },
        ),
        (
            "Medical review",
            {
                "fields": ["author", "medical_review", "update_note"],
                "description": "The review line comes from a medical reviewer's sign-off of the "
                "exact text: nothing here sets it.",
            },
        ),
        (
            "Disclosures",
            {
                "fields": ["mentions_services", "ai_used", "ai_use"],
                "description": "Shown under the article with its author's and reviewer's funding "
                "and conflicts of interest (from their pages under People); needed to publish.",
            },
        ),
        ("Search engines", {"fields": ["meta_description"], "classes": ["collapse"]}),
        ("Computed", {"fields": ["readability", "reading_minutes", "created_at", "updated_at"]}),
    ]

    class Media:
        css = {"all": ["css/admin-articles.css"]}

    def get_urls(self):
        def view(function, *, post=False):
            bound = partial(function, self)
            return self.admin_site.admin_view(require_POST(bound) if post else bound)

        return [
            path(
                "<path:object_id>/step/<str:name>/",
                view(review.step, post=True),
                name="articles_article_step",
            ),
            path(
                "<path:object_id>/history/<int:version_id>/changes/",
                view(versions.changes),
                name="articles_article_changes",
            ),
            path(
                "<path:object_id>/history/<int:version_id>/restore/",
                view(versions.restore, post=True),
                name="articles_article_restore",
            ),
            *super().get_urls(),
        ]

    def history_view(self, request, object_id, extra_context=None):
        return versions.history(self, request, object_id)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("category", "reviewer")
            .annotate(open_findings=Count("findings", filter=Q(findings__resolved_at__isnull=True)))
        )

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, (FAQInline, SourceInline)):
            text = workflow.newest_content(obj) if obj.pk else Content()
            names = FAQ_FIELDS if isinstance(inline, FAQInline) else SOURCE_FIELDS
            rows = text.faqs if isinstance(inline, FAQInline) else text.sources
            kwargs["text_rows"] = [
                {**dict(zip(names, row, strict=True)), "position": n} for n, row in enumerate(rows)
            ]
        return kwargs

    def get_object(self, request, object_id, from_field=None):
        """The article with its newest text in the fields the form shows (nothing written)."""
        article = super().get_object(request, object_id, from_field)
        if article is not None:
            text = workflow.newest_content(article)
            for name in TEXT_FIELDS:
                setattr(article, name, getattr(text, name))
            newest = workflow.newest(article)
            article.update_note = newest.update_note if newest else ""
        return article

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {**(extra_context or {}), "show_save_and_add_another": False}
        article = super().get_object(request, unquote(object_id))
        if article is not None:
            context["panel"] = review.panel(article, request.user)
        return super().change_view(request, object_id, form_url, context)

    def add_view(self, request, form_url="", extra_context=None):
        context = {**(extra_context or {}), "show_save_and_add_another": False}
        return super().add_view(request, form_url, context)

    def save_model(self, request, obj, form, change):
        """The details go to the row; the text goes through `save_related`."""
        if not change:
            obj.save()
            return
        details = [name for name in form.changed_data if name not in (*TEXT_FIELDS, "related")]
        details = [name for name in details if name in DETAIL_FIELDS]
        with transaction.atomic():
            if details:
                obj.save(update_fields=[*details, "updated_at"])
            if "slug" in details:
                obj.remember_slug(form.initial.get("slug"))

    def save_related(self, request, form, formsets, change):
        form.save_m2m()
        faqs = [f for f in formsets if f.model is FAQ][0].rows()
        sources = [f for f in formsets if f.model is Source][0].rows()
        for formset in formsets:
            if formset.model is ArticleUpdate:
                self.save_formset(request, form, formset, change)
        text = Content.from_data(
            {
                **{name: form.cleaned_data.get(name, "") for name in TEXT_FIELDS},
                "faqs": faqs,
                "sources": sources,
            }
        )
        note = "Created in admin" if not change else "Saved in admin"
        workflow.save_text(
            form.instance,
            text,
            by=request.user,
            note=note,
            update_note=form.cleaned_data.get("update_note", "").strip(),
        )

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(request, review.saved_message(obj), messages.SUCCESS)
        return redirect("admin:articles_article_change", obj.pk)

    def response_change(self, request, obj):
        self.message_user(request, review.saved_message(obj), messages.SUCCESS)
        if "_continue" in request.POST:
            return redirect(request.get_full_path())
        changelist = reverse("admin:articles_article_changelist")
        return redirect(
            add_preserved_filters(
                {"preserved_filters": self.get_preserved_filters(request), "opts": self.opts},
                changelist,
            )
        )

    def preview_note(self, html: str) -> str:
        score = readability(html)
        if score.whole.grade is None:
            return ""
        line = f"Body reading grade {score.whole.grade:.1f}"
        if score.tiers and basics(score) is not score.whole:
            line += f"; Fundamentals {basics(score).grade or 0:.1f}"
        if over_target(basics(score)):
            return f"{line}: above the target of grade {FUNDAMENTALS_TARGET} (a warning only)."
        return f"{line}: within the target of grade {FUNDAMENTALS_TARGET}."

    @admin.display(description="in search results")
    def title_in_search(self, article: Article) -> str:
        return review.title_in_search(article.title)

    @admin.display(description="medical review")
    def medical_review(self, article: Article) -> str:
        return review.review_line(article)

    @admin.display(description="reading grade")
    def readability(self, article: Article) -> str:
        if not article.pk:
            return (
                "Shown once the article is saved; the preview beside the body gives it as you type."
            )
        article.render()
        score = readability(article.body_html, lead=[article.summary, *article.tldr_items])
        basic = basics(score)
        tiers = [(name, tier, tier is basic) for name, tier in score.tiers]
        return render_to_string(
            "admin/articles/article/readability.html",
            {
                "score": score,
                "tiers": tiers,
                "target": FUNDAMENTALS_TARGET,
                "over": over_target(basic),
            },
        )

    @admin.display(description="state", ordering="publish_at")
    def state(self, article: Article) -> str:
        when = ""
        if article.publish_at and article.status != Article.Status.DRAFT:
            when = date_format(timezone.localtime(article.publish_at), "M j, Y")
        return format_html(
            "{}{}",
            article.state,
            format_html('<br><span class="quiet">{}</span>', when) if when else "",
        )

    @admin.display(description="article", ordering="title")
    def headline(self, article: Article) -> str:
        category = article.category.name if article.category else "No category"
        return format_html('{}<br><span class="quiet">{}</span>', article.title, category)

    @admin.display(description="medical review", ordering="review_requested_at")
    def review(self, article: Article) -> str:
        line = review.queue_line(article)
        if not article.open_findings:
            return line
        return format_html(
            '{}<br><a href="{}">{} finding{} to look at</a>',
            line,
            Finding.queue_url(article.pk),
            article.open_findings,
            "" if article.open_findings == 1 else "s",
        )

    @admin.display(description="preview")
    def preview_link(self, article: Article) -> str:
        return format_html('<a href="{}">View</a>', article.get_absolute_url())

    @admin.action(description="Publish selected articles (at their publish date, or now)")
    def publish(self, request, queryset):
        published, refused = 0, []
        for article in queryset:
            try:
                workflow.publish(article, by=request.user)
            except workflow.ReviewError as exc:
                refused.append(f"“{article.title}”: {exc}")
            else:
                published += 1
        if published:
            self.message_user(request, f"Published {published} article(s).", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, f"Not published: {reason}", messages.ERROR)

    @admin.action(description="Unpublish selected articles (back to draft)")
    def unpublish(self, request, queryset):
        count = 0
        for article in queryset.filter(status=Article.Status.PUBLISHED):
            workflow.unpublish(article, by=request.user)
            count += 1
        self.message_user(request, f"Moved {count} article(s) back to draft.", messages.SUCCESS)
