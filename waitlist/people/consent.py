"""The wording people agree to, one list of versions per purpose: joining the list, and letting
their interests (health data) choose their updates. A change of wording is a new version: add
it here and point the purpose's current version at it, so every record keeps the exact words
that person saw."""

from ..models.people import ConsentRecord

Purpose = ConsentRecord.Purpose

VERSIONS = {
    Purpose.LIST: {
        "2026-11": (
            "Email me updates about Halftime Health's launch, including when it reaches my "
            "state. I can unsubscribe at any time with one click."
        ),
    },
    Purpose.INTERESTS: {
        "2026-12": "Use my interests to choose which updates I get.",
    },
}
CURRENT = {Purpose.LIST: "2026-11", Purpose.INTERESTS: "2026-12"}


def current_version(purpose: str = Purpose.LIST) -> str:
    return CURRENT[purpose]


def current_text(purpose: str = Purpose.LIST) -> str:
    return VERSIONS[purpose][CURRENT[purpose]]


def record(
    subscriber, *purposes: str, ip: str | None = None, user_agent: str = "", gpc: bool = False,
    confirmed_at=None,
) -> list[ConsentRecord]:  # fmt: skip
    """Write one act of consent to each of `purposes` (the list's by default) with today's
    wording, in one statement."""
    return ConsentRecord.objects.bulk_create([
        ConsentRecord(
            subscriber=subscriber,
            purpose=purpose,
            consent_version=current_version(purpose),
            consent_text=current_text(purpose),
            signup_ip=ip,
            signup_user_agent=user_agent[:400],
            gpc=gpc,
            confirmed_at=confirmed_at,
            confirm_ip=ip if confirmed_at else None,
        )
        for purpose in purposes or [Purpose.LIST]
    ])  # fmt: skip


def withdraw(subscriber, purpose: str, *, now) -> int:
    """The person's consent to `purpose` ends: every record of it still standing is marked."""
    return subscriber.consents.filter(purpose=purpose, withdrawn_at__isnull=True).update(
        withdrawn_at=now
    )


def given(subscriber, purpose: str) -> bool:
    """Whether a consent to `purpose` stands (given and not withdrawn)."""
    return subscriber.consents.filter(purpose=purpose, withdrawn_at__isnull=True).exists()
