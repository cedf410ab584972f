"""What a person is told about their data: a line under every join form, the privacy page, and
a link to it in every email."""

import datetime as dt

import pytest

from tests.factories import ArticleFactory, SubscriberFactory
from waitlist.models import OutboundEmail, Subscriber
from waitlist.people import outbox, pending

pytestmark = pytest.mark.django_db


def test_the_privacy_page_says_what_is_kept_for_how_long_and_how_to_take_it_back(client):
    page = client.get("/privacy/")
    assert page.status_code == 200
    text = page.content.decode()
    for said in ("IP address and browser", "48 hours", "30 days", "download everything", "delete"):
        assert said in text, said


@pytest.mark.parametrize("where", ["/", "/waitlist/", "article"])
def test_every_join_form_says_what_is_kept_and_links_the_privacy_page(client, where):
    path = ArticleFactory().get_absolute_url() if where == "article" else where
    form = client.get(path).content.decode().split("data-join-form", 1)[1].split("</form>", 1)[0]
    assert "the IP address and browser you join from" in form
    assert '<a href="/privacy/">' in form


def test_every_email_links_the_privacy_page(client, mail, settings):
    client.post("/waitlist/", {"email": "told@example.com"})
    person = Subscriber.objects.get(email="told@example.com")
    pending.remind(now=person.created_at + dt.timedelta(hours=49))
    confirmed = SubscriberFactory(email="confirmed@example.com")
    for kind in (OutboundEmail.Kind.WELCOME, OutboundEmail.Kind.LINKS):
        OutboundEmail.objects.create(subscriber=confirmed, kind=kind)
    assert outbox.send_due().sent == 4
    privacy = f"{settings.SITE_URL}/privacy/"
    for received in mail.messages:
        assert privacy in received.text and f'href="{privacy}"' in received.html, received.message[
            "Subject"
        ]
