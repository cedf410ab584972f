"""The public archive of launch updates at /updates/: what went out, without anyone's links,
linked from each email, in the sitemap and a feed."""

import re

import pytest
from django.utils import timezone

from tests.conftest import run_lanes
from tests.factories import CampaignFactory, SubscriberFactory
from waitlist.campaigns import dispatch
from waitlist.models import Campaign

pytestmark = pytest.mark.django_db

WEB_VERSION = re.compile(r"View in your browser: (\S+)")


def update(**fields) -> Campaign:
    defaults = {
        "name": "Texas launch (ops)",
        "subject": "We're live in Texas",
        "preheader": "Book your first visit",
        "body": "## Live\n\nBook a visit from **today**.",
        "status": Campaign.Status.SENT,
        "started_at": timezone.now(),
    }
    return CampaignFactory(**{**defaults, **fields})


@pytest.fixture
def fast(settings):
    settings.CAMPAIGN_RATE_PER_SECOND = 10_000
    settings.CAMPAIGN_RATE_PER_HOUR = 10_000_000


def test_a_sent_update_is_listed_and_its_web_version_has_nobody_s_links(client):
    sent = update()
    page = client.get("/updates/").content.decode()
    assert f'href="/updates/{sent.pk}/"' in page and "We&#x27;re live in Texas" in page
    assert "Texas launch (ops)" not in page  # the operators' name stays theirs
    web = client.get(f"/updates/{sent.pk}/")
    assert web.status_code == 200
    text = web.content.decode()
    assert "<strong>today</strong>" in text and "Book your first visit" in text
    assert "/u/" not in text and "/waitlist/preferences/" not in text
    assert "/waitlist/welcome/" not in text and "?ref=" not in text


@pytest.mark.parametrize("status", ["draft", "scheduled", "cancelled"])
def test_an_update_that_has_not_gone_out_is_not_public(client, staff_client, status):
    hidden = update(status=status, started_at=None)
    assert f"/updates/{hidden.pk}/" not in client.get("/updates/").content.decode()
    assert client.get(f"/updates/{hidden.pk}/").status_code == 404
    preview = staff_client.get(f"/updates/{hidden.pk}/").content.decode()
    assert "Not sent yet: only staff can see this page" in preview


def test_an_update_kept_out_of_the_archive_is_not_listed(client):
    private = update(in_archive=False)
    assert f"/updates/{private.pk}/" not in client.get("/updates/").content.decode()
    assert client.get(f"/updates/{private.pk}/").status_code == 404


def test_every_campaign_email_links_its_web_version(client, mail, fast):
    SubscriberFactory(email="reader@example.com")
    SubscriberFactory(email="other@example.com")
    campaign = update(status=Campaign.Status.SENDING, started_at=timezone.now())
    dispatch.create_deliveries(campaign)
    run_lanes(campaign)
    links = set()
    for received in mail.messages:
        url = WEB_VERSION.search(received.text).group(1)
        assert f'href="{url}"' in received.html and "View in your browser" in received.html
        links.add(url)
    (url,) = links  # the same page for everyone: nothing personal in it
    assert url == f"http://localhost:8000/updates/{campaign.pk}/"
    assert client.get(url.removeprefix("http://localhost:8000")).status_code == 200


def test_an_update_out_of_the_archive_has_no_web_version_link(mail, fast):
    SubscriberFactory(email="reader@example.com")
    campaign = update(status=Campaign.Status.SENDING, in_archive=False)
    dispatch.create_deliveries(campaign)
    run_lanes(campaign)
    (received,) = mail.messages
    assert "View in your browser" not in received.text + received.html


def test_the_archive_is_in_the_sitemap_and_has_a_feed(client):
    sent = update()
    update(status="draft", started_at=None, subject="Not yet")
    sitemap = client.get("/sitemap.xml").content.decode()
    assert "/updates/</loc>" in sitemap and f"/updates/{sent.pk}/</loc>" in sitemap
    assert sitemap.count("/updates/") == 2
    feed = client.get("/updates/feed/")
    assert feed.status_code == 200 and "rss" in feed["Content-Type"]
    body = feed.content.decode()
    assert "We&amp;#x27;re live in Texas" in body and "Not yet" not in body
    assert f"/updates/{sent.pk}/" in body


def test_a_draft_s_web_version_is_for_those_who_may_see_campaigns():
    from django.test import Client

    from tests.factories import StaffFactory

    draft = update(status="draft", started_at=None)
    client = Client(HTTP_HOST="localhost")
    client.force_login(StaffFactory())  # staff, but not allowed to see campaigns
    assert client.get(f"/updates/{draft.pk}/").status_code == 404
