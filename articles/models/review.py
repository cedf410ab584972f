"""The medical review's records: each saved text, each sign-off, the review's emails."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ArticleVersion(models.Model):
    """One saved text of an article (`articles.content.Content` as data), with who saved it
    and how: what History lists and restores, what a reviewer reads and signs off."""

    article = models.ForeignKey(
        "articles.Article", on_delete=models.CASCADE, related_name="versions"
    )
    data = models.JSONField()
    digest = models.CharField(max_length=64, help_text="SHA-256 of the text: its exact name.")
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    saved_at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=300, blank=True)
    update_note = models.CharField(
        "what changed, for readers",
        max_length=300,
        blank=True,
        help_text="The line for the article's public Updates list once this text is signed off.",
    )

    class Meta:
        ordering = ["-pk"]
        indexes = [models.Index(fields=["article", "-id"])]

    def __str__(self) -> str:
        return f"{self.article}, {self.saved_at:%Y-%m-%d %H:%M}"


class SignOff(models.Model):
    """A medical reviewer's sign-off of one exact text (its digest): the only source of an
    article's "Medically reviewed by … · date"."""

    class Via(models.TextChoices):
        REVIEW = "review", "Signed off in admin"
        IMPORT = "import", "From an import"
        CARRIED = "carried", "Carried over: the review recorded before sign-offs"

    article = models.ForeignKey(
        "articles.Article", on_delete=models.CASCADE, related_name="sign_offs"
    )
    version = models.ForeignKey(
        "articles.ArticleVersion", on_delete=models.RESTRICT, related_name="sign_offs"
    )
    digest = models.CharField(max_length=64)
    reviewer = models.ForeignKey(
        "articles.Person", on_delete=models.PROTECT, related_name="sign_offs"
    )
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    operator = models.CharField(
        max_length=150, blank=True, help_text="Who ran the import that carried this review."
    )
    signed_at = models.DateTimeField(default=timezone.now)
    reviewed_on = models.DateField()
    via = models.CharField(max_length=10, choices=Via, default=Via.REVIEW)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-signed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.article}: {self.reviewer}, {self.reviewed_on}"


class ReviewEmail(models.Model):
    """The review's outbox: an email to a reviewer or an editor, written in the transaction of
    the step that causes it and sent by a worker once that commits (`articles.notices`)."""

    article = models.ForeignKey(
        "articles.Article", on_delete=models.CASCADE, related_name="review_emails"
    )
    to = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["sent_at", "created_at"])]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to}"
