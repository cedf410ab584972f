"""The frequency cap: at most FREQUENCY_CAP_EMAILS campaign and journey emails to a person in
any FREQUENCY_CAP_DAYS (transactional email, a confirmation or a welcome, never counts). A
campaign's email to someone at the cap waits for their next free slot (the oldest of those
emails turns FREQUENCY_CAP_DAYS old) or leaves them out (`Campaign.when_capped`).

What counts is what was sent, and what another lane is sending to the person at this moment:
two emails to one person leaving at once both wait a minute and look again, rather than both
going."""

import datetime as dt
from collections import defaultdict

from django.conf import settings

from ..models import Delivery, SendStatus

WAITED = "waited for the person's next free slot under the frequency cap"
DROPPED = "left out: the person had as many emails this week as the frequency cap allows"
# How long an email waits behind another being sent to the person now.
BUSY_WAIT = dt.timedelta(minutes=1)


def window() -> dt.timedelta:
    return dt.timedelta(days=settings.FREQUENCY_CAP_DAYS)


def waits(claimed: list[tuple[int, int]], *, campaign_id: int, now: dt.datetime) -> dict:
    """{row: until when it waits} for the claimed (row, person) over the cap; one query for
    what they were sent lately, one for what is being sent to them now."""
    most = settings.FREQUENCY_CAP_EMAILS
    if not most or not claimed:
        return {}
    people = [person for _, person in claimed]
    others = Delivery.objects.filter(subscriber_id__in=people).exclude(campaign_id=campaign_id)
    sent: dict[int, list[dt.datetime]] = defaultdict(list)
    for person, moment in (
        others.filter(status=SendStatus.SENT, sent_at__gt=now - window())
        .values_list("subscriber_id", "sent_at").order_by("sent_at")
    ):  # fmt: skip
        sent[person].append(moment)
    busy = set(others.filter(status=SendStatus.SENDING).values_list("subscriber_id", flat=True))
    found = {}
    for row, person in claimed:
        lately = sent.get(person, [])
        if len(lately) >= most:
            found[row] = lately[len(lately) - most] + window()
        elif person in busy and len(lately) + 1 >= most:
            found[row] = now + BUSY_WAIT
    return found
