"""The transactional emails people get: the confirmation (and its reminder), the welcome,
their links, a milestone reached, an invitation let in by a code. Each says what its wording's
version says (`wording`), around the links and footer kept here; rendered once
(`engine.messages`), filled in for each person."""

from django.conf import settings
from django.utils.safestring import mark_safe

from ..engine.messages import Copy, Template, message_id, render, slot
from ..models.people import EmailWording, Milestone, OutboundEmail
from . import tokens, wording


def _render(
    template: str, version: EmailWording, values: dict, context: dict, *, key: str,
    links: dict[str, str],
) -> Template:  # fmt: skip
    written = wording.write(version, values)
    return render(
        f"waitlist/email/{template}",
        # The wording's HTML is the Markdown renderer's, sanitized: safe to place as it is.
        {"wording_html": mark_safe(written.html), "wording_text": written.text, **context},
        key=f"{key}-v{version.version}",
        links=links,
        subject=written.subject,
    )


def confirmation_template(version: EmailWording) -> Template:
    """The confirmation, its one reminder, or the confirm-again of an imported address (the
    version's kind)."""
    days = tokens.CONFIRM_MAX_AGE.days
    return _render(
        "confirmation", version, {"valid_days": days}, {"valid_days": days},
        key=version.kind, links={"confirm": "waitlist:confirm"},
    )  # fmt: skip


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
    version: EmailWording, *, milestone: Milestone | None = None, has_state: bool = True
) -> Template:
    """The welcome email (after confirming), the your-links email (a confirmed address entered
    again), a milestone's announcement and a moved-up note: the person's place, their link to
    share, their pages, and the milestones operators offer. `has_state`: whether the person
    told us their state (the welcome asks for it otherwise)."""
    values = {"position": slot("position"), "places": settings.REFERRAL_PLACES}
    if milestone is not None:
        count = milestone.referrals
        values |= {"reward": milestone.reward, "referrals": count, "details": milestone.details,
                   "friends": f"{count} friend{'' if count == 1 else 's'}"}  # fmt: skip
    return _render(
        "personal", version, values,
        {
            "places": settings.REFERRAL_PLACES,
            "referral_url": slot("referral"),
            "milestones": list(Milestone.objects.all()),
            "ask_state": version.kind == OutboundEmail.Kind.WELCOME and not has_state,
            "tell_state": version.kind == OutboundEmail.Kind.WELCOME and has_state,
        },
        key="-".join([version.kind, str(milestone.pk) if milestone else "",
                      "" if has_state else "ask"]),
        links={
            "welcome": "waitlist:welcome",
            "preferences": "waitlist:preferences",
            "unsubscribe": "waitlist:unsubscribe",
        },
    )  # fmt: skip


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


def invitation_template(version: EmailWording, *, days: int) -> Template:
    """An invitation let in by an access code, valid for `days`: the person's link to accept."""
    return _render(
        "invitation", version, {"valid_days": days}, {},
        key=f"invitation-{days}",
        links={
            "start": "waitlist:start",
            "preferences": "waitlist:preferences",
            "unsubscribe": "waitlist:unsubscribe",
        },
    )  # fmt: skip


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


def sample_copy(version: EmailWording, *, to: str) -> Copy:
    """The version's email as a person would get it, with made-up values and dead links: what
    an operator previews and tests."""
    kind = version.kind
    if kind in (OutboundEmail.Kind.CONFIRMATION, OutboundEmail.Kind.REMINDER,
                OutboundEmail.Kind.RECONFIRM):  # fmt: skip
        return confirmation_copy(
            confirmation_template(version), outbound_id=0, token_key="test", consent_id=0,
            email=to, kind=kind,
        )  # fmt: skip
    if kind == OutboundEmail.Kind.INVITATION:
        return invitation_copy(
            invitation_template(version, days=14), outbound_id=0, email=to, token_key="test",
            nonce="test",
        )  # fmt: skip
    milestone = (
        Milestone(pk=0, referrals=3, reward="Early access", details="You book a week early.")
        if kind == OutboundEmail.Kind.MILESTONE
        else None
    )
    return personal_copy(
        personal_template(version, milestone=milestone), kind=kind, outbound_id=0, email=to,
        token_key="test", referral_url=f"{settings.SITE_URL}/r/example/", position=42,
    )  # fmt: skip
