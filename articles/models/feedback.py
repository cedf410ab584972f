"""What readers tell the Learning Center without being tracked: counts, never who."""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class SearchMiss(models.Model):
    """A search that found nothing, counted by its words: what readers look for and do not find.
    Nothing about the reader is kept, and a query that looks like an address or a phone number
    is not kept at all (`articles/feedback.py`)."""

    query = models.CharField(max_length=100, unique=True)
    count = models.PositiveIntegerField(default=0)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-count", "-last_seen"]
        verbose_name = "search that found nothing"
        verbose_name_plural = "searches that found nothing"

    def __str__(self) -> str:
        return self.query


class ArticleFeedback(models.Model):
    """What readers answered under one article, as counts only: nothing says who answered."""

    article = models.OneToOneField(
        "articles.Article", on_delete=models.CASCADE, primary_key=True, related_name="feedback"
    )
    helpful = models.PositiveIntegerField(default=0)
    not_helpful = models.PositiveIntegerField("not helpful", default=0)
    errors_reported = models.PositiveIntegerField("errors reported", default=0)

    class Meta:
        verbose_name = "reader feedback"
        verbose_name_plural = "reader feedback"

    def __str__(self) -> str:
        return f"{self.article}: {self.helpful} yes, {self.not_helpful} no"


class FindingQuerySet(models.QuerySet):
    def open(self) -> "FindingQuerySet":
        return self.filter(resolved_at__isnull=True)


class Finding(models.Model):
    """Something in an article for an editor to look at: a reader's comment or error report, or
    what the citation monitor found. It stays in the editors' queue until one resolves it."""

    class Kind(models.TextChoices):
        NOT_HELPFUL = "not_helpful", "A reader found it unhelpful"
        HELPFUL = "helpful", "A reader found it helpful"
        ERROR = "error", "A reader reported an error"
        RETRACTED = "retracted", "A cited study was retracted"
        CORRECTED = "corrected", "A cited study was corrected"
        CONCERN = "concern", "A cited study has an expression of concern"
        DEAD_LINK = "dead_link", "A source's link is broken"

    article = models.ForeignKey(
        "articles.Article", on_delete=models.CASCADE, related_name="findings"
    )
    kind = models.CharField(max_length=20, choices=Kind)
    detail = models.TextField(help_text="The reader's words, or what the monitor found.")
    # The DOI or address a citation finding is about: one finding of a kind for each.
    cited = models.CharField(max_length=500, blank=True)
    dated = models.DateField(null=True, blank=True, help_text="When the notice says it happened.")
    found_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = FindingQuerySet.as_manager()

    class Meta:
        ordering = ["-found_at", "-pk"]
        indexes = [models.Index(fields=["resolved_at", "article"])]
        constraints = [
            models.UniqueConstraint(
                fields=["article", "kind", "cited"],
                condition=~models.Q(cited=""),
                name="finding_once_per_citation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.article}: {self.get_kind_display()}"

    @staticmethod
    def queue_url(article_id: int) -> str:
        """The editors' queue of the open findings of one article."""
        return reverse("admin:articles_finding_changelist") + f"?article={article_id}&open=1"
