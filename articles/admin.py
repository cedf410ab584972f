from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import OuterRef, Subquery
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from reversion.errors import RevertError
from reversion.models import Version

from . import revisions
from .editor import MarkdownPreviewMixin
from .history import HistoryAdmin, TextField
from .models import (
    FAQ,
    Article,
    ArticleRevision,
    ArticleUpdate,
    Category,
    GlossaryTerm,
    Person,
    SlugRedirect,
    Source,
    publish_refusal,
)
from .readability import FUNDAMENTALS_TARGET, basics, over_target, readability
from .revisions import Choice


class ArticleAdminForm(forms.ModelForm):
    """The article, and what to do with a change to a published one's text (see revisions.py)."""

    update_note = forms.CharField(
        label="What changed, for readers",
        max_length=300,
        required=False,
        help_text="One line for the article's public Updates list, when a changed text is "
        "published after a new medical review.",
    )
    minor_reason = forms.CharField(
        label="Publish as a minor edit, because",
        max_length=300,
        required=False,
        help_text="Typos and links only: the change goes live without a new review, and the "
        "reason is kept in the history. Leave empty to keep the change for review.",
    )
    can_publish_minor_edit = False

    def clean_minor_reason(self):
        reason = self.cleaned_data["minor_reason"].strip()
        if reason and not self.can_publish_minor_edit:
            raise ValidationError(
                "You may not publish a change without review; leave this empty to save it for "
                "review."
            )
        return reason


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
    formfield_overrides = {models.TextField: {"form_class": TextField}}
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


class UpdateInline(admin.TabularInline):
    model = ArticleUpdate
    extra = 0
    fields = ["published_on", "note"]
    verbose_name = "public update"
    verbose_name_plural = "Updates list (shown on the article)"


