"""Searches that found nothing, counted for the editors (`SearchMiss`)."""

import re

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import SearchMiss

# An address, or a run of digits like a phone or record number: such a query may name a reader,
# so it is not kept.
PERSONAL = re.compile(r"@|\d[\d\s().+-]{5,}\d")


def record(query: str) -> bool:
    """Count one search for `query` that found nothing; False when it is not kept."""
    words = " ".join(query.casefold().split())[: SearchMiss._meta.get_field("query").max_length]
    if not words or PERSONAL.search(words):
        return False
    now = timezone.now()
    counted = SearchMiss.objects.filter(query=words)
    if counted.update(count=F("count") + 1, last_seen=now):
        return True
    try:
        with transaction.atomic():
            SearchMiss.objects.create(query=words, count=1, first_seen=now, last_seen=now)
    except IntegrityError:  # another request counted it first
        counted.update(count=F("count") + 1, last_seen=now)
    return True
