"""The transactional emails people get: the confirmation (and its reminder), the welcome,
their links, a milestone reached. Each rendered once (`engine.messages`), filled in for each
person."""

from django.conf import settings

from ..engine.messages import Copy, Template, message_id, render, slot
from ..models.people import Milestone, OutboundEmail
from . import tokens


def confirmation_template(kind: str = OutboundEmail.Kind.CONFIRMATION) -> Template:
    """The confirmation, or the one reminder of it (`kind` "reminder")."""
    return render(
        f"waitlist/email/{kind}",
        {"valid_days": tokens.CONFIRM_MAX_AGE.days},
        key=kind,
        links={"confirm": "waitlist:confirm"},
    )


def confirmation_copy(
    template: Template,
    *,
    outbound_id: int,
    token_key: str,
    consent_id: int,
    email: str,
    kind: str = OutboundEmail.Kind.CONFIRMATION,
) -> Copy:
    token = tokens.make_token(tokens.CONFIRM, key=token_key, consent_id=consent_id)
    return template.fill(
        to=email,
        headers={"Message-ID": message_id(kind, outbound_id)},
        links={"confirm": template.link("confirm", token)},
    )


def personal_template(
    kind: str, *, milestone: Milestone | None = None, has_state: bool = True
) -> Template:
    """The welcome email (after confirming), the your-links email (a confirmed address entered
    again), a milestone's announcement and a moved-up note: the person's place, their link to
    share, their pages, and the milestones operators offer. `has_state`: whether the person
    told us their state (the welcome asks for it otherwise)."""
    return render(
        f"waitlist/email/{kind}",
        {
            "places": settings.REFERRAL_PLACES,
            "position": slot("position"),
            "referral_url": slot("referral"),
            "milestone": milestone,
            "milestones": list(Milestone.objects.all()),
            "has_state": has_state,
        },
        key="-".join([kind, str(milestone.pk) if milestone else "", "" if has_state else "ask"]),
        links={
            "welcome": "waitlist:welcome",
            "preferences": "waitlist:preferences",
            "unsubscribe": "waitlist:unsubscribe",
        },
    )


def personal_copy(
    template: Template, *, kind: str, outbound_id: int, email: str, token_key: str,
    referral_url: str, position: int,
) -> Copy:  # fmt: skip
    preferences = tokens.make_token(tokens.PREFERENCES, key=token_key)
    unsubscribe = tokens.make_token(tokens.UNSUBSCRIBE, key=token_key)
    return template.fill(
        to=email,
        headers={"Message-ID": message_id(kind, outbound_id)},
        links={
            "welcome": template.link("welcome", preferences),
            "preferences": template.link("preferences", preferences),
            "unsubscribe": template.link("unsubscribe", unsubscribe),
            "referral": referral_url,
            "position": str(position),
        },
    )


def invitation_template(days: int) -> Template:
    """An invitation let in by an access code, valid for `days`: the person's link to accept."""
    return render(
        "waitlist/email/invitation",
        {"valid_days": days},
        key=f"invitation-{days}",
        links={
            "start": "waitlist:start",
            "preferences": "waitlist:preferences",
            "unsubscribe": "waitlist:unsubscribe",
        },
    )


def invitation_copy(
    template: Template, *, outbound_id: int, email: str, token_key: str, nonce: str
) -> Copy:
    return template.fill(
        to=email,
        headers={"Message-ID": message_id(OutboundEmail.Kind.INVITATION, outbound_id)},
        links={
            "start": template.link(
                "start", tokens.make_token(tokens.START, key=token_key, nonce=nonce)
            ),  # fmt: skip
            "preferences": template.link(
                "preferences", tokens.make_token(tokens.PREFERENCES, key=token_key)
            ),
            "unsubscribe": template.link(
                "unsubscribe", tokens.make_token(tokens.UNSUBSCRIBE, key=token_key)
            ),
        },
    )
