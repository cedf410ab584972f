"""Webhooks to the clinic's systems: written with what happened, signed, retried until the
receiver takes them, each event with one id however often it is sent."""

import json
import time

import pytest
from django.urls import reverse

from tests.conftest import join
from tests.factories import SubscriberFactory
from tests.hookreceiver import Receiver
from waitlist.engine import hooks
from waitlist.models import SendStatus, WebhookDelivery, WebhookEndpoint
from waitlist.people import links, privacy, signup, tokens

pytestmark = [pytest.mark.django_db(transaction=True)]

SECRET = "whsec-test-7f3a9c"
ALL = WebhookEndpoint.Event.values


@pytest.fixture
def receiver(settings, handed_out):
    """The clinic's receiver, and no worker of the session handed the deliveries: the tests
    send them (`deliver_until_quiet`), as a worker would."""
    settings.WEBHOOK_RETRY_SECONDS = 0.2
    settings.WEBHOOK_TIMEOUT_SECONDS = 5
    receiver = Receiver(SECRET).start()
    WebhookEndpoint.objects.create(url=receiver.url, secret=SECRET, events=ALL)
    yield receiver
    receiver.stop()


def deliver_until_quiet(rounds: int = 40) -> None:
    """What the worker does: deliver what is due, again as retries come due, until nothing is
    waiting or being sent."""
    for _ in range(rounds):
        hooks.send_due()
        pending = [SendStatus.QUEUED, SendStatus.SENDING]
        if not WebhookDelivery.objects.filter(status__in=pending).exists():
            return
        time.sleep(0.25)
    raise AssertionError("webhook deliveries still waiting after every round")


def test_a_confirmation_reaches_the_receiver_signed(receiver, client, mail):
    join(client, "sam@example.com")
    assert not WebhookDelivery.objects.exists(), "nothing is told before the person confirms"
    person = SubscriberFactory(email="pat@example.com", status="pending", confirmed_at=None)
    consent = person.consents.get()
    signup.confirm(token=tokens.make_token(tokens.CONFIRM, key=person.token_key,
                                           consent_id=consent.pk), ip=None)  # fmt: skip
    deliver_until_quiet()
    [request] = receiver.requests
    assert request.signed
    assert request.headers["Halftime-Event"] == "subscriber.confirmed"
    event = request.event
    assert (
        event["type"] == "subscriber.confirmed"
        and event["id"] == request.headers["Halftime-Event-Id"]
    )
    assert event["data"]["subscriber"]["email"] == "pat@example.com"
    assert "interests" not in json.dumps(event), "interests are health data: never sent"
    assert WebhookDelivery.objects.get().answer.startswith("HTTP 200")


def test_a_receiver_that_fails_twice_gets_the_event_once_by_id(receiver):
    receiver.fail_first = 2
    person = SubscriberFactory()
    links.unsubscribe(subscriber_id=person.pk)
    deliver_until_quiet()
    assert len(receiver.requests) == 3
    assert len({r.headers["Halftime-Event-Id"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1, "the same body on every attempt"
    assert list(receiver.events.values())[0]["type"] == "subscriber.unsubscribed"
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "sent" and delivery.attempts == 3


def test_a_bad_signature_is_detectable():
    body = b'{"id":"evt_1","type":"subscriber.confirmed"}'
    header = hooks.sign(SECRET, body)
    hooks.verify(SECRET, body, header)
    for altered_body, secret, signed in [
        (body.replace(b"evt_1", b"evt_2"), SECRET, header),
        (body, "another secret", header),
        (body, SECRET, header.replace("v1=", "v1=0")),
        (body, SECRET, "garbage"),
    ]:
        with pytest.raises(hooks.BadSignature):
            hooks.verify(secret, altered_body, signed)
    old = hooks.sign(SECRET, body, at=int(time.time()) - 3600)
    with pytest.raises(hooks.BadSignature, match="too old"):
        hooks.verify(SECRET, body, old)
    receiver = Receiver(SECRET)
    assert not receiver.check({"Halftime-Signature": hooks.sign("wrong", body)}, body)


def test_replay_from_admin_sends_the_same_id_again(receiver, staff_client):
    person = SubscriberFactory()
    links.unsubscribe(subscriber_id=person.pk)
    deliver_until_quiet()
    delivery = WebhookDelivery.objects.get()
    changelist = reverse("admin:waitlist_webhookdelivery_changelist")
    answer = staff_client.post(changelist, {"action": "replay", "_selected_action": [delivery.pk]},
                               follow=True)  # fmt: skip
    assert "1 delivery will be sent again" in answer.text
    deliver_until_quiet()
    ids = [r.headers["Halftime-Event-Id"] for r in receiver.requests]
    assert len(ids) == 2 and ids[0] == ids[1] == delivery.event_id
    assert len(receiver.events) == 1


def test_a_receiver_that_never_answers_fails_for_an_operator_to_replay(receiver, monkeypatch):
    monkeypatch.setattr(hooks, "MAX_ATTEMPTS", 3)
    receiver.fail_first = 100
    links.unsubscribe(subscriber_id=SubscriberFactory().pk)
    deliver_until_quiet()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and "gave up after 3 attempts" in delivery.answer
    assert len(receiver.requests) == 3


def test_erasure_tells_only_the_id_and_hash_and_forgets_earlier_deliveries(receiver):
    person = SubscriberFactory(email="gone@example.com")
    links.unsubscribe(subscriber_id=person.pk)
    privacy.erase(subscriber_id=person.pk)
    [delivery] = WebhookDelivery.objects.all()
    assert delivery.event == "subscriber.erased"
    assert "gone@example.com" not in delivery.body
    assert json.loads(delivery.body)["data"] == {
        "subscriber": {"id": person.pk, "email_hash": person.email_hash}
    }
    deliver_until_quiet()
    assert [r.event["type"] for r in receiver.requests] == ["subscriber.erased"]


def test_an_endpoint_gets_only_the_events_it_asked_for(receiver):
    WebhookEndpoint.objects.update(events=["invitation.activated"])
    links.unsubscribe(subscriber_id=SubscriberFactory().pk)
    assert not WebhookDelivery.objects.exists()
