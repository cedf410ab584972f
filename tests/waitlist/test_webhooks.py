"""The email service's webhook, over HTTP to a running server: only the service the site sends
through has one, and it takes no event without the secret."""

import base64
import json
import urllib.error
import urllib.request

import pytest

from tests.factories import CampaignFactory, SubscriberFactory
from tests.http import status_of
from waitlist.engine.webhooks import TRACKING_VIEWS

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "hook:s3cret"
COMPLAINT = {"RecordType": "SpamComplaint", "Email": "victim@example.org", "MessageID": "m-1"}


def post(url: str, body, *, secret: str | None = None, method: str = "POST") -> int:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data if method == "POST" else None, method=method)
    request.add_header("Content-Type", "application/json")
    if secret:
        request.add_header("Authorization", "Basic " + base64.b64encode(secret.encode()).decode())
    return status_of(request)


@pytest.fixture
def victim():
    return SubscriberFactory(email="victim@example.org")


@pytest.fixture
def postmark(settings):
    settings.EMAIL_ESP = "postmark"
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}


def suppressed(subscriber) -> bool:
    subscriber.refresh_from_db()
    return subscriber.suppressed_at is not None


def test_with_mail_over_smtp_there_is_no_webhook(live_server, settings, victim):
    settings.EMAIL_ESP = ""
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}
    url = f"{live_server.url}/anymail/postmark/tracking/"
    assert post(url, COMPLAINT, secret=SECRET) == 404
    assert not suppressed(victim)


def test_the_email_service_s_webhook_is_closed_until_a_secret_is_set(live_server, settings, victim):
    settings.EMAIL_ESP = "postmark"
    settings.ANYMAIL = {k: v for k, v in settings.ANYMAIL.items() if k != "WEBHOOK_SECRET"}
    assert post(f"{live_server.url}/anymail/postmark/tracking/", COMPLAINT) == 404
    assert not suppressed(victim)


def test_an_event_without_the_secret_is_refused(live_server, postmark, victim):
    url = f"{live_server.url}/anymail/postmark/tracking/"
    assert post(url, COMPLAINT) == 400
    assert post(url, COMPLAINT, secret="hook:guess") == 400
    assert not suppressed(victim)
    assert post(url, COMPLAINT, secret=SECRET) == 200
    assert suppressed(victim)


@pytest.mark.parametrize("body", [b"not json", b"[]", b'"an event"'])
def test_a_body_the_webhook_cannot_read_is_a_400(live_server, postmark, victim, body):
    assert post(f"{live_server.url}/anymail/postmark/tracking/", body, secret=SECRET) == 400
    assert not suppressed(victim)


def test_no_other_email_service_path_answers_with_anything_but_404(live_server, postmark):
    others = [f"/anymail/{esp}/tracking/" for esp in TRACKING_VIEWS if esp != "postmark"]
    inbound = ["/anymail/postmark/inbound/", "/anymail/mailgun/inbound_mime/", "/anymail/mandrill/"]
    for path in [*others, *inbound]:
        for method in ("GET", "POST"):
            assert post(live_server.url + path, COMPLAINT, secret=SECRET, method=method) == 404
    # The one webhook takes POST only.
    assert post(f"{live_server.url}/anymail/postmark/tracking/", {}, method="GET") == 405


def test_a_bounce_that_blames_our_sender_suppresses_nobody_and_pauses_the_campaign(
    live_server, postmark, victim
):
    from waitlist.models import Campaign, Delivery

    campaign = CampaignFactory(
        name="Live", subject="Live", body="Text.", status=Campaign.Status.SENDING
    )
    delivery = Delivery.objects.create(
        campaign=campaign, subscriber=victim, status="sent", esp_message_id="m-9"
    )
    bounce = {
        "RecordType": "Bounce", "Type": "HardBounce", "Email": "victim@example.org",
        "MessageID": "m-9", "Description": "The server was unable to deliver your message",
        "Details": "smtp;550 5.7.515 Access denied, sending domain example.org does not meet "
        "the required authentication level.",
    }  # fmt: skip
    assert post(f"{live_server.url}/anymail/postmark/tracking/", bounce, secret=SECRET) == 200
    assert not suppressed(victim)
    delivery.refresh_from_db()
    campaign.refresh_from_db()
    assert delivery.status == "queued" and "5.7.515" in delivery.answer
    assert campaign.status == "paused" and "Nobody was suppressed" in campaign.pause_reason
