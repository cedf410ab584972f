"""What the email service or the bounce mailbox reports back about a message: a bounce or a
complaint suppresses the address for good; a bounce that blames our sender's authentication
pauses the campaign it came from and suppresses nobody."""

import datetime as dt

from django.db.models import Q

from .campaigns import dispatch
from .engine import bounces, sending
from .models import Campaign, Delivery, OutboundEmail, SendStatus, Subscriber
from .people import suppression

SUPPRESSING_EVENTS = {"bounced": sending.HARD_BOUNCE, "complained": sending.SPAM_COMPLAINT}


def record_tracking_event(
    *, event_type: str, recipient: str, message_id: str | None, answer: str = ""
) -> bool:
    """A bounce or complaint reported by the email service suppresses the address for good and
    marks the email it was about failed. Other events (delivered, opened…) are not recorded. A
    bounce that blames our sender's authentication (`answer`) suppresses nobody: the campaign
    it came from pauses instead."""
    reason = SUPPRESSING_EVENTS.get(event_type)
    if not reason or not recipient:
        return False
    subscriber = Subscriber.objects.filter(email__iexact=recipient.strip()).first()
    if subscriber is None:
        return False
    if event_type == "bounced" and sending.sender_not_authenticated(answer):
        # Never reached the person, through no fault of theirs: queued again for after the fix.
        for model in (Delivery, OutboundEmail):
            rows = _rows_about(model, subscriber, message_id)
            # A campaign's rows wait for its Resume; an email of the outbox waits a while.
            wait = (
                dt.timedelta(seconds=sending.SENDER_REFUSED_WAIT)
                if model is OutboundEmail
                else None
            )
            for row in rows:
                going = model is OutboundEmail or dispatch.pause_for_sender(row.campaign_id, answer)
                if model is Delivery and not going:
                    # Its campaign ended meanwhile: failed, so "Retry failed" sends it later.
                    going = Campaign.objects.filter(
                        pk=row.campaign_id, status=Campaign.Status.PAUSED
                    ).exists()
                one = model.objects.filter(pk=row.pk)
                if going:
                    one.requeue(answer=answer, wait=wait)
                else:
                    one.mark_failed(answer)
        return True
    suppression.suppress(subscriber_id=subscriber.pk, reason=reason)
    for model in (Delivery, OutboundEmail):
        rows = model.objects.filter(subscriber=subscriber)
        if message_id:
            bare = message_id.strip("<>")
            rows = rows.filter(
                Q(esp_message_id=message_id) | Q(message_id__in=[message_id, f"<{bare}>"])
            )
        elif model is Delivery:
            rows = rows.filter(status=SendStatus.SENT).order_by("-sent_at")[:1]
        else:
            continue
        model.objects.filter(pk__in=list(rows.values_list("pk", flat=True))).mark_failed(reason)
    return True


def _rows_about(model, subscriber: Subscriber, message_id: str | None) -> list:
    if not message_id:
        return []
    bare = message_id.strip("<>")
    return list(
        model.objects.filter(subscriber=subscriber).filter(
            Q(esp_message_id=message_id) | Q(message_id__in=[message_id, f"<{bare}>"])
        )
    )


def sent_to(recipient: str, message_id: str) -> bool:
    """Did we send the message this report is about to this address? Anyone can mail the
    bounce mailbox: a report from it is believed only if it quotes the Message-ID of one of our
    emails to that very address."""
    if not message_id:
        return False
    ids = [message_id, f"<{message_id.strip('<>')}>"]
    return any(
        model.objects.filter(
            message_id__in=ids, subscriber__email__iexact=recipient, status=SendStatus.SENT
        ).exists()
        for model in (Delivery, OutboundEmail)
    )


def record(event, *, from_mailbox: bool) -> str:
    """An event of anymail's `tracking` signal, from an email service's webhook or from the
    bounce mailbox (whose reports must quote one of our emails): what came of it, in the bounce
    mailbox's words, or "" when nothing did."""
    recipient, message_id = event.recipient or "", event.message_id or ""
    if from_mailbox and not sent_to(recipient, message_id):
        return bounces.UNMATCHED
    answer = event.mta_response or event.description or ""
    if not record_tracking_event(
        event_type=event.event_type, recipient=recipient, message_id=message_id, answer=answer
    ):
        return ""
    if event.event_type == "bounced" and sending.sender_not_authenticated(answer):
        return bounces.SENDER_REFUSED
    return bounces.SUPPRESSED
