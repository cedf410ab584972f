import reversion
from django.conf import settings
from django.contrib.postgres.search import SearchVector
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Min, Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from .rendering import reading_minutes, render_markdown, split_lines


def search_document() -> SearchVector:
    """What full-text search matches, weighted; the GIN index is built on the same expression."""
    return (
        SearchVector("title", weight="A", config="english")
        + SearchVector("summary", "tldr", weight="B", config="english")
        + SearchVector("body_text", weight="C", config="english")
    )


class Category(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("articles:topic", args=[self.slug])


class Person(models.Model):
    """An author or a medical reviewer, with a public page listing what they wrote or reviewed."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True, help_text="The page's address.")
    credentials = models.CharField(
        max_length=80, blank=True, help_text='Letters after the name, e.g. "MD" or "MD, FACS".'
    )
    role = models.CharField(
        max_length=120, blank=True, help_text='e.g. "Board-certified urologist", "Health writer".'
    )
    bio = models.TextField(blank=True, help_text="A few sentences, in the third person.")
    photo_url = models.URLField(
        "photo", max_length=500, blank=True, help_text="The https address of a square photo."
    )
    links = models.TextField(
        blank=True,
        help_text="One address per line: a practice profile, a university page, LinkedIn.",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return f"{self.name}, {self.credentials}" if self.credentials else self.name

    def get_absolute_url(self) -> str:
        return reverse("articles:person", args=[self.slug])

    @property
    def link_list(self) -> list[str]:
        return [
            line for line in split_lines(self.links) if line.startswith(("https://", "http://"))
        ]

    @classmethod
    def for_byline(cls, byline: str) -> "Person":
        """The person a "Name, credentials" string names (by name, ignoring case), made if new."""
        name, _, credentials = byline.partition(",")
        name, credentials = name.strip(), credentials.strip()
        person = cls.objects.filter(name__iexact=name).first()
        if person is None:
            person = cls.objects.create(
                name=name, credentials=credentials, slug=free_slug(cls, slugify(name) or "person")
            )
        return person


def free_slug(model, base: str) -> str:
    """`base`, or `base-2`, `base-3`… whichever no row of `model` has yet."""
    slug, n = base, 2
    while model.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


class ArticleQuerySet(models.QuerySet):
    def published(self) -> "ArticleQuerySet":
        """Public articles. Scheduled publishing is this filter: no job flips a flag."""
        return self.filter(status=Article.Status.PUBLISHED, publish_at__lte=timezone.now())

    def for_listing(self) -> "ArticleQuerySet":
        return self.select_related("category").order_by("-publish_at", "-id")

    def review_overdue(self) -> "ArticleQuerySet":
        return self.filter(next_review_due__lt=timezone.localdate())

    def next_publication(self):
        """When the next article scheduled for later goes public, if one is."""
        upcoming = self.filter(status=Article.Status.PUBLISHED, publish_at__gt=timezone.now())
        return upcoming.aggregate(first=Min("publish_at"))["first"]

    def rerender(self) -> int:
        """Render each article again, e.g. after the glossary changed; run it in the transaction
        that changed the glossary, whose commit moves the page cache on. Returns how many."""
        count = 0
        for article in self.iterator(chunk_size=200):
            article.render()
            type(article).objects.filter(pk=article.pk).update(
                body_html=article.body_html, body_text=article.body_text, toc=article.toc
            )
            count += 1
        return count


@reversion.register(follow=["faqs", "sources"])
class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

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

    author = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        related_name="articles_written",
        null=True,
        blank=True,
    )
    reviewer = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        related_name="articles_reviewed",
        null=True,
        blank=True,
        verbose_name="medical reviewer",
    )
    last_reviewed = models.DateField(null=True, blank=True)
    next_review_due = models.DateField(null=True, blank=True)

    status = models.CharField(
        max_length=10,
        choices=Status,
        default=Status.DRAFT,
        help_text="A published article with a future publish date is scheduled: it goes public "
        "at that time on its own.",
    )
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
            # The full-text GIN index on search_document() is made by a PostgreSQL-only migration.
        ]
        permissions = [
            ("publish_minor_edit", "Can publish a minor edit (typos, links) without a new review")
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
    def description(self) -> str:
        return self.meta_description or self.summary

    def remember_slug(self, old_slug: str) -> None:
        """Keep a former address working: /learn/<old_slug>/ answers 301 to the current one."""
        if old_slug and old_slug != self.slug:
            SlugRedirect.objects.update_or_create(old_slug=old_slug, defaults={"article": self})
        SlugRedirect.objects.filter(old_slug=self.slug).delete()

    def publish_problems(self, *, source_count: int | None = None) -> dict[str, str]:
        """What this article lacks to be published or scheduled, by the field that lacks it, as
        "needs …" phrases; the admin form shows each beside its field, the bulk action lists
        them. `source_count` adds the sources, which live in rows of their own."""
        needs = {}
        if self.reviewer_id is None:
            needs["reviewer"] = "a medical reviewer"
        if not self.last_reviewed:
            needs["last_reviewed"] = "the date of its medical review"
        if not self.publish_at:
            needs["publish_at"] = "a publish date"
        if not self.category_id:
            needs["category"] = "a category"
        if not self.summary.strip():
            needs["summary"] = "a summary"
        if source_count is not None and source_count < 1:
            needs["sources"] = "at least one source"
        return needs

    def clean(self) -> None:
        if self.status != self.Status.DRAFT:
            needs = self.publish_problems()
            if needs:
                raise ValidationError({name: publish_refusal(need) for name, need in needs.items()})


def publish_refusal(need: str) -> str:
    return f"To publish or schedule, this article needs {need}."


@reversion.register()
class FAQ(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="faqs")
    question = models.CharField(max_length=300)
    answer = models.TextField()
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "FAQ"
        verbose_name_plural = "FAQ"

    def __str__(self) -> str:
        return self.question


@reversion.register()
class Source(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="sources")
    title = models.CharField(max_length=400)
    authors = models.CharField(max_length=400, blank=True)
    publisher = models.CharField(
        max_length=200, blank=True, help_text="Journal, publisher or organisation."
    )
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    url = models.URLField(max_length=500, blank=True)
    doi = models.CharField("DOI", max_length=200, blank=True, help_text="e.g. 10.1210/jc.2017-02")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title

    @property
    def link(self) -> str:
        if self.url.lower().startswith(("https://", "http://")):
            return self.url
        return f"https://doi.org/{self.doi}" if self.doi else ""


@reversion.register()
class GlossaryTerm(models.Model):
    term = models.CharField(max_length=80)
    slug = models.SlugField(max_length=80, unique=True)
    definition = models.TextField(help_text="Plain English, one or two sentences.")
    aliases = models.CharField(
        max_length=200, blank=True, help_text="Other spellings that mean the same, comma-separated."
    )

    class Meta:
        ordering = [Lower("term")]
        constraints = [
            models.UniqueConstraint(Lower("term"), name="glossary_term_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.term

    def get_absolute_url(self) -> str:
        return reverse("articles:glossary") + f"#{self.slug}"

    @property
    def spellings(self) -> list[str]:
        return [self.term, *(a.strip() for a in self.aliases.split(",") if a.strip())]


class SlugRedirect(models.Model):
    """An article's former slug, so links to its old address keep working (301)."""

    old_slug = models.SlugField(max_length=200, unique=True)
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="old_slugs")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.old_slug} → {self.article.slug}"


