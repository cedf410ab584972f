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
