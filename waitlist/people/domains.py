"""The mailbox provider of each person's address, by its domain (`engine.providers`): looked up
by a periodic task for the domains of everyone who may be mailed, and read when a campaign
starts."""

import logging

from django.db.models import F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, StrIndex, Substr
from django.utils import timezone

from ..engine import providers
from ..models.engine import MailDomain, Provider
from ..models.people import Subscriber

logger = logging.getLogger(__name__)

# Domains looked up per run of the task at most; the rest wait for the next run.
MOST_PER_RUN = 5000


def domain(address="email"):
    """The domain of an address in the database (stored lower-case: `forms.JoinForm`):
    `address` a field's name, or an expression."""
    address = F(address) if isinstance(address, str) else address
    return Substr(address, StrIndex(address, Value("@")) + 1)


def provider():
    """Each person's provider as known now; "other" for a domain not looked up yet."""
    known = MailDomain.objects.filter(domain=domain(OuterRef("email"))).values("provider")[:1]
    return Coalesce(Subquery(known), Value(Provider.OTHER))


def unknown(*, most: int = MOST_PER_RUN) -> list[str]:
    """Domains of people who may be mailed that were never looked up, or whose answer expired."""
    fresh = MailDomain.objects.filter(expires_at__gt=timezone.now()).values("domain")
    people = Subscriber.objects.mailable().annotate(domain=domain()).exclude(domain__in=fresh)
    return list(people.order_by().values_list("domain", flat=True).distinct()[:most])


def refresh(*, most: int = MOST_PER_RUN) -> int:
    """Look up the domains `unknown` names; returns how many were looked up."""
    if not providers.enabled():
        return 0
    now = timezone.now()
    answers = providers.look_up_many(unknown(most=most))
    MailDomain.objects.bulk_create(
        [
            MailDomain(
                domain=name,
                provider=answer.provider,
                exchangers=" ".join(answer.exchangers)[:500],
                looked_up_at=now,
                expires_at=now + answer.keep,
            )
            for name, answer in answers.items()
        ],
        update_conflicts=True,
        unique_fields=["domain"],
        update_fields=["provider", "exchangers", "looked_up_at", "expires_at"],
    )
    return len(answers)
