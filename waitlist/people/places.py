"""Places on the list. Each person who confirms takes the next number in the order of
confirming (1 for the first), and keeps it while they stay: their place is that number less
`REFERRAL_PLACES` for each referral that counted (`Subscriber.position`). Nobody's number goes
up: later signups and imported lists line up behind, and a person who leaves and confirms again
takes a new number at the back. Reading a place costs two index lookups at any size.

The numbers come from one `Counter` row, taken under its lock at the end of the transaction that
confirms: the numbers are dense and in the order the confirmations committed, and a transaction
that rolls back takes none."""

from django.db import connection, transaction

from ..models.people import Counter, Subscriber

COUNTER = "confirmed"

# The people `waiting` selects (their ids) numbered in the order they were written, after the
# number given.
NUMBER = """UPDATE waitlist_subscriber SET confirmed_number = numbered.n + %s
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM waitlist_subscriber
      WHERE id IN ({waiting})) AS numbered
WHERE waitlist_subscriber.id = numbered.id"""


def number_new(people: list[int] | None = None) -> int:
    """Give the confirmed people without a number theirs: `people` (ids) among them, or all of
    them (those of this transaction: every writer numbers before it commits); how many were
    numbered. Call it last before the transaction commits: the counter stays locked until
    then. Naming the people keeps a confirmation's share to a lookup by id, whatever the
    planner guesses of how many wait."""
    with transaction.atomic():
        counter, _ = Counter.objects.select_for_update().get_or_create(name=COUNTER)
        waiting = Subscriber.objects.filter(
            status=Subscriber.Status.CONFIRMED, confirmed_number__isnull=True
        )
        if people is not None:
            waiting = waiting.filter(pk__in=people)
        count = waiting.count()
        if not count:
            return 0
        select, params = waiting.values("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(NUMBER.format(waiting=select), [counter.value, *params])
        counter.value += count
        counter.save(update_fields=["value"])
    return count
