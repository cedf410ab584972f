"""Admin lists of tables that grow to millions of rows: counted exactly while they are small,
and, unfiltered past ESTIMATE_FROM rows, by the planner's statistics, which PostgreSQL keeps up
to date as autovacuum analyzes the table (within a few per cent), instead of reading every row
for a page of 100."""

from functools import cached_property

from django.core.paginator import Paginator
from django.db import connections

ESTIMATE_FROM = 100_000


def estimated_rows(queryset) -> int | None:
    """The planner's estimate of the rows of `queryset`'s table; None where it has none."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)",
            [queryset.model._meta.db_table],
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] >= 0 else None


class EstimatedCountPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not queryset.query.where:  # the whole table
            estimate = estimated_rows(queryset)
            if estimate is not None and estimate >= ESTIMATE_FROM:
                return estimate
        return super().count
