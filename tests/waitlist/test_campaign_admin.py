"""Operators in admin: preview, test send, audience size, controls; and the email service's
bounce and complaint webhook."""

import base64
import datetime as dt
import json
import re

import pytest
from django.contrib.auth.models import Permission
from django.db.models import F
from django.test import Client
from django.utils import timezone

from tests.factories import CampaignFactory, StaffFactory, SubscriberFactory
from waitlist import tasks
from waitlist.campaigns import actions, dispatch
from waitlist.campaigns import figures as campaign_figures
from waitlist.models import Campaign, Delivery, Pace
from waitlist.tasks import recount_dashboard

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    user = StaffFactory(email="operator@example.com")
    user.user_permissions.set(
        Permission.objects.filter(
            codename__in=["view_campaign", "add_campaign", "change_campaign", "send_campaign",
                          "view_delivery"]
        )
    )  # fmt: skip
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def campaign(**fields) -> Campaign:
    defaults = {"name": "Live in Texas", "subject": "We're live", "body": "## Hello\n\nNews."}
    return CampaignFactory(**{**defaults, **fields})


def test_operator_writes_a_campaign_for_a_segment(operator):
    response = operator.post(
        "/admin/waitlist/campaign/add/",
        {
            "name": "Texas launch",
            "subject": "We're live in Texas",
            "preheader": "Book now",
            "body": "## Live\n\nBook a visit.",
            "audience_interests": ["testosterone", "sleep"],
            "audience_states": ["TX"],
            "send_at_0": "",
            "send_at_1": "",
        },
    )
    assert response.status_code == 302
    saved = Campaign.objects.get()
    assert saved.audience_interests == ["testosterone", "sleep"]
    assert saved.audience_states == ["TX"]
    assert '<h2 id="live">Live</h2>' in saved.body_html