class ArticleUpdate(models.Model):
    """One line of an article's public Updates list: a material change, dated, in the editor's
    words, written when the change was published after review."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="updates")
    published_on = models.DateField()
    note = models.CharField(max_length=300)

    class Meta:
        ordering = ["-published_on", "-id"]

    def __str__(self) -> str:
        return f"{self.published_on}: {self.note}"


class ArticleRevision(models.Model):
    """What became of a saved revision of an article (django-reversion keeps its content):
    whether it went live, after which review, or waits for one."""

    class Kind(models.TextChoices):
        DRAFT = "draft", "Saved as a draft"
        PUBLISHED = "published", "Published after medical review"
        REVIEW = "review", "Medical review, text unchanged"
        DETAILS = "details", "Details changed, text unchanged"
        MINOR = "minor", "Minor edit, published without review"
        PENDING = "pending", "Waiting for medical review"

    revision = models.OneToOneField(
        "reversion.Revision", on_delete=models.CASCADE, related_name="article_revision"
    )
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="revisions")
    kind = models.CharField(max_length=10, choices=Kind)
    reason = models.CharField(
        max_length=300, blank=True, help_text="Why a minor edit went live without review."
    )

    class Meta:
        ordering = ["-revision_id"]
        indexes = [models.Index(fields=["article", "-revision"])]

    def __str__(self) -> str:
        return f"{self.article}: {self.get_kind_display()}"

    @property
    def is_live(self) -> bool:
        return self.kind != self.Kind.PENDING
