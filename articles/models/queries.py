"""How articles are found: the public ones, the listings, the review queues, full-text search."""

from django.contrib.postgres.search import SearchVector
from django.db import models
from django.db.models import Min
from django.utils import timezone


def search_document() -> SearchVector:
    """What full-text search matches, weighted; the GIN index is built on the same expression."""
    return (
        SearchVector("title", weight="A", config="english")
        + SearchVector("summary", "tldr", weight="B", config="english")
        + SearchVector("body_text", weight="C", config="english")
    )


class ArticleQuerySet(models.QuerySet):
    def published(self) -> "ArticleQuerySet":
        """Public articles. Scheduled publishing is this filter: no job flips a flag."""
        return self.filter(status=self.model.Status.PUBLISHED, publish_at__lte=timezone.now())

    def for_listing(self) -> "ArticleQuerySet":
        return self.select_related("category").order_by("-publish_at", "-id")

    def review_overdue(self) -> "ArticleQuerySet":
        return self.filter(next_review_due__lt=timezone.localdate())

    def next_publication(self):
        """When the next article scheduled for later goes public, if one is."""
        upcoming = self.filter(status=self.model.Status.PUBLISHED, publish_at__gt=timezone.now())
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
