"""What the clinic's systems hear about invitations (`engine.hooks`)."""

from ..engine import hooks
from ..models import Invitation, WebhookEndpoint
from ..people import events
from ..people.privacy import iso


def _data(invitation: Invitation) -> dict:
    return {
        "subscriber": events.person(invitation.subscriber),
        "invitation": {
            "wave": invitation.campaign_id,
            "access_code": invitation.access_code.code if invitation.access_code_id else None,
            "invited_at": iso(invitation.invited_at),
            "expires_at": iso(invitation.expires_at),
            "activated_at": iso(invitation.activated_at),
        },
    }


def sent(invitations: list[Invitation]) -> None:
    hooks.emit_many(
        WebhookEndpoint.Event.INVITATION_SENT,
        [(invitation.pk, _data(invitation)) for invitation in invitations],
    )


def activated(invitation: Invitation) -> str | None:
    return hooks.emit(
        WebhookEndpoint.Event.INVITATION_ACTIVATED, subscriber_id=invitation.pk,
        data=_data(invitation),
    )  # fmt: skip