@admin.register(Article)
class ArticleAdmin(MarkdownPreviewMixin, HistoryAdmin):
    markdown_fields = ["body"]
    list_display = ["headline", "state", "review", "preview_link"]
    list_filter = [StateFilter, ReviewDueFilter, "category", "featured"]
    search_fields = ["title", "summary", "slug", "reviewer__name", "author__name"]
    date_hierarchy = "publish_at"
    prepopulated_fields = {"slug": ["title"]}
    autocomplete_fields = ["related", "author", "reviewer"]
    readonly_fields = ["readability", "reading_minutes", "created_at", "updated_at"]
    form = ArticleAdminForm
    list_per_page = 50
    recover_deleted = False
    change_list_template = "admin/change_list.html"

    class Media:
        css = {"all": ["css/admin-articles.css"]}

    inlines = [FAQInline, SourceInline, UpdateInline]
    change_form_template = "admin/articles/article/change_form.html"
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
        (
            "Publishing a change",
            {
                "fields": ["update_note", "minor_reason"],
                "description": "A change to what a published article says stays waiting for "
                "review, and the public page keeps the reviewed text, until a reviewer's new "
                "last-reviewed date is entered — or it is published as a minor edit.",
            },
        ),
        ("Search engines", {"fields": ["meta_description"], "classes": ["collapse"]}),
        ("Computed", {"fields": ["readability", "reading_minutes", "created_at", "updated_at"]}),
    ]

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

    @admin.display(description="reading grade")
    def readability(self, article: Article) -> str:
        if not article.pk:
            return (
                "Shown once the article is saved; the preview beside the body gives it as you type."
            )
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
        waiting = getattr(article, "newest_kind", None) == ArticleRevision.Kind.PENDING
        return format_html(
            "{}{}{}",
            article.state,
            format_html('<br><span class="quiet">{}</span>', when) if when else "",
            mark_safe("<br><strong>A change waits for review</strong>") if waiting else "",
        )

    def get_queryset(self, request):
        newest = ArticleRevision.objects.filter(article=OuterRef("pk")).order_by("-revision_id")
        return (
            super()
            .get_queryset(request)
            .select_related("category", "reviewer")
            .annotate(newest_kind=Subquery(newest.values("kind")[:1]))
        )

    @admin.display(description="article", ordering="title")
    def headline(self, article: Article) -> str:
        category = article.category.name if article.category else "No category"
        return format_html('{}<br><span class="quiet">{}</span>', article.title, category)

    @admin.display(description="medical review", ordering="next_review_due")
    def review(self, article: Article) -> str:
        due = date_format(article.next_review_due, "M j, Y") if article.next_review_due else "–"
        reviewer = str(article.reviewer) if article.reviewer else "No reviewer yet"
        return format_html('{}<br><span class="quiet">next due {}</span>', reviewer, due)

    @admin.display(description="preview")
    def preview_link(self, article: Article) -> str:
        return format_html('<a href="{}">View</a>', article.get_absolute_url())

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.can_publish_minor_edit = request.user.has_perm("articles.publish_minor_edit")
        return form

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or obj.status == Article.Status.DRAFT:
            return [f for f in fieldsets if f[0] != "Publishing a change"]
        return fieldsets

    def change_view(self, request, object_id, form_url="", extra_context=None):
        article = self.get_object(request, unquote(object_id))
        if article is None or not self.has_view_or_change_permission(request, article):
            return super().change_view(request, object_id, form_url, extra_context)
        edit = revisions.pending(article)
        if request.method != "POST" and edit is None:
            return super().change_view(request, object_id, form_url, extra_context)
        with transaction.atomic():
            revisions.record_baseline(article, request.user)
            # The form starts from the pending text; nothing a GET or a refused form did stays.
            try:
                with transaction.atomic():
                    revisions.open_pending(article)
            except RevertError:
                edit = None
                self.message_user(
                    request,
                    "The change waiting for review could not be opened (another article has "
                    "taken its slug, say): this is the public text. The change is in the history.",
                    messages.WARNING,
                )
            context = {**(extra_context or {}), "pending_edit": edit}
            response = super().change_view(request, object_id, form_url, context)
            if not hasattr(request, "_saved_article"):
                if hasattr(response, "render"):
                    response.render()
                transaction.set_rollback(True)
                return response
            self._settle(request, article)
        return response

    def revision_view(self, request, object_id, version_id, extra_context=None):
        """An earlier version in the form, to restore: saving it is an edit like any other."""
        with transaction.atomic():
            response = super().revision_view(request, object_id, version_id, extra_context)
            if hasattr(request, "_saved_article"):
                self._settle(request, request._saved_article)
        return response

    def add_view(self, request, form_url="", extra_context=None):
        with transaction.atomic():
            response = super().add_view(request, form_url, extra_context)
            if hasattr(request, "_saved_article"):
                self._settle(request, request._saved_article)
        return response

    def changelist_view(self, request, extra_context=None):
        # Not VersionAdmin's, which would gather the whole list's saves into one revision: the
        # bulk actions keep one of each article and settle it (revisions.record).
        return admin.ModelAdmin.changelist_view(self, request, extra_context)

    def history_note(self, version) -> str:
        record = ArticleRevision.objects.filter(revision_id=version.revision_id).first()
        if record is None:
            return ""
        note = record.get_kind_display()
        if record.kind in (ArticleRevision.Kind.PUBLISHED, ArticleRevision.Kind.REVIEW):
            data = version.field_dict
            reviewer = Person.objects.filter(pk=data.get("reviewer_id")).first()
            if reviewer and data.get("last_reviewed"):
                reviewed_on = date_format(data["last_reviewed"], "M j, Y")
                note += f" (the review of {reviewed_on} by {reviewer})"
        return f"{note}: {record.reason}" if record.reason else note

    def _settle(self, request, article: Article) -> None:
        article.refresh_from_db()
        revision = Version.objects.get_for_object(article).first().revision
        record = revisions.settle(article, revision, getattr(request, "_edit_choice", Choice()))
        if record.kind == ArticleRevision.Kind.PENDING:
            self.message_user(
                request,
                "Saved for medical review: the public page keeps the reviewed text until a "
                "reviewer's new last-reviewed date is entered and the article saved again (with "
                "its line for the Updates list then).",
                messages.WARNING,
            )
        elif record.kind == ArticleRevision.Kind.MINOR:
            self.message_user(request, "Published as a minor edit.", messages.SUCCESS)

    def save_model(self, request, obj, form, change):
        request._saved_article = obj
        request._edit_choice = Choice(
            update_note=form.cleaned_data.get("update_note", "").strip(),
            minor_reason=form.cleaned_data.get("minor_reason", ""),
        )
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
        already = queryset.exclude(status=Article.Status.DRAFT).count()
        if already:
            self.message_user(
                request, f"{already} article(s) were published or scheduled already.", messages.INFO
            )
        for article in queryset.filter(status=Article.Status.DRAFT).prefetch_related("sources"):
            article.publish_at = article.publish_at or timezone.now()
            needs = article.publish_problems(source_count=len(article.sources.all()))
            if needs:
                refused.append(f"“{article.title}” needs " + ", ".join(needs.values()))
                continue
            with transaction.atomic():
                revisions.record_baseline(article, request.user)
                article.status = Article.Status.PUBLISHED
                article.save()
                revisions.record(article, user=request.user, comment="Published from the list.")
            published += 1
        if published:
            self.message_user(request, f"Published {published} article(s).", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, f"Not published: {reason}.", messages.ERROR)

    @admin.action(description="Unpublish selected articles (back to draft)")
    def unpublish(self, request, queryset):
        count = 0
        for article in queryset.exclude(status=Article.Status.DRAFT):
            with transaction.atomic():
                revisions.record_baseline(article, request.user)
                article.status = Article.Status.DRAFT
                article.save()
                revisions.record(
                    article, user=request.user, comment="Back to draft, from the list."
                )
            count += 1
        self.message_user(request, f"Moved {count} article(s) back to draft.", messages.SUCCESS)


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
