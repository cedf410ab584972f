"""The rows that belong to an article: its FAQ, sources, former slugs and Updates list."""

from django.db import models


class FAQ(models.Model):
    article = models.ForeignKey("articles.Article", on_delete=models.CASCADE, related_name="faqs")
    question = models.CharField(max_length=300)
    answer = models.TextField()
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "FAQ"
        verbose_name_plural = "FAQ"

    def __str__(self) -> str:
        return self.question


class Source(models.Model):
    """A work the article cites, with its evidence grade: the kind of work, and how strong the
    evidence is for the claim it supports (SORT's A, B, C), chosen by the editor."""

    class Kind(models.TextChoices):
        # The labels are PubMed's publication types, as the JSON-LD's `publicationType` says.
        GUIDELINE = "guideline", "Practice Guideline"
        REVIEW = "review", "Systematic Review or Meta-Analysis"
        TRIAL = "trial", "Randomized Controlled Trial"
        OBSERVATIONAL = "observational", "Cohort or Observational Study"
        CASE = "case", "Case Report or Series"
        OPINION = "opinion", "Expert Opinion"
        OTHER = "other", "Other"

    class Strength(models.TextChoices):
        A = "A", "A: consistent, good-quality evidence from people"
        B = "B", "B: inconsistent or limited evidence from people"
        C = "C", "C: expert agreement, usual practice, or studies of lab values rather than health"

    article = models.ForeignKey(
        "articles.Article", on_delete=models.CASCADE, related_name="sources"
    )
    title = models.CharField(max_length=400)
    authors = models.CharField(max_length=400, blank=True)
    publisher = models.CharField(
        max_length=200, blank=True, help_text="Journal, publisher or organisation."
    )
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    url = models.URLField(max_length=500, blank=True)
    doi = models.CharField("DOI", max_length=200, blank=True, help_text="e.g. 10.1210/jc.2017-02")
    kind = models.CharField(max_length=20, choices=Kind, blank=True, db_default="")
    strength = models.CharField(
        "strength of evidence", max_length=1, choices=Strength, blank=True, db_default="",
        help_text="For the claim this source supports.",
    )  # fmt: skip
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title

    @property
    def graded(self) -> bool:
        return bool(self.kind or self.strength)

    @property
    def link(self) -> str:
        if self.url.lower().startswith(("https://", "http://")):
            return self.url
        return f"https://doi.org/{self.doi}" if self.doi else ""


class SlugRedirect(models.Model):
    """An article's former slug, so links to its old address keep working (301)."""

    old_slug = models.SlugField(max_length=200, unique=True)
    article = models.ForeignKey(
        "articles.Article", on_delete=models.CASCADE, related_name="old_slugs"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.old_slug} → {self.article.slug}"


class ArticleUpdate(models.Model):
    """One line of an article's public Updates list: a material change, dated, in the editor's
    words, written when the change was published after review."""

    article = models.ForeignKey(
        "articles.Article", on_delete=models.CASCADE, related_name="updates"
    )
    published_on = models.DateField()
    note = models.CharField(max_length=300)

    class Meta:
        ordering = ["-published_on", "-id"]

    def __str__(self) -> str:
        return f"{self.published_on}: {self.note}"
