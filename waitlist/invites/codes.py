"""Access codes many people may use (a partner clinic, an event). The code's page is the join
form carrying the code: a person joins (or, already on the list, asks again) as anyone does,
and their claim waits as their invitation, still waiting, for their confirmed address. Once
they are confirmed and live in an open state, the code lets them in: a use is taken, they are
invited, and their own single-use link is emailed to them (`invite_holders`, run by the
invitations' periodic task)."""

import datetime as dt
import re

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Upper
from django.utils import timezone

from ..models import AccessCode, Invitation, OpenState, OutboundEmail, Subscriber
from ..models.invites import ACCESS_CODE_SHAPE
from ..people import outbox
from . import events


def find(code: str) -> AccessCode | None:
    code = code.strip()
    if not re.fullmatch(ACCESS_CODE_SHAPE, code):
        return None  # no code could be written so: nothing to look up
    return AccessCode.objects.annotate(upper=Upper("code")).filter(upper=code.upper()).first()


def refusal(access_code: AccessCode | None, now: dt.datetime | None = None) -> str:
    """Why the code lets nobody in now ("unknown", "stopped", "expired", "full"); "" if it does."""
    now = now or timezone.now()
    if access_code is None:
        return "unknown"
    if not access_code.active:
        return "stopped"
    if now >= access_code.expires_at:
        return "expired"
    if access_code.used >= access_code.limit:
        return "full"
    return ""


def claim(access_code: AccessCode, subscriber: Subscriber) -> bool:
    """Remember that the person joined with the code, unless they hold an invitation already
    (open, used or declined). False: nothing to remember."""
    with transaction.atomic():
        invitation, _ = Invitation.objects.select_for_update().get_or_create(subscriber=subscriber)
        if invitation.status not in (Invitation.Status.WAITING, Invitation.Status.EXPIRED):
            return False
        Invitation.objects.filter(pk=invitation.pk).update(access_code=access_code)
        return True


def invite_holders(now: dt.datetime) -> int:
    """Invite each confirmed person holding a claim on a code that still lets people in, in an
    open state: a use of the code each, their invitation email queued. Returns how many."""
    holders = Invitation.objects.filter(
        status__in=[Invitation.Status.WAITING, Invitation.Status.EXPIRED],
        access_code__isnull=False,
        subscriber__status=Subscriber.Status.CONFIRMED,
        subscriber__suppressed_at__isnull=True,
        subscriber__state__in=OpenState.objects.codes(timezone.localdate(now)),
    )
    invited = 0
    for pk in holders.order_by("pk").values_list("pk", flat=True):
        invited += _invite(pk, now)
    return invited


def _invite(pk: int, now: dt.datetime) -> bool:
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update().select_related("access_code", "subscriber")
            .filter(pk=pk, access_code__isnull=False).first()
        )  # fmt: skip
        if invitation is None or invitation.status not in (
            Invitation.Status.WAITING, Invitation.Status.EXPIRED,
        ):  # fmt: skip
            return False
        access_code = invitation.access_code
        used = AccessCode.objects.filter(
            pk=access_code.pk, active=True, expires_at__gt=now, used__lt=F("limit")
        ).update(used=F("used") + 1)
        if not used:
            return False  # the code is spent: they wait as anyone does
        days = access_code.invitation_days
        invitation.invite(
            now=now, days=days, access_code=access_code,
            expires_at=now + dt.timedelta(days=days),  # its email leaves at once
            description=f"Let in by the access code {access_code.code}.",
        )  # fmt: skip
        invitation.save()
        outbox.queue(invitation.subscriber, kind=OutboundEmail.Kind.INVITATION)
        events.sent([invitation])
        return True
