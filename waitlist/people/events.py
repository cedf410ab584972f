"""What the clinic's systems hear about people (`engine.hooks`): each event's data, and when it
is emitted, in the transaction of what happened. Interests are never sent: they are health
data, and the clinic asks for its own."""

from ..engine import hooks
from ..models.engine import WebhookEndpoint
from ..models.people import Subscriber

Event = WebhookEndpoint.Event


def person(subscriber: Subscriber) -> dict:
    return {
        "id": subscriber.pk,
        "email": subscriber.email,
        "state": subscriber.state,
        "confirmed_at": subscriber.confirmed_at and subscriber.confirmed_at.isoformat(),
    }


def confirmed(subscriber: Subscriber) -> str | None:
    return hooks.emit(
        Event.SUBSCRIBER_CONFIRMED, subscriber_id=subscriber.pk,
        data={"subscriber": person(subscriber)},
    )  # fmt: skip


def unsubscribed(subscriber: Subscriber) -> str | None:
    return hooks.emit(
        Event.SUBSCRIBER_UNSUBSCRIBED, subscriber_id=subscriber.pk,
        data={"subscriber": {"id": subscriber.pk, "email": subscriber.email,
                             "unsubscribed_at": subscriber.unsubscribed_at.isoformat()}},
    )  # fmt: skip


def erased(subscriber: Subscriber) -> str | None:
    """Only the id and the address's hash: what the receiver needs to find and erase its
    copy, and nothing more. Earlier deliveries to the person, which carried their address, are
    deleted first (`privacy.erase`)."""
    return hooks.emit(
        Event.SUBSCRIBER_ERASED, subscriber_id=subscriber.pk,
        data={"subscriber": {"id": subscriber.pk, "email_hash": subscriber.email_hash}},
    )  # fmt: skip