def test_the_change_page_shows_the_audience_size_and_previews(operator):
    SubscriberFactory.create_batch(2, state="TX")
    SubscriberFactory(state="CA")
    item = campaign(audience_states=["TX"])
    page = operator.get(f"/admin/waitlist/campaign/{item.pk}/change/").content.decode()
    assert (
        "<strong>Audience:</strong> 2 confirmed people in this segment (People in Texas)." in page
    )
    html = operator.get(f"/admin/waitlist/campaign/{item.pk}/preview/html/")
    assert "<h2" in html.content.decode() and "sandbox" in html["Content-Security-Policy"]
    text = operator.get(f"/admin/waitlist/campaign/{item.pk}/preview/text/").content.decode()
    assert "News." in text and "Unsubscribe:" in text and "##" not in text
    assert "\ue000" not in text  # the personal links are filled in, with dead ones
    inbox = operator.get(f"/admin/waitlist/campaign/{item.pk}/preview/").content.decode()
    assert "<dt>From</dt><dd>Halftime Health &lt;hello@localhost&gt;</dd>" in inbox
    assert '<strong class="inbox-subject">We&#x27;re live</strong>' in inbox
    assert f'src="/admin/waitlist/campaign/{item.pk}/preview/html/" sandbox' in inbox
    assert "Hello\n=====\n\nNews." in inbox
    framed = operator.get(f"/admin/waitlist/campaign/{item.pk}/preview/html/")
    assert framed["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in framed["Content-Security-Policy"]


def test_send_me_a_test_goes_to_the_operator(operator, mail):
    item = campaign()
    response = operator.post(f"/admin/waitlist/campaign/{item.pk}/do/send_test/", follow=True)
    assert "Test sent to operator@example.com." in response.content.decode()
    (received,) = mail.to("operator@example.com")
    assert received.message["Subject"] == "[Test] We're live"


def test_a_test_goes_to_the_address_the_operator_types(operator, mail):
    item = campaign()
    page = operator.get(f"/admin/waitlist/campaign/{item.pk}/change/").content.decode()
    assert 'name="to" form="step-send_test" value="operator@example.com"' in page
    sent = operator.post(
        f"/admin/waitlist/campaign/{item.pk}/do/send_test/", {"to": "editor@example.org"},
        follow=True,
    )  # fmt: skip
    assert "Test sent to editor@example.org." in sent.content.decode()
    assert len(mail.to("editor@example.org")) == 1 and mail.to("operator@example.com") == []
    bad = operator.post(
        f"/admin/waitlist/campaign/{item.pk}/do/send_test/", {"to": "not an address"},
        follow=True,
    )  # fmt: skip
    assert "&#x27;not an address&#x27; is not an email address." in bad.content.decode()
    assert len(mail.messages) == 1


def test_scheduling_without_a_test_is_refused_with_the_reason(operator, settings):
    settings.SITE_URL = "https://elsewhere.example"
    SubscriberFactory()
    item = campaign()
    page = operator.get(f"/admin/waitlist/campaign/{item.pk}/confirm/send_now/").content.decode()
    assert "It can’t be sent yet:" in page and "Send a test first." in page
    assert "The unsubscribe links would be dead" in page
    assert 'name="confirmation"' not in page
    item.refresh_from_db()
    assert item.status == "draft"


@pytest.fixture
def tested(mail):
    """A campaign to two Texans, its test sent."""
    SubscriberFactory.create_batch(2, state="TX")
    SubscriberFactory(state="CA")
    item = campaign(audience_states=["TX"])
    actions.send_test(item, to="operator@example.com")
    return item


@pytest.mark.django_db(transaction=True)
def test_one_post_to_send_now_sends_nothing_the_confirmation_page_does(operator, tested):
    direct = operator.post(f"/admin/waitlist/campaign/{tested.pk}/do/send_now/")
    assert direct.status_code == 302
    assert direct["Location"] == f"/admin/waitlist/campaign/{tested.pk}/confirm/send_now/"
    forged = operator.post(
        f"/admin/waitlist/campaign/{tested.pk}/do/send_now/", {"confirmation": "made-up"}
    )
    assert forged["Location"].endswith("/confirm/send_now/")
    tested.refresh_from_db()
    assert tested.status == "draft" and not Delivery.objects.exists()

    page = operator.get(direct["Location"]).content.decode()
    assert "People in Texas: <strong>2 people</strong> now" in page
    assert "about 1 minute at the configured rate" in page
    assert "Subject</dt><dd>We&#x27;re live</dd>" in page
    confirmation = re.search(r'name="confirmation" value="([^"]+)"', page).group(1)
    sent = operator.post(
        f"/admin/waitlist/campaign/{tested.pk}/do/send_now/", {"confirmation": confirmation},
        follow=True,
    )  # fmt: skip
    assert "Sending now to 2 people." in sent.content.decode()
    tested.refresh_from_db()
    assert tested.status != "draft"  # scheduled, and started as soon as a worker runs it


@pytest.mark.django_db(transaction=True)
def test_a_confirmation_is_stale_once_the_campaign_is_saved_again(operator, tested):
    page = operator.get(f"/admin/waitlist/campaign/{tested.pk}/confirm/schedule/").content.decode()
    assert "Set a send time first (and save), or send now." in page
    tested.send_at = timezone.now() + dt.timedelta(hours=3)
    tested.save()
    page = operator.get(f"/admin/waitlist/campaign/{tested.pk}/confirm/schedule/").content.decode()
    confirmation = re.search(r'name="confirmation" value="([^"]+)"', page).group(1)
    tested.audience_states = ["TX", "CA"]
    tested.save()  # the audience grew after the operator looked
    stale = operator.post(
        f"/admin/waitlist/campaign/{tested.pk}/do/schedule/", {"confirmation": confirmation}
    )
    assert stale["Location"].endswith("/confirm/schedule/")
    tested.refresh_from_db()
    assert tested.status == "draft"
    page = operator.get(stale["Location"]).content.decode()
    assert "People in Texas, California: <strong>3 people</strong> now" in page
    assert "Send a test" not in page  # the audience changed, not what the recipients see


def test_pause_resume_and_cancel_from_admin(operator):
    SubscriberFactory.create_batch(2)
    item = campaign(status=Campaign.Status.SENDING)
    dispatch.create_deliveries(item)
    operator.post(f"/admin/waitlist/campaign/{item.pk}/do/pause/")
    item.refresh_from_db()
    assert item.status == "paused"
    operator.post(f"/admin/waitlist/campaign/{item.pk}/do/resume/")
    item.refresh_from_db()
    assert item.status == "sending"
    response = operator.post(f"/admin/waitlist/campaign/{item.pk}/do/cancel/", follow=True)
    assert "Cancelled; 2 unsent message(s) skipped." in response.content.decode()
    assert set(Delivery.objects.values_list("status", flat=True)) == {"skipped"}


def test_progress_and_the_delivery_log(operator):
    SubscriberFactory.create_batch(4)
    item = campaign(status=Campaign.Status.SENDING)
    dispatch.create_deliveries(item)
    first, second = Delivery.objects.order_by("pk")[:2]
    tasks.count_campaign(item.pk)
    # A minute later: one sent, one failed.
    Campaign.objects.filter(pk=item.pk).update(counted_at=F("counted_at") - dt.timedelta(minutes=1))
    Delivery.objects.filter(pk=first.pk).update(status="sent", sent_at=timezone.now())
    Delivery.objects.filter(pk=second.pk).update(status="failed", answer="550 no such user")
    tasks.count_campaign(item.pk)
    page = operator.get(f"/admin/waitlist/campaign/{item.pk}/change/").content.decode()
    assert '<progress class="campaign-progress" max="100" value="50"' in page
    text = " ".join(re.sub(r"<[^>]+>", "", page).split())
    assert "1 sent · 1 failed · 0 skipped · 2 queued · 0 sending — of 4." in text
    assert f'data-url="/admin/waitlist/campaign/{item.pk}/progress/"' in page
    live = operator.get(f"/admin/waitlist/campaign/{item.pk}/progress/").json()
    assert {k: live[k] for k in ("sent", "failed", "queued", "total", "percent", "status")} == {
        "sent": 1, "failed": 1, "queued": 2, "total": 4, "percent": 50, "status": "sending",
    }  # fmt: skip
    # One sent since the count a minute before: 1/60 a second; the two queued take two
    # minutes at that rate.
    assert live["rate"] == 0.02 and live["eta_seconds"] == 120
    assert (
        live["counted"]
        == f"Counted at {timezone.localtime(Campaign.objects.get().counted_at):%H:%M:%S}."
    )
    log = operator.get(f"/admin/waitlist/delivery/?campaign__id__exact={item.pk}").content.decode()
    assert "550 no such user" in log


def test_controls_need_the_send_permission():
    viewer = StaffFactory()
    viewer.user_permissions.set(Permission.objects.filter(codename="view_campaign"))
    client = Client(HTTP_HOST="localhost")
    client.force_login(viewer)
    item = campaign()
    assert client.post(f"/admin/waitlist/campaign/{item.pk}/do/send_now/").status_code == 403
    assert client.get(f"/admin/waitlist/campaign/{item.pk}/confirm/send_now/").status_code == 403
    assert (
        "Send the test"
        not in client.get(f"/admin/waitlist/campaign/{item.pk}/change/").content.decode()
    )


def test_a_campaign_that_has_started_cannot_be_edited(operator):
    item = campaign(status=Campaign.Status.SENDING)
    response = operator.post(
        f"/admin/waitlist/campaign/{item.pk}/change/",
        {"name": "x", "subject": "changed", "body": "x", "send_at_0": "", "send_at_1": ""},
        follow=True,
    )
    assert "It is sending now, so it can no longer be edited: your changes were not saved." in (
        response.content.decode()
    )
    item.refresh_from_db()
    assert item.subject == "We're live"


# --- the email service's webhook ---------------------------------------------------------------


def postmark(client: Client, payload: dict, secret="hook:s3cret"):
    auth = base64.b64encode(secret.encode()).decode()
    return client.post(
        "/anymail/postmark/tracking/",
        json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {auth}",
    )


@pytest.fixture
def webhook_secret(settings):
    settings.EMAIL_ESP = "postmark"
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": "hook:s3cret"}


def test_a_hard_bounce_from_the_email_service_suppresses_the_address(client, webhook_secret):
    person = SubscriberFactory(email="bouncy@example.com")
    item = campaign(status=Campaign.Status.SENDING)
    dispatch.create_deliveries(item)
    Delivery.objects.update(status="sent", esp_message_id="883953f4-6105-42a2-a16a-77a8eac79483")
    response = postmark(
        client,
        {
            "RecordType": "Bounce",
            "ID": 4323372036854775807,
            "Type": "HardBounce",
            "TypeCode": 1,
            "Name": "Hard bounce",
            "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
            "Description": "The server was unable to deliver your message",
            "Email": "Bouncy@example.com",
            "BouncedAt": "2026-11-21T16:31:43Z",
            "Inactive": True,
            "CanActivate": True,
        },
    )
    assert response.status_code == 200
    person.refresh_from_db()
    assert person.suppressed_at and person.suppression_reason == "hard bounce"
    assert Delivery.objects.get().status == "failed"
    assert person not in campaign().audience()


def test_a_spam_complaint_suppresses_the_address(client, webhook_secret):
    person = SubscriberFactory(email="annoyed@example.com")
    response = postmark(
        client,
        {
            "RecordType": "SpamComplaint",
            "ID": 42,
            "Type": "SpamComplaint",
            "MessageID": "00000000-0000-0000-0000-000000000000",
            "Email": "annoyed@example.com",
            "BouncedAt": "2026-11-21T16:31:43Z",
        },
    )
    assert response.status_code == 200
    person.refresh_from_db()
    assert person.suppression_reason == "spam complaint"


def test_the_webhook_refuses_calls_without_the_secret(client, webhook_secret):
    person = SubscriberFactory(email="target@example.com")
    response = postmark(
        client,
        {"RecordType": "SpamComplaint", "Type": "SpamComplaint", "Email": "target@example.com"},
        secret="wrong:guess",
    )
    assert response.status_code == 400
    person.refresh_from_db()
    assert person.suppressed_at is None


def test_a_sent_campaign_shows_its_audience_in_words(operator):
    item = campaign(
        status=Campaign.Status.SENT, audience_interests=["testosterone", "sleep"],
        audience_states=["TX", "CA"],
    )  # fmt: skip
    page = operator.get(f"/admin/waitlist/campaign/{item.pk}/change/").content.decode()
    assert "People interested in Testosterone, Sleep; in Texas, California" in page
    assert "[&quot;testosterone&quot;" not in page and '["testosterone"' not in page


def test_a_scheduled_campaign_that_is_edited_is_a_draft_again(operator):
    item = campaign(status=Campaign.Status.SCHEDULED, send_at=timezone.now() + dt.timedelta(days=1))
    when = timezone.localtime(item.send_at)
    saved = operator.post(
        f"/admin/waitlist/campaign/{item.pk}/change/",
        {
            "name": item.name, "subject": "A subject nobody tested", "body": item.body,
            "send_at_0": f"{when:%Y-%m-%d}", "send_at_1": f"{when:%H:%M:%S}", "in_archive": "on",
        },
        follow=True,
    )  # fmt: skip
    assert "changed, it is a draft again" in saved.content.decode()
    item.refresh_from_db()
    assert (item.status, item.subject) == ("draft", "A subject nobody tested")


def campaign_with_results() -> Campaign:
    """Seven people: four reached (one of them left after it, one complained), one bounced,
    one failed otherwise, one skipped."""
    item = campaign(status=Campaign.Status.SENT, started_at=timezone.now())
    now = timezone.now()
    left = SubscriberFactory(status="unsubscribed", unsubscribed_at=now + dt.timedelta(hours=1))
    complained = SubscriberFactory(suppressed_at=now, suppression_reason="spam complaint")
    bounced = SubscriberFactory(suppressed_at=now, suppression_reason="hard bounce")
    rows = [
        (SubscriberFactory(), "sent", "accepted"),
        (SubscriberFactory(), "sent", "accepted"),
        (left, "sent", "accepted"),
        (complained, "failed", "spam complaint"),
        (bounced, "failed", "550 5.1.1 no such user"),
        (SubscriberFactory(), "failed", "421 try later"),
        (SubscriberFactory(), "skipped", "no longer subscribed"),
    ]
    for person, status, answer in rows:
        Delivery.objects.create(
            campaign=item, subscriber=person, status=status, answer=answer,
            sent_at=now if status == "sent" else None,
        )  # fmt: skip
    return item


def test_a_sent_campaign_s_page_leads_with_its_results(operator):
    item = campaign_with_results()
    tasks.count_campaign(item.pk)
    page = operator.get(f"/admin/waitlist/campaign/{item.pk}/change/").content.decode()
    results = page.index('id="results-heading"')
    assert results < page.index("We&#x27;re live") and results < page.index("## Hello")
    figures = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", page[results:]))
    assert figures == {
        "Sent": "3", "Failed": "3", "Skipped": "1", "Bounced": "1", "Spam complaints": "1",
        "Unsubscribes it caused": "1", "Waited for the frequency cap": "0",
        "Left out by the frequency cap": "0",
    }  # fmt: skip


def test_an_unsubscribe_is_put_down_to_the_last_campaign_that_reached_the_person(operator):
    first = campaign_with_results()
    left = Delivery.objects.get(campaign=first, subscriber__status="unsubscribed").subscriber
    later = campaign(name="Later", status=Campaign.Status.SENT)
    Delivery.objects.create(
        campaign=later, subscriber=left, status="sent", sent_at=timezone.now() + dt.timedelta(1)
    )
    figures = campaign_figures.results(Campaign.objects.all())
    assert figures[first.pk]["unsubscribes"] == 1 and figures[later.pk]["unsubscribes"] == 0
    Delivery.objects.filter(campaign=later).update(
        sent_at=left.unsubscribed_at - dt.timedelta(minutes=1)
    )
    figures = campaign_figures.results(Campaign.objects.all())
    assert figures[first.pk]["unsubscribes"] == 0 and figures[later.pk]["unsubscribes"] == 1


def test_the_dashboard_has_a_table_of_campaign_results_and_its_csv():
    item = campaign_with_results()
    campaign(name="Not yet")  # a draft went nowhere: not in the table
    recount_dashboard()
    client = Client(HTTP_HOST="localhost")
    client.force_login(StaffFactory(is_superuser=True))
    page = client.get("/admin/waitlist/subscriber/dashboard/").content.decode()
    table = page.split('id="campaigns-table-caption"')[1].split("</table>")[0]
    assert "Live in Texas" in table and "Not yet" not in table
    assert '<th scope="col">Unsubscribes it caused</th>' in table
    csv = client.get("/admin/waitlist/subscriber/dashboard/?csv=campaigns").content.decode()
    header, row = csv.strip().splitlines()
    assert header == (
        "Campaign,Status,Started,Sent,Failed,Skipped,Bounced,Spam complaints,"
        "Unsubscribes it caused,Waited for the frequency cap,Left out by the frequency cap"
    )
    started = timezone.localtime(item.started_at).date().isoformat()
    assert row == f"Live in Texas,Sent,{started},3,3,1,1,1,1,0,0"


def test_the_campaign_body_has_a_live_preview_rendered_by_the_server(operator):
    page = operator.get("/admin/waitlist/campaign/add/").content.decode()
    assert "data-markdown-editor" in page
    preview = operator.post("/admin/waitlist/campaign/preview/", {"source": "## Hi\nline\nbreak"})
    assert preview.json()["html"] == '<h2 id="hi">Hi</h2>\n<p>line<br>\nbreak</p>\n'


def test_operators_set_each_provider_s_pace_in_one_list(staff_client):
    page = staff_client.get("/admin/waitlist/pace/").content.decode()
    for label in ("Google", "Microsoft", "Yahoo and AOL", "Apple", "Other"):
        assert label in page
    assert "no limit of its own" in page
    rows = list(Pace.objects.order_by("provider"))
    form = {"form-TOTAL_FORMS": len(rows), "form-INITIAL_FORMS": len(rows), "_save": "Save"}
    for n, pace in enumerate(rows):
        form |= {
            f"form-{n}-provider": pace.provider,
            f"form-{n}-per_minute": 900 if pace.provider == "google" else pace.per_minute or "",
            f"form-{n}-sessions": pace.sessions,
        }
    assert staff_client.post("/admin/waitlist/pace/", form).status_code == 302
    assert Pace.objects.get(provider="google").per_minute == 900
    assert Pace.objects.get(provider="other").per_minute is None
    form["form-0-sessions"] = 0
    refused = staff_client.post("/admin/waitlist/pace/", form).content.decode()
    assert "Ensure this value is greater than or equal to 1." in refused
    assert staff_client.get("/admin/waitlist/pace/add/").status_code == 403


def test_the_page_of_a_started_campaign_asks_a_worker_once_for_figures_older_than_a_while(
    operator, handed_out, settings
):
    settings.CAMPAIGN_FIGURES_SECONDS = 60
    SubscriberFactory.create_batch(3)
    item = campaign(status=Campaign.Status.SENDING)
    dispatch.create_deliveries(item)
    page = operator.get(f"/admin/waitlist/campaign/{item.pk}/change/").content.decode()
    assert "Not counted yet." in page
    operator.get(f"/admin/waitlist/campaign/{item.pk}/progress/")  # the page's poll: asked once
    assert handed_out == [(campaign_figures.COUNT_TASK, item.pk)]
    tasks.count_campaign(item.pk)
    live = operator.get(f"/admin/waitlist/campaign/{item.pk}/progress/").json()
    assert (live["queued"], live["total"]) == (3, 3)
    assert len(handed_out) == 1, "fresh figures are not counted again"
    draft = campaign(name="A draft")
    operator.get(f"/admin/waitlist/campaign/{draft.pk}/change/")
    assert len(handed_out) == 1, "a draft has no figures to count"
