"""A place on the list: max(1, the number in the order of confirming − REFERRAL_PLACES ×
credited referrals)."""

import datetime as dt
import threading

import pytest
from django.db import connections, transaction
from django.utils import timezone

from tests.conftest import join
from tests.factories import SubscriberFactory
from waitlist.models import Subscriber
from waitlist.people import links, signup, tokens

pytestmark = pytest.mark.django_db

START = timezone.now() - dt.timedelta(days=1)


def confirmed_in_order(count: int) -> list:
    return [
        SubscriberFactory(confirmed_at=START + dt.timedelta(minutes=number))
        for number in range(count)
    ]


def test_without_referrals_the_place_is_the_order_of_confirming():
    people = confirmed_in_order(5)
    assert [person.position() for person in people] == [1, 2, 3, 4, 5]


def test_each_credited_referral_moves_a_person_up_three_places():
    people = confirmed_in_order(10)
    eighth = people[7]
    for referred in people[8:]:  # the ninth and tenth joined through the eighth's link
        referred.referred_by, referred.referral_credited = eighth, True
        referred.save()
    # The eighth: 8 − 3 × 2 = 2, level with the second.
    assert [person.position() for person in people] == [1, 2, 3, 4, 5, 6, 7, 2, 9, 10]


def test_a_referral_that_did_not_count_moves_nobody(settings):
    first, second = confirmed_in_order(2)
    SubscriberFactory(referred_by=second, referral_credited=False)
    assert second.position() == 2
    settings.REFERRAL_PLACES = 0
    SubscriberFactory(referred_by=second, referral_credited=True)
    assert second.position() == 2


def test_the_place_never_goes_above_the_first(settings):
    people = confirmed_in_order(3)
    for _ in range(4):
        SubscriberFactory(referred_by=people[2], referral_credited=True)
    assert people[2].position() == 1  # max(1, 3 − 12)
    assert people[0].position() == 1


def test_the_welcome_page_shows_the_place_the_referrals_and_the_rule(client):
    people = confirmed_in_order(5)
    SubscriberFactory(referred_by=people[4], referral_credited=True)
    link = tokens.make_token(tokens.PREFERENCES, key=people[4].token_key)
    page = client.get(f"/waitlist/welcome/{link}/").content.decode()
    assert '<strong class="position">2</strong>' in page  # 5 − 3
    assert "1 confirmed referral</strong>" in page
    assert "moves you up 3 places" in page and "less 3 for each friend" in page


def confirm(person: Subscriber) -> Subscriber:
    """The person's click on the link in their latest confirmation email."""
    record = person.consents.filter(confirmed_at=None).latest("pk")
    token = tokens.make_token(tokens.CONFIRM, key=person.token_key, consent_id=record.pk)
    return signup.confirm(token=token, ip=None)


def waiting(count: int) -> list[Subscriber]:
    return [SubscriberFactory(status="pending", confirmed_at=None) for _ in range(count)]


def test_the_number_is_taken_in_the_order_people_confirm_not_the_order_they_joined():
    early, late = waiting(2)
    first = SubscriberFactory()
    assert first.position() == 1
    assert (confirm(late).position(), confirm(early).position()) == (2, 3)
    assert early.position() is None, "the copy read before confirming has no place"


def test_a_confirmation_that_rolls_back_takes_no_number():
    undone, kept = waiting(2)
    with pytest.raises(RuntimeError), transaction.atomic():
        confirm(undone)
        raise RuntimeError("the request failed after confirming")
    assert confirm(kept).position() == 1
    undone.refresh_from_db()
    assert (undone.status, undone.confirmed_number, undone.position()) == ("pending", None, None)
    assert confirm(undone).position() == 2


def test_a_person_who_leaves_and_confirms_again_lines_up_behind_and_nobody_moves(client):
    people = confirmed_in_order(3)
    links.unsubscribe(subscriber_id=people[0].pk)
    assert Subscriber.objects.get(pk=people[0].pk).position() is None
    assert [Subscriber.objects.get(pk=p.pk).position() for p in people[1:]] == [2, 3]
    join(client, people[0].email)
    back = confirm(Subscriber.objects.get(pk=people[0].pk))
    assert back.position() == 4
    assert [Subscriber.objects.get(pk=p.pk).position() for p in people[1:]] == [2, 3]


@pytest.mark.django_db(transaction=True)  # autocommit, as web requests run
def test_people_confirming_at_the_same_moment_take_different_numbers_with_none_skipped():
    people = waiting(6)
    barrier = threading.Barrier(len(people))
    errors = []

    def click(person: Subscriber) -> None:
        try:
            barrier.wait(5)
            confirm(person)
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=click, args=(person,)) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    numbers = Subscriber.objects.values_list("confirmed_number", flat=True)
    assert sorted(numbers) == [1, 2, 3, 4, 5, 6]
