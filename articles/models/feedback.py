"""What readers tell the Learning Center without being tracked: counts, never who."""

from django.db import models
from django.utils import timezone


class SearchMiss(models.Model):
    """A search that found nothing, counted by its words: what readers look for and do not find.
    Nothing about the reader is kept, and a query that looks like an address or a phone number
    is not kept at all (`articles/misses.py`)."""

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
