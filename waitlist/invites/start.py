"""/start/<code>/: a person's single-use invitation link, read (`look_up`), accepted
(`activate`) or declined (`decline`). Each answers with the invitation, or refuses with why
(`CodeRefused`) — nothing is written then."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition

from ..models import Invitation
from ..people import tokens
from . import events


class CodeRefused(Exception):
    """Why a code does not let the person in: "unknown" (altered, from an older invitation, or
    its person's data was erased), "used", "expired" or "declined"."""

    def __init__(self, reason: str, invitation: Invitation | None = None):
        super().__init__(reason)
        self.reason, self.invitation = reason, invitation


@dataclass(frozen=True)
class Activated:
    invitation: Invitation
    event_id: str | None  # the invitation.activated event, for the clinic to match


def look_up(code: str, *, lock: bool = False) -> Invitation:
    """The invitation the code is for, while it may still be accepted."""
    try:
        data = tokens.read_token(tokens.START, code)
    except tokens.BadToken as exc:
        raise CodeRefused("unknown") from exc
    if data.nonce is None:
        raise CodeRefused("unknown")
    rows = Invitation.objects.select_related("subscriber", "access_code")
    if lock:
        rows = rows.select_for_update(of=("self",))
    invitation = rows.filter(subscriber__token_key=data.key, nonce=data.nonce).first()
    if invitation is None:
        raise CodeRefused("unknown")
    if invitation.status == Invitation.Status.ACTIVATED:
        raise CodeRefused("used", invitation)
    if invitation.status == Invitation.Status.DECLINED:
        raise CodeRefused("declined", invitation)
    if invitation.status != Invitation.Status.INVITED or invitation.expired():
        raise CodeRefused("expired", invitation)
    return invitation


def activate(code: str) -> Activated:
    """Accept the invitation: recorded, and the clinic's systems told (invitation.activated)."""
    with transaction.atomic():
        invitation = _take(code, "activate", why="The person used their code.")
        return Activated(invitation, events.activated(invitation))


def decline(code: str) -> Invitation:
    return _take(code, "decline", why="The person said no thanks.")


def _take(code: str, transition: str, *, why: str) -> Invitation:
    with transaction.atomic():
        invitation = look_up(code, lock=True)
        try:
            getattr(invitation, transition)(now=timezone.now(), description=why)
            invitation.save()
        except ConcurrentTransition as exc:  # taken in another request meanwhile
            raise CodeRefused("used", invitation) from exc
        return invitation
