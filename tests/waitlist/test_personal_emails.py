"""The emails that carry a person's own links: the welcome after confirming, and the links sent
to a confirmed address entered again, through the real SMTP sink."""

import datetime as dt
import re

import pytest

from tests.conftest import join
from tests.factories import SubscriberFactory
from waitlist.models import OutboundEmail, Subscriber
from waitlist.people import outbox

pytestmark = pytest.mark.django_db

CONFIRM = re.compile(r"https?://\S+(/waitlist/confirm/[^/\s]+/)")
WELCOME = re.compile(r"https?://\S+(/waitlist/welcome/[^/\s]+/)")


def test_confirming_sends_the_welcome_with_the_place_and_the_link_to_share(client, mail):
    SubscriberFactory.create_batch(4)  # four people ahead
    join(client, "new.person@example.com", as_json=True)
    outbox.send_due()
    (confirmation,) = mail.to("new.person@example.com")
    assert client.post(CONFIRM.search(confirmation.text).group(1)).status_code == 302
    assert outbox.send_due().sent == 1
    welcome = mail.to("new.person@example.com")[1]
    person = Subscriber.objects.get(email="new.person@example.com")
    assert welcome.message["Subject"] == "You’re on the Halftime Health waitlist"
    for part in (welcome.text, welcome.html):
        assert (
            "number 5" in part.replace("<strong", "").replace("</strong>", "")
            or "5</strong>" in part
        )
        assert f"/waitlist/?ref={person.referral_code}" in part
    page = client.get(WELCOME.search(welcome.text).group(1))
    assert (
        page.status_code == 200 and '<strong class="position">5</strong>' in page.content.decode()
    )


def test_a_welcome_for_someone_who_left_meanwhile_is_not_sent(client, mail):
    person = SubscriberFactory()
    OutboundEmail.objects.create(subscriber=person, kind=OutboundEmail.Kind.WELCOME)
    person.status = Subscriber.Status.UNSUBSCRIBED
    person.save()
    assert outbox.send_due().counts() == {"claimed": 1, "skipped": 1}
    assert mail.messages == []


def test_a_confirmed_address_entered_again_gets_its_links_at_most_every_ten_minutes(client, mail):
    person = SubscriberFactory(email="already@example.com")
    new = join(client, "someone.new@example.com", as_json=True)
    again = join(client, "already@example.com", as_json=True)
    assert (again.status_code, again.content) == (new.status_code, new.content)
    outbox.send_due()
    (links,) = mail.to("already@example.com")
    assert links.message["Subject"] == "Your Halftime Health waitlist links"
    assert "nothing to confirm" in links.text
    assert f"/waitlist/?ref={person.referral_code}" in links.text
    assert client.get(WELCOME.search(links.text).group(1)).status_code == 200

    join(client, "already@example.com", as_json=True)  # within ten minutes: nothing more
    assert outbox.send_due().sent == 0
    Subscriber.objects.filter(pk=person.pk).update(
        last_confirmation_at=person.confirmed_at - dt.timedelta(minutes=11)
    )
    join(client, "already@example.com", as_json=True)
    assert outbox.send_due().sent == 1
    assert len(mail.to("already@example.com")) == 2
    assert Subscriber.objects.get(pk=person.pk).status == "confirmed"
