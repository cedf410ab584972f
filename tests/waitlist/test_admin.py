import csv
import datetime as dt
import io

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from tests.factories import ArticleFactory, StaffFactory, SubscriberFactory
from waitlist.models import ConsentRecord, Subscriber
from waitlist.tasks import recount_dashboard

pytestmark = pytest.mark.django_db


def staff_with(*codenames: str) -> Client:
    user = StaffFactory()
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def test_subscriber_list_filters_and_search():
    SubscriberFactory(email="alice@example.com", state="TX")
    SubscriberFactory(email="bob@example.com", state="CA", status="unsubscribed")
    client = staff_with("view_subscriber")
    page = client.get("/admin/waitlist/subscriber/?status__exact=confirmed").content.decode()
    assert "alice@example.com" in page and "bob@example.com" not in page
    page = client.get("/admin/waitlist/subscriber/?q=bob").content.decode()
    assert "bob@example.com" in page and "alice@example.com" not in page


def test_csv_export_needs_its_own_permission():
    subscriber = SubscriberFactory(email="alice@example.com", interests=["testosterone"])
    data = {"action": "export_csv", "_selected_action": [subscriber.pk]}
    viewer = staff_with("view_subscriber")
    assert "export_csv" not in viewer.get("/admin/waitlist/subscriber/").content.decode()
    refused = viewer.post("/admin/waitlist/subscriber/", data)
    assert refused.get("Content-Type", "").startswith("text/html")

    exporter = staff_with("view_subscriber", "export_subscribers")
    response = exporter.post("/admin/waitlist/subscriber/", data)
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["email", "status", "interests"]
    assert rows[1][:4] == ["alice@example.com", "confirmed", "testosterone", "TX"]


def exported(*subscribers) -> list[list[str]]:
    data = {"action": "export_csv", "_selected_action": [s.pk for s in subscribers]}
    response = staff_with("view_subscriber", "export_subscribers").post(
        "/admin/waitlist/subscriber/", data
    )
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_exported_as_text():
    person = SubscriberFactory(
        email="=1+1@example.com", utm_campaign='=HYPERLINK("http://evil.example","x")',
        utm_source="+launch", utm_medium="@mention",
    )  # fmt: skip
    header, row = exported(person)
    cells = dict(zip(header, row, strict=True))
    assert cells["email"] == "'=1+1@example.com"
    assert cells["utm_campaign"] == '\'=HYPERLINK("http://evil.example","x")'
    assert (cells["utm_source"], cells["utm_medium"]) == ("'+launch", "'@mention")
    assert cells["status"] == "confirmed"


def test_consent_records_are_read_only_in_admin():
    subscriber = SubscriberFactory()
    record = ConsentRecord.objects.get(subscriber=subscriber)
    superuser = StaffFactory(is_superuser=True)
    client = Client(HTTP_HOST="localhost")
    client.force_login(superuser)
    assert client.get("/admin/waitlist/consentrecord/add/").status_code == 403
    assert client.get(f"/admin/waitlist/consentrecord/{record.pk}/delete/").status_code == 403
    page = client.get(f"/admin/waitlist/consentrecord/{record.pk}/change/").content.decode()
    assert 'name="consent_text"' not in page
    assert "unsubscribe at any time" in page
    listed = client.get("/admin/waitlist/consentrecord/?purpose__exact=list").content.decode()
    assert "Launch updates by email" in listed


def test_the_dashboard_shows_rates_articles_and_referrals():
    article = ArticleFactory(title="Reading your labs")
    referrer = SubscriberFactory(email="ref@example.com")
    SubscriberFactory(source_article=article, referred_by=referrer, referral_credited=True)
    SubscriberFactory(source_article=article, status="pending", confirmed_at=None)
    recount_dashboard()
    client = staff_with("view_dashboard")
    page = client.get("/admin/waitlist/subscriber/dashboard/").content.decode()
    assert "Waitlist dashboard" in page
    assert "<div><dt>Signups</dt><dd>3</dd></div>" in page
    assert "66.7%" in page
    assert '<th scope="row">Reading your labs</th><td>1</td><td>2</td>' in page
    assert '<th scope="row">ref@example.com</th><td>1</td>' in page
    assert page.count("<rect ") == 60  # two bars a day for 30 days


def test_the_dashboard_chart_has_labelled_axes_and_its_table_beside_it(settings):
    today = timezone.localtime()
    for days_ago, count in ((0, 3), (1, 1), (8, 2)):
        for _ in range(count):
            person = SubscriberFactory()
            moment = today - dt.timedelta(days=days_ago)
            Subscriber.objects.filter(pk=person.pk).update(created_at=moment, confirmed_at=moment)
    SubscriberFactory(status="pending", confirmed_at=None, state="")
    recount_dashboard()
    page = staff_with("view_dashboard").get("/admin/waitlist/subscriber/dashboard/")
    text = page.content.decode()
    # y ticks up to a round top (4), dates under every seventh day ending today.
    for tick in ("0", "1", "2", "3", "4"):
        assert f'class="tick y">{tick}</text>' in text
    assert f'class="tick x">{today:%b} {today.day}</text>' in text
    week_ago = today - dt.timedelta(days=7)
    assert f'class="tick x">{week_ago:%b} {week_ago.day}</text>' in text
    assert ">People</text>" in text and ">Day (site time)</text>" in text
    assert f'<th scope="row">{today:%a %b} {today.day}</th><td>4</td><td>3</td>' in text
    for name in ("daily", "status", "sources", "states", "interests"):
        assert f'href="?csv={name}"' in text
    assert '<th scope="row">Texas</th><td>6</td>' in text  # the factory's people are Texans


