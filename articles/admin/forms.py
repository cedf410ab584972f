"""The article form, its inlines of the text's rows, and the list's filters."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ..history import TextField
from ..models import (
    FAQ,
    Article,
    ArticleUpdate,
    Source,
)
from ..review import SEARCH_TITLE_LENGTH


class ArticleAdminForm(forms.ModelForm):
    """The article's newest text and its details. The text's FAQ and sources are edited by the
    inlines; `ArticleAdmin.save_related` keeps the whole text as a version (workflow.save_text).
    No field sets the review line or the publish state: only the review's steps do."""

    update_note = forms.CharField(
        label="What changed, for readers",
        max_length=300,
        required=False,
        help_text="One line for the article's public Updates list, added when a reviewer signs "
        "off this change to a published article.",
    )

    class Meta:
        model = Article
        fields = [
            "title", "slug", "category", "label", "featured", "summary", "tldr", "body",
            "related", "disclaimer", "publish_at", "author", "meta_description",
        ]  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Too long a title is refused with a message of its own, never cut short by the browser.
        title = self.fields["title"]
        title.max_length = None
        title.widget.attrs.pop("maxlength", None)
        title.validators = [v for v in title.validators if not isinstance(v, MaxLengthValidator)]
        if self.instance.pk is None and "publish_at" in self.fields:
            self.fields["publish_at"].initial = timezone.now

    def clean_title(self):
        title = self.cleaned_data["title"]
        limit = Article._meta.get_field("title").max_length
        if len(title) > limit:
            raise ValidationError(
                f"Keep the title to {limit} characters: it has {len(title)}. Search results "
                f"show about {SEARCH_TITLE_LENGTH}."
            )
        return title


class TextRowsFormSet(forms.BaseInlineFormSet):
    """An inline for rows of the article's text (FAQ, sources) that starts from its newest text,
    not from the rows (which hold the signed text), and writes nothing itself: `rows()` gives
    the text's rows in the order the editor set."""

    def __init__(self, *args, text_rows=(), **kwargs):
        self.text_rows = list(text_rows)
        # One form per row of the text, and no empty one (the "Add another" link adds more).
        self.extra = len(self.text_rows)
        super().__init__(*args, **kwargs)
        self.queryset = self.model._default_manager.none()
        # Nothing is saved here: admin's change message finds no row added or changed.
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []

    def get_queryset(self):
        return self.model._default_manager.none()

    def _construct_form(self, i, **kwargs):
        if i < len(self.text_rows):
            # A row of the text is kept even when the editor left it as it was.
            kwargs.update(initial=self.text_rows[i], empty_permitted=False)
        return super()._construct_form(i, **kwargs)

    def rows(self) -> list[dict]:
        kept = [
            (form.cleaned_data.get("position") or 0, n, form.cleaned_data)
            for n, form in enumerate(self.forms)
            if form.cleaned_data and not self._should_delete_form(form)
        ]
        return [data for _, _, data in sorted(kept, key=lambda row: row[:2])]


class FAQInline(admin.StackedInline):
    model = FAQ
    formset = TextRowsFormSet
    extra = 0
    formfield_overrides = {models.TextField: {"form_class": TextField}}
    fields = ["question", "answer", "position"]


class SourceInline(admin.StackedInline):
    model = Source
    formset = TextRowsFormSet
    extra = 0
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fields = [("title", "year"), ("authors", "publisher"), ("url", "doi"), ("kind", "strength"),
              "position"]  # fmt: skip


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


class ReviewFilter(admin.SimpleListFilter):
    """The review queue (what waits, for whom) beside the overdue queue and the articles with
    findings (readers' comments, the citation monitor's) to look at."""

    title = "medical review"
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [
            ("waiting", "Waiting for review"),
            ("mine", "Waiting for me"),
            ("returned", "Returned to its editor"),
            ("overdue", "Review overdue"),
            ("findings", "Findings to look at"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "waiting":
            return queryset.filter(stage=Article.Stage.IN_REVIEW).order_by("review_requested_at")
        if self.value() == "mine":
            return (
                queryset.filter(stage=Article.Stage.IN_REVIEW)
                .filter(
                    Q(review_requested_of__user=request.user) | Q(review_requested_of__isnull=True)
                )
                .order_by("review_requested_at")
            )
        if self.value() == "returned":
            return queryset.filter(stage=Article.Stage.RETURNED)
        if self.value() == "overdue":
            return queryset.review_overdue().order_by("next_review_due")
        if self.value() == "findings":
            return queryset.filter(open_findings__gt=0).order_by("-open_findings")
        return queryset


class UpdateInline(admin.TabularInline):
    model = ArticleUpdate
    extra = 0
    fields = ["published_on", "note"]
    verbose_name = "public update"
    verbose_name_plural = "Updates list (shown on the article)"
