"""What the operators are told by email: a campaign the workers paused by themselves. Sent at
once through Django's mail API to every active account that may send campaigns; the reason
stays on the campaign's page whether or not the email arrives."""

import logging

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse

from ..engine.messages import absolute
from ..models import Campaign

logger = logging.getLogger(__name__)


def operators() -> list[str]:
    """The addresses of the active accounts that may send campaigns."""
    may_send = (
        Q(is_superuser=True)
        | Q(groups__permissions__codename="send_campaign")
        | Q(user_permissions__codename="send_campaign")
    )
    users = get_user_model().objects.filter(may_send, is_active=True).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def paused(campaign: Campaign, reason: str) -> int:
    """Tell the operators the workers paused `campaign`, and why. Returns how many were told."""
    to = operators()
    if not to:
        return 0
    page = absolute(reverse("admin:waitlist_campaign_change", args=[campaign.pk]))
    try:
        send_mail(
            subject=f"Paused: {campaign.name}",
            message=f"{reason}\n\nThe campaign: {page}\n",
            from_email=None,
            recipient_list=to,
        )
    except Exception:
        logger.exception("campaign %s: could not tell the operators it paused", campaign.pk)
        return 0
    return len(to)