def test_every_dashboard_table_downloads_as_csv():
    SubscriberFactory(interests=["sleep"], state="CA", utm_source="=HYPERLINK(1)")
    recount_dashboard()
    client = staff_with("view_dashboard")
    daily = client.get("/admin/waitlist/subscriber/dashboard/?csv=daily")
    assert daily["Content-Type"].startswith("text/csv")
    lines = daily.content.decode().splitlines()
    assert lines[0] == "Day,Signups,Confirmations" and len(lines) == 31
    assert lines[-1] == f"{timezone.localdate().isoformat()},1,1"
    sources = client.get("/admin/waitlist/subscriber/dashboard/?csv=sources").content.decode()
    assert "'=HYPERLINK(1)" in sources  # kept as text, never run by a spreadsheet
    interests = client.get("/admin/waitlist/subscriber/dashboard/?csv=interests").content.decode()
    assert "Sleep,1" in interests
    assert client.get("/admin/waitlist/subscriber/dashboard/?csv=nope").status_code == 404


def test_the_admin_index_links_the_dashboard():
    page = staff_with("view_dashboard", "view_subscriber").get("/admin/").content.decode()
    assert 'href="/admin/waitlist/subscriber/dashboard/">Dashboard</a>' in page
    assert (
        "The waitlist at a glance"
        not in staff_with("view_subscriber").get("/admin/").content.decode()
    )


def test_the_dashboard_needs_its_permission():
    assert (
        staff_with("view_subscriber").get("/admin/waitlist/subscriber/dashboard/").status_code
        == 403
    )
    anonymous = Client(HTTP_HOST="localhost").get("/admin/waitlist/subscriber/dashboard/")
    assert anonymous.status_code == 302


def test_the_subscriber_list_links_to_the_dashboard():
    page = staff_with("view_subscriber", "view_dashboard").get("/admin/waitlist/subscriber/")
    assert 'href="/admin/waitlist/subscriber/dashboard/">Dashboard</a>' in page.content.decode()


def test_subscribers_cannot_be_deleted_only_erased_with_its_permission():
    subscriber = SubscriberFactory(email="leaving@example.com")
    superuser = StaffFactory(is_superuser=True)
    client = Client(HTTP_HOST="localhost")
    client.force_login(superuser)
    assert client.get(f"/admin/waitlist/subscriber/{subscriber.pk}/delete/").status_code == 403
    assert "delete_selected" not in client.get("/admin/waitlist/subscriber/").content.decode()

    viewer = staff_with("view_subscriber")
    viewer.post(
        "/admin/waitlist/subscriber/", {"action": "erase", "_selected_action": [subscriber.pk]}
    )
    subscriber.refresh_from_db()
    assert subscriber.email == "leaving@example.com"

    eraser = staff_with("view_subscriber", "erase_subscribers")
    response = eraser.post(
        "/admin/waitlist/subscriber/",
        {"action": "erase", "_selected_action": [subscriber.pk]},
        follow=True,
    )
    assert "Erased 1 subscriber(s)." in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.email is None and subscriber.status == "erased"


def test_operators_find_the_snippets_for_another_site_ready_to_copy(settings):
    settings.WAITLIST_ALLOWED_ORIGINS = ["https://www.halftimehealth.example"]
    operator = staff_with("view_subscriber")
    listing = operator.get("/admin/waitlist/subscriber/").content.decode()
    assert 'href="/admin/waitlist/subscriber/embed/"' in listing
    page = operator.get("/admin/waitlist/subscriber/embed/").content.decode()
    assert page.count("<textarea") == 2
    assert (
        f"&lt;form id=&quot;halftime-join&quot; action=&quot;{settings.SITE_URL}/waitlist/&quot;"
        in page
    )
    assert f"fetch(&quot;{settings.SITE_URL}/api/waitlist/&quot;" in page
    assert "https://www.halftimehealth.example" in page
    assert staff_with().get("/admin/waitlist/subscriber/embed/").status_code == 403


def test_the_admin_shows_who_earned_what_and_why_a_referral_did_not_count():
    referrer = SubscriberFactory()
    SubscriberFactory(referred_by=referrer, referral_credited=True, referral_outcome="counted")
    refused = SubscriberFactory(
        referred_by=referrer,
        referral_outcome="held: a second friend in a day from the referrer's own connection",
    )
    operator = staff_with("view_subscriber")
    page = operator.get(f"/admin/waitlist/subscriber/{referrer.pk}/change/").content.decode()
    assert "1, place 1 on the list" in page
    page = operator.get(f"/admin/waitlist/subscriber/{refused.pk}/change/").content.decode()
    assert "held: a second friend in a day from the referrer&#x27;s own connection" in page
