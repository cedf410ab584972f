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

# The confirmed people without a number (those of this transaction: every writer numbers
# before it commits) numbered in the order they were written, after `%s`.
NUMBER = """UPDATE waitlist_subscriber SET confirmed_number = numbered.n + %s
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM waitlist_subscriber
      WHERE status = 'confirmed' AND confirmed_number IS NULL) AS numbered
WHERE waitlist_subscriber.id = numbered.id"""


def number_new() -> int:
    """Give the people this transaction confirmed their numbers; how many were numbered. Call
    it last before the transaction commits: the counter stays locked until then."""
    with transaction.atomic():
        counter, _ = Counter.objects.select_for_update().get_or_create(name=COUNTER)
        waiting = Subscriber.objects.filter(
            status=Subscriber.Status.CONFIRMED, confirmed_number__isnull=True
        ).count()
        if not waiting:
            return 0
        with connection.cursor() as cursor:
            cursor.execute(NUMBER, [counter.value])
        counter.value += waiting
        counter.save(update_fields=["value"])
    return waiting
