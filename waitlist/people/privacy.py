"""A person's rights over their data: a copy of everything kept about them, and erasure."""

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone
from django_fsm_log.models import StateLog

from ..engine import processors
from ..models.invites import Invitation
from ..models.people import UTM_FIELDS, OutboundEmail, Subscriber, new_referral_code, new_token_key
from . import events


def iso(moment) -> str | None:
    return moment and moment.isoformat()


def export_data(*, subscriber_id: int) -> dict:
    subscriber = Subscriber.objects.select_related("source_article").get(pk=subscriber_id)
    sent = subscriber.emails.filter(status=OutboundEmail.Status.SENT).select_related("wording")
    return {
        "email": subscriber.email,
        "status": subscriber.status,
        "interests": subscriber.interests,
        "state": subscriber.state,
        "global_privacy_control": subscriber.gpc,
        "joined_at": iso(subscriber.created_at),
        "confirmed_at": iso(subscriber.confirmed_at),
        "unsubscribed_at": iso(subscriber.unsubscribed_at),
        "source": {
            "article": subscriber.source_article and subscriber.source_article.title,
            "placement": subscriber.placement,
            "referrer": subscriber.referrer_url,
            "utm": {
                field.removeprefix("utm_"): getattr(subscriber, field)
                for field in UTM_FIELDS
                if getattr(subscriber, field)
            },
        },
        "referral_code": subscriber.referral_code,
        "confirmed_referrals": subscriber.referrals.filter(referral_credited=True).count(),
        "milestones_reached": [
            {"reward": each.milestone.reward, "reached_at": iso(each.reached_at)}
            for each in subscriber.milestones_reached.select_related("milestone")
        ],
        "consents": [
            {
                "purpose": record.purpose,
                "version": record.consent_version,
                "text": record.consent_text,
                "signed_up_at": iso(record.signed_up_at),
                "signup_ip": record.signup_ip,
                "signup_user_agent": record.signup_user_agent,
                "confirmed_at": iso(record.confirmed_at),
                "confirm_ip": record.confirm_ip,
                "withdrawn_at": iso(record.withdrawn_at),
                "global_privacy_control": record.gpc,
                # What the emails asking them to confirm said (the wording's versions).
                "asked_with": [
                    {
                        "kind": email.kind,
                        "wording_version": email.wording.version,
                        "sent_at": iso(email.sent_at),
                    }
                    for email in sent.filter(consent=record, wording__isnull=False)
                ],
            }  # fmt: skip
            for record in subscriber.consents.all()
        ],
        "emails_sent": [
            {
                "kind": email.kind,
                "sent_at": iso(email.sent_at),
                "wording_version": email.wording.version if email.wording else None,
            }
            for email in sent
        ],  # fmt: skip
        "invitation": _invitation(subscriber),
    }


def _invitation(subscriber: Subscriber) -> dict | None:
    invitation = Invitation.objects.filter(pk=subscriber.pk).first()
    if invitation is None:
        return None
    return {
        "status": invitation.status,
        "invited_at": iso(invitation.invited_at),
        "expires_at": iso(invitation.expires_at),
        "activated_at": iso(invitation.activated_at),
        "history": [
            {"at": iso(entry.timestamp), "from": entry.source_state, "to": entry.state}
            for entry in StateLog.objects.for_(invitation).order_by("timestamp", "pk")
        ],
    }


ASKED = "asked by the person"


def erase(*, subscriber_id: int, reason: str = ASKED, keep_consent_proof: bool = False) -> None:
    """Forget the person. Only the address's hash stays, so it is never mailed again unless
    they join anew, and `reason`; the email service is told (`engine.processors`).
    `keep_consent_proof`: an erasure by a retention rule, not by the person, keeps what proves
    their consent (its wording, version and times, and the emails that asked them to confirm),
    without the IP addresses, the browser or the mail server's answers."""
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber_id)
        if subscriber.email:
            processors.erased(subscriber.pk, subscriber.email)
        if keep_consent_proof:
            subscriber.consents.update(signup_ip=None, confirm_ip=None, signup_user_agent="")
            subscriber.emails.filter(consent__isnull=True).delete()
            subscriber.emails.update(answer="")
        else:
            subscriber.consents.all().delete()
            subscriber.emails.all().delete()
        subscriber.milestones_reached.all().delete()
        # Which updates they were sent: one sent to an interest says they have it.
        subscriber.deliveries.all().delete()
        subscriber.webhook_deliveries.all().delete()  # their bodies carry the address
        # Admin's history names a row by how it read: a subscriber, by their address.
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Subscriber),
            object_id=str(subscriber.pk),
        ).update(object_repr=f"erased subscriber #{subscriber.pk}")
        erased = {
            "email": None,
            "status": Subscriber.Status.ERASED,
            "interests": [],
            "state": "",
            "source_article": None,
            "placement": "",
            "referrer_url": "",
            "referred_by": None,
            "signup_ip": None,
            "token_key": new_token_key(),
            "referral_code": new_referral_code(),
            "confirmed_at": None,
            "unsubscribed_at": timezone.now(),
            "erasure_reason": reason,
            **dict.fromkeys(UTM_FIELDS, ""),
        }
        for name, value in erased.items():
            setattr(subscriber, name, value)
        subscriber.save(update_fields=list(erased))
        events.erased(subscriber)
