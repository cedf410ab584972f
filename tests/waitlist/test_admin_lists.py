"""Admin's lists of people and consent records as the list grows: a search by address and a
filter by state served by an index, filters from fixed choices, and an unfiltered list's count
read from the planner's statistics once the table is large."""

import json

import pytest
from django.db import connection

from tests.factories import SubscriberFactory
from tests.waitlist.test_admin import staff_with
from waitlist.admin import paging
from waitlist.models import ConsentRecord, DashboardFigures, Subscriber
from waitlist.people import privacy
from waitlist.tasks import recount_dashboard

pytestmark = pytest.mark.django_db

LIST = "/admin/waitlist/subscriber/"


def listed(page: str) -> list[str]:
    return [address for address in ("ana@example.com", "ben@example.com", "bea@example.org")
            if address in page]  # fmt: skip


def test_a_whole_address_finds_its_person_in_any_case_and_a_start_finds_every_match():
    SubscriberFactory(email="ana@example.com")
    SubscriberFactory(email="ben@example.com", referral_code="ref-ben")
    SubscriberFactory(email="bea@example.org")
    client = staff_with("view_subscriber")
    assert listed(client.get(LIST, {"q": " Ana@Example.com "}).content.decode()) == [
        "ana@example.com"
    ]
    assert listed(client.get(LIST, {"q": "B"}).content.decode()) == [
        "ben@example.com", "bea@example.org"
    ]  # fmt: skip
    assert listed(client.get(LIST, {"q": "ref-ben"}).content.decode()) == ["ben@example.com"]
    assert listed(client.get(LIST, {"q": "nobody@example.com"}).content.decode()) == []


def test_the_filters_offer_fixed_choices_and_filter_by_them():
    SubscriberFactory(email="ana@example.com", placement="inline", state="TX")
    SubscriberFactory(email="ben@example.com", placement="footer", state="CA")
    client = staff_with("view_subscriber")
    page = client.get(LIST).content.decode()
    assert "?placement=import" in page and "?referral_outcome=counted" in page
    assert listed(client.get(LIST, {"placement": "footer"}).content.decode()) == ["ben@example.com"]
    assert listed(client.get(LIST, {"state__exact": "TX"}).content.decode()) == ["ana@example.com"]


def test_a_consent_record_is_found_by_its_person_s_whole_address():
    SubscriberFactory(email="ana@example.com")
    SubscriberFactory(email="ben@example.com")
    client = staff_with("view_consentrecord")
    page = client.get("/admin/waitlist/consentrecord/", {"q": "BEN@example.com"}).content.decode()
    assert listed(page) == ["ben@example.com"]


def test_a_small_or_filtered_list_is_counted_exactly():
    SubscriberFactory.create_batch(3, state="TX")
    people = Subscriber.objects.order_by("-pk")
    assert paging.EstimatedCountPaginator(people, 100).count == 3
    assert paging.EstimatedCountPaginator(people.filter(state="CA"), 100).count == 0


@pytest.mark.postgresql  # the planner's statistics
def test_a_large_unfiltered_list_is_counted_from_the_planner_s_statistics(monkeypatch):
    SubscriberFactory.create_batch(30)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE waitlist_subscriber")
    estimate = paging.estimated_rows(Subscriber.objects.all())
    assert estimate == 30, "once analyzed, the estimate is the count"
    monkeypatch.setattr(paging, "ESTIMATE_FROM", 10)
    SubscriberFactory.create_batch(5)  # not yet analyzed: the estimate lags
    people = Subscriber.objects.order_by("-pk")
    assert paging.EstimatedCountPaginator(people, 100).count == 30
    records = ConsentRecord.objects.filter(pk__gt=0).order_by("-pk")
    assert paging.EstimatedCountPaginator(records, 100).count == 35


def test_the_dashboard_and_its_csvs_read_the_figures_last_counted(django_assert_num_queries):
    SubscriberFactory(state="TX")
    SubscriberFactory(state="CA")
    recount_dashboard()
    client = staff_with("view_dashboard")
    SubscriberFactory(state="CA")  # after the count: not yet in the figures
    # The session, the user, their permissions (two), and the figures: the list is not read.
    with django_assert_num_queries(5):
        response = client.get("/admin/waitlist/subscriber/dashboard/", {"csv": "states"})
    assert response.content.decode().splitlines()[1:] == ["California,1", "Texas,1"]
    campaigns = client.get("/admin/waitlist/subscriber/dashboard/", {"csv": "campaigns"})
    assert campaigns.content.decode().startswith("Campaign,Status,Started")
    assert client.get("/admin/waitlist/subscriber/dashboard/", {"csv": "nope"}).status_code == 404
    recount_dashboard()
    states = client.get("/admin/waitlist/subscriber/dashboard/", {"csv": "states"})
    assert states.content.decode().splitlines()[1:] == ["California,2", "Texas,1"]


DASHBOARD = "/admin/waitlist/subscriber/dashboard/"


def test_before_the_first_count_the_dashboard_says_so_and_count_now_asks_the_workers(
    handed_out, django_capture_on_commit_callbacks
):
    client = staff_with("view_dashboard")
    page = client.get(DASHBOARD).content.decode()
    assert "The figures have not been counted yet" in page and "Totals" not in page
    assert client.get(DASHBOARD, {"csv": "states"}).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(DASHBOARD)
    assert answer.status_code == 302 and answer["Location"] == DASHBOARD
    assert handed_out == [("waitlist.tasks.recount_dashboard",)]
    page = client.get(DASHBOARD).content.decode()
    assert "Counting the figures again: reload in a moment." in page


def test_the_figures_kept_name_nobody_and_show_a_referrer_as_they_are_now():
    referrer = SubscriberFactory(email="sharer@example.com")
    SubscriberFactory(referred_by=referrer, referral_credited=True)
    recount_dashboard()
    assert "@" not in json.dumps(DashboardFigures.objects.get().figures)
    client = staff_with("view_dashboard")
    assert '<th scope="row">sharer@example.com</th><td>1</td>' in client.get(DASHBOARD).text
    privacy.erase(subscriber_id=referrer.pk)
    page = client.get(DASHBOARD).text
    assert "sharer@example.com" not in page
    assert f'<th scope="row">erased subscriber #{referrer.pk}</th><td>1</td>' in page
    assert "Counted at" in page and "again every 5 minutes" in page
