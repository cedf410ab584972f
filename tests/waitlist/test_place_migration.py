"""The migration to numbered places, from the schema before it: everyone confirmed is numbered
in the order they confirmed, so each keeps the place they saw, and the next to confirm comes
after them."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.factories import SubscriberFactory
from waitlist.models import Subscriber

BEFORE = [("waitlist", "0029_dashboard_indexes")]


@pytest.mark.django_db(transaction=True)
def test_everyone_confirmed_keeps_their_place_and_newcomers_line_up_behind():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("waitlist", "Subscriber")
    start = timezone.now() - dt.timedelta(days=3)
    # Written in another order than they confirmed: the later row confirmed first.
    for name, status, hours in [("b", "confirmed", 2), ("a", "confirmed", 1), ("p", "pending", 0),
                                ("u", "unsubscribed", 0), ("c", "confirmed", 3)]:  # fmt: skip
        old.objects.create(
            email=f"{name}@example.com", email_hash=name, canonical_email_hash=name,
            referral_code=name, token_key=name, status=status,
            confirmed_at=start + dt.timedelta(hours=hours) if hours else None,
        )  # fmt: skip
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    def place(name: str) -> int | None:
        return Subscriber.objects.get(email=f"{name}@example.com").position()

    assert [place(name) for name in "abcpu"] == [1, 2, 3, None, None]
    assert Subscriber.objects.count() == 5, "every row kept"
    assert SubscriberFactory().position() == 4
