"""A place on the list: max(1, rank by confirmation time − REFERRAL_PLACES × credited
referrals)."""

import datetime as dt

import pytest
from django.utils import timezone

from tests.factories import SubscriberFactory
from waitlist.people import tokens

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
