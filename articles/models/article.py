"""The article and its two lifecycles."""

import calendar
import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description

from ..rendering import reading_minutes, render_markdown, split_lines
from .library import Category, GlossaryTerm, Person
from .parts import SlugRedirect
from .queries import ArticleQuerySet


def months_after(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (the month's last day when it has no such day)."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def recorded(transition_method):
    """A transition whose `by` (a person; None for a command) and `description` (the reviewer's
    comment, the minor edit's reason) go into its log entry (django-fsm-log)."""
    return fsm_log_by(fsm_log_description(transition_method))


class Article(ConcurrentTransitionMixin, models.Model):
    """A Learning Center article. Its rows hold the text readers see: once signed off, only a
    sign-off (or a minor edit by whom may publish one) changes it; a change waits in an
    `ArticleVersion` meanwhile.

    Two state machines (django-fsm-2), each transition recorded with who and why
    (django-fsm-log) and refused over a row that moved meanwhile: `stage`, where the newest
    text is in its medical review, and `status`, whether the signed text is published.
    `articles.workflow.move` runs them."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    class Stage(models.TextChoices):
        DRAFT = "draft", "Being written"
        IN_REVIEW = "in_review", "Waiting for medical review"
        RETURNED = "returned", "Returned to its editor"
        SIGNED = "signed", "Signed off"

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="articles", null=True, blank=True
    )
    label = models.CharField(
        max_length=30, blank=True, help_text="Optional badge shown beside the category."
    )
    summary = models.TextField(blank=True, help_text="One or two sentences under the title.")
    tldr = models.TextField(
        "TL;DR", blank=True, help_text="One bullet per line, shown as the TL;DR list."
    )
    body = models.TextField(
        blank=True,
        help_text=(
            "Markdown: ## headings, lists, > callouts, tables, ![alt text](image-url). "
            "A second-level heading named Fundamentals, Intermediate or Academic starts a depth "
            "tier."
        ),
    )
    body_html = models.TextField(editable=False, default="")
    body_text = models.TextField(editable=False, default="")
    toc = models.JSONField(editable=False, default=list)
    reading_minutes = models.PositiveSmallIntegerField(editable=False, default=1)
    related = models.ManyToManyField("self", symmetrical=False, blank=True)
    disclaimer = models.TextField(
        blank=True, help_text="Leave empty to show the site's standard medical disclaimer."
    )
    meta_description = models.CharField(
        max_length=300, blank=True, help_text="For search engines; the summary when empty."
    )
    featured = models.BooleanField(default=False)
    # The disclosures, shown under the article; each is needed to publish it.
    mentions_services = models.BooleanField(
        "mentions Halftime Health's services",
        null=True,
        blank=True,
        choices=[(True, "Yes"), (False, "No")],
        help_text="Whether the article speaks of a treatment or service Halftime Health offers.",
    )
    ai_used = models.BooleanField(
        "AI used",
        null=True,
        blank=True,
        choices=[(True, "Yes"), (False, "No")],
        help_text="Whether an AI tool helped write or research it.",
    )
    ai_use = models.CharField(
        "how AI was used",
        max_length=300,
        blank=True,
        help_text='When it was: how, e.g. "An AI tool suggested a first outline; every sentence '
        'was written and checked by people."',
    )

    author = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        related_name="articles_written",
        null=True,
        blank=True,
    )
    # The public review line: written by a sign-off only (SignOff keeps each one).
    reviewer = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        related_name="articles_reviewed",
        null=True,
        blank=True,
        editable=False,
        verbose_name="medical reviewer",
    )
    last_reviewed = models.DateField(null=True, blank=True, editable=False)
    next_review_due = models.DateField(null=True, blank=True, editable=False)

    status = FSMField(
        max_length=10,
        choices=Status,
        default=Status.DRAFT,
        protected=True,
        help_text="A published article with a future publish date is scheduled: it goes public "
        "at that time on its own.",
    )
    stage = FSMField(
        "medical review", max_length=10, choices=Stage, default=Stage.DRAFT, protected=True
    )
    review_requested_of = models.ForeignKey(
        Person,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        help_text="The reviewer asked; none: any medical reviewer.",
    )
    review_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    publish_at = models.DateTimeField("publish date", null=True, blank=True)
    content_updated_at = models.DateTimeField(
        "content updated",
        null=True,
        blank=True,
        editable=False,
        help_text="When what the public page says last changed (its visible Updated date).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ArticleQuerySet.as_manager()

    class Meta:
        ordering = ["-publish_at", "-id"]
        indexes = [
            models.Index(fields=["status", "publish_at"]),
            models.Index(fields=["stage", "review_requested_at"]),
            # The full-text GIN index on search_document() is made by a PostgreSQL-only migration.
        ]
        permissions = [
            ("publish_minor_edit", "Can publish a minor edit (typos, links) without a new review"),
            ("sign_off", "Can sign off or return an article's text as its medical reviewer"),
        ]
        constraints = [
            # The publish gate, held by the database too: nothing leaves draft unreviewed.
            models.CheckConstraint(
                condition=Q(status="draft")
                | (
                    Q(reviewer__isnull=False)
                    & Q(last_reviewed__isnull=False)
                    & Q(publish_at__isnull=False)
                ),
                name="article_reviewed_before_publishing",
                violation_error_message="A published article needs a reviewer, a last-reviewed "
                "date and a publish date.",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs) -> None:
        self.render()
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("articles:detail", args=[self.slug])

    def render(self) -> None:
        """Derive the page's HTML, table of contents and reading time from the Markdown."""
        rendered = render_markdown(self.body, glossary=GlossaryTerm.objects.all())
        self.body_html, self.body_text, self.toc = rendered.html, rendered.text, rendered.toc
        self.reading_minutes = reading_minutes(" ".join([self.summary, self.tldr, rendered.text]))

    @property
    def state(self) -> str:
        """Draft, Scheduled or Published, as an editor thinks of it."""
        if self.status == self.Status.DRAFT:
            return "Draft"
        return "Published" if self.is_public else "Scheduled"

    @property
    def is_public(self) -> bool:
        return (
            self.status == self.Status.PUBLISHED
            and self.publish_at is not None
            and self.publish_at <= timezone.now()
        )

    @property
    def toc_tree(self) -> list[dict]:
        """The table of contents with each h3 under the h2 before it."""
        tree = []
        for entry in self.toc:
            if entry["level"] == 3 and tree:
                tree[-1]["children"].append(entry)
            else:
                tree.append({**entry, "children": []})
        return tree

    @property
    def date_modified(self):
        """When the public text last changed: its last material update, else its publication."""
        return self.content_updated_at or self.publish_at

    @property
    def updated_on(self):
        """The visible "Updated" date, when what the page says changed after it was published."""
        if self.content_updated_at and self.publish_at:
            changed = timezone.localdate(self.content_updated_at)
            if changed > timezone.localdate(self.publish_at):
                return changed
        return None

    @property
    def tldr_items(self) -> list[str]:
        return split_lines(self.tldr)

    @property
    def disclaimer_text(self) -> str:
        return self.disclaimer or settings.ARTICLE_DISCLAIMER

    @property
    def disclosed_people(self) -> list[tuple[str, Person]]:
        """The author and the medical reviewer, each with their role, for the disclosures."""
        people = [("Written by", self.author), ("Medically reviewed by", self.reviewer)]
        return [(role, person) for role, person in people if person is not None]

    @property
    def description(self) -> str:
        return self.meta_description or self.summary

    def remember_slug(self, old_slug: str) -> None:
        """Keep a former address working: /learn/<old_slug>/ answers 301 to the current one."""
        if old_slug and old_slug != self.slug:
            SlugRedirect.objects.update_or_create(old_slug=old_slug, defaults={"article": self})
        SlugRedirect.objects.filter(old_slug=self.slug).delete()

    def publish_problems(self, *, source_count: int | None = None) -> dict[str, str]:
        """What this article lacks to be published, by the field that lacks it, as "needs …"
        phrases: the change form lists them at its top, each linking to its field, and the
        list's Publish action in the same words. `source_count` adds the sources, which live in
        rows of their own."""
        needs = {}
        if self.last_reviewed is None:
            needs["review"] = "a medical reviewer's sign-off"
        if not self.category_id:
            needs["category"] = "a category"
        if not self.summary.strip():
            needs["summary"] = "a summary"
        if source_count is not None and source_count < 1:
            needs["sources"] = "at least one source"
        needs.update(self.disclosure_problems())
        return needs

    def disclosure_problems(self) -> dict[str, str]:
        """What the disclosures lack, by field, as "needs …" phrases."""
        needs = {}
        if self.mentions_services is None:
            needs["mentions_services"] = "to say whether it mentions Halftime Health's services"
        if self.ai_used is None or (self.ai_used and not self.ai_use.strip()):
            needs["ai_used"] = "to say whether and how AI was used"
        for role, person in [("author", self.author), ("reviewer", self.reviewer)]:
            if person is not None and not person.conflicts.strip():
                needs[f"{role}_conflicts"] = (
                    f"its {role}'s conflicts of interest (on {person.name}'s page under People)"
                )
        return needs

    # The medical review of the newest text (`stage`).

    @recorded
    @transition(field=stage, source=Stage.SIGNED, target=Stage.DRAFT)
    def change(self, *, by=None, description: str = "") -> None:
        """A saved text differs from the signed one: it waits, the page keeps the signed one."""

    @recorded
    @transition(field=stage, source=[Stage.DRAFT, Stage.RETURNED], target=Stage.IN_REVIEW)
    def request_review(
        self, *, reviewer: Person | None = None, by=None, description: str = ""
    ) -> None:
        self.review_requested_of = reviewer
        self.review_requested_at = timezone.now()

    @recorded
    @transition(
        field=stage,
        source=Stage.IN_REVIEW,
        target=Stage.SIGNED,
        permission="articles.sign_off",
    )
    def sign_off(self, *, reviewer: Person, on: dt.date, by=None, description: str = "") -> None:
        self._reviewed(reviewer, on)

    @recorded
    @transition(
        field=stage, source=Stage.IN_REVIEW, target=Stage.RETURNED, permission="articles.sign_off"
    )
    def return_to_editor(self, *, by=None, description: str = "") -> None:
        """The reviewer's comment is the transition's description."""

    @recorded
    @transition(field=stage, source="*", target=Stage.SIGNED)
    def sign_off_from_import(
        self,
        *,
        reviewer: Person,
        on: dt.date,
        due: dt.date | None = None,
        by=None,
        description: str = "",
    ) -> None:
        """An import's file carried a newer review of its text (the operator's trusted path)."""
        self._reviewed(reviewer, on, due)

    @recorded
    @transition(
        field=stage,
        source=[Stage.DRAFT, Stage.RETURNED, Stage.IN_REVIEW],
        target=Stage.SIGNED,
        permission="articles.publish_minor_edit",
        conditions=[lambda article: article.last_reviewed is not None],
    )
    def publish_minor_edit(self, *, by=None, description: str = "") -> None:
        """Typos and links on a signed text: public without a new review; the reason is the
        description. The review line keeps the last sign-off's reviewer and date."""

    @recorded
    @transition(
        field=stage,
        source=[Stage.DRAFT, Stage.RETURNED, Stage.IN_REVIEW],
        target=Stage.SIGNED,
        conditions=[lambda article: article.last_reviewed is not None],
    )
    def discard_change(self, *, by=None, description: str = "") -> None:
        """The waiting change is dropped; the signed text is the newest again."""

    def _reviewed(self, reviewer: Person, on: dt.date, due: dt.date | None = None) -> None:
        """The review line; the next review is due ARTICLE_REVIEW_MONTHS later unless `due`."""
        if on > timezone.localdate():
            raise ValueError("A medical review cannot be dated in the future.")
        self.reviewer, self.last_reviewed = reviewer, on
        self.next_review_due = due or months_after(on, settings.ARTICLE_REVIEW_MONTHS)
        self.review_requested_of, self.review_requested_at = None, None

    # Whether the signed text is published (`status`).

    @recorded
    @transition(
        field=status,
        source=Status.DRAFT,
        target=Status.PUBLISHED,
        conditions=[lambda article: article.last_reviewed is not None],
    )
    def publish(self, *, at: dt.datetime | None = None, by=None, description: str = "") -> None:
        """Public at its publish date (scheduled when that is later), else now."""
        self.publish_at = at or self.publish_at or timezone.now()

    @recorded
    @transition(field=status, source=Status.PUBLISHED, target=Status.DRAFT)
    def unpublish(self, *, by=None, description: str = "") -> None:
        """Off the site; its publish date is cleared, so a later sign-off leaves it a draft
        until it is published again."""
        self.publish_at = None
