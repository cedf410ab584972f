"""What the email service or the bounce mailbox reports back about a message: a bounce or a
complaint suppresses the address for good; a bounce that blames our sender's authentication
pauses the campaign it came from and suppresses nobody."""

import datetime as dt

from django.db.models import Q

from . import deliveries, sending
from .models import Campaign, Delivery, OutboundEmail, SendStatus, Subscriber

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
                going = model is OutboundEmail or deliveries.pause_for_sender(
                    row.campaign_id, answer
                )
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
    sending.suppress(subscriber_id=subscriber.pk, reason=reason)
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
