"""Joining the waitlist and confirming by the emailed link: the one path that adds
subscribers. Views and tasks call these."""

import datetime as dt
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Q, Value
from django.db.models.functions import Lower
from django.utils import timezone

from ..models.people import UTM_FIELDS, ConsentRecord, OutboundEmail, Subscriber, email_hash
from . import consent, events, links, outbox, places, referrals, tokens

RESEND_AFTER = dt.timedelta(minutes=10)
GMAIL_DOMAINS = {"gmail.com", "googlemail.com"}


@dataclass
class SignupSource:
    article_id: int | None = None
    placement: str = ""
    utm: dict[str, str] = field(default_factory=dict)
    referrer_url: str = ""
    referral_code: str = ""


def canonical_email(email: str) -> str:
    """One mailbox, one spelling: no plus-tag, and at Gmail no dots."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


@dataclass(frozen=True)
class Asked:
    """What a signup asked for, and where from."""

    interests: list[str]
    interests_consent: bool
    state: str
    ip: str | None
    user_agent: str
    gpc: bool


@dataclass(frozen=True)
class Joined:
    subscriber: Subscriber
    # A signup was written: the subscriber, a consent record and a confirmation to send (a new
    # address, or a pending or unsubscribed one asked again past RESEND_AFTER).
    signed_up: bool


def subscribe(
    *,
    email: str,
    interests: list[str],
    state: str,
    source: SignupSource,
    ip: str | None,
    user_agent: str,
    interests_consent: bool = False,
    gpc: bool = False,
) -> Joined:
    """Join the waitlist, or ask again. Whatever the address's history, the caller answers the
    same; what changes is only which email is queued, if any: a confirmation for a new or
    pending address, the person's links for a confirmed one. A new address and a
    known one take the same statements: one look-up, then the writes.

    `interests` are kept only with `interests_consent` (they are health data), which is
    recorded on its own; `gpc`: the browser sent Global Privacy Control, recorded with the
    consent and on the person for good."""
    now = timezone.now()
    mailbox = email_hash(canonical_email(email))
    asked = Asked(
        interests=interests if interests_consent else [], interests_consent=interests_consent,
        state=state, ip=ip, user_agent=user_agent, gpc=gpc,
    )  # fmt: skip
    for attempt in range(1, 4):
        try:
            with transaction.atomic():
                known, busy = _look_up(email, mailbox, now, first_try=attempt == 1)
                if known is None:
                    new = _join_new(email, asked, source, now, busy)
                    return Joined(new, signed_up=True)
                signed_up = _resubscribe(known, email, asked, now, busy)
                return Joined(known, signed_up)
        except IntegrityError as exc:
            # The address joined meanwhile or differs only in a way the database's lower()
            # sees (found next time), or the insert failed on a referrer deleted meanwhile
            # (looked up again; the foreign key is checked at commit, so only when no outer
            # transaction holds this one) or on a referral code already taken (a new one is
            # made).
            if attempt == 3:
                raise IntegrityError(f"no subscriber added after {attempt} attempts") from exc


def _look_up(email: str, mailbox: str, now, *, first_try: bool) -> tuple[Subscriber | None, bool]:
    """The subscriber with this address, locked, and whether some spelling of its mailbox
    (dots, a plus tag) had a confirmation within RESEND_AFTER: one query on a first try."""
    if not first_try:
        return _locked_subscriber(email), _mailbox_recently_mailed(mailbox, now)
    address = email_hash(email)
    recent = Q(canonical_email_hash=mailbox, last_confirmation_at__gt=now - RESEND_AFTER)
    rows = list(Subscriber.objects.select_for_update().filter(Q(email_hash=address) | recent))
    known = next((row for row in rows if row.email_hash == address), None)
    busy = any(
        row.canonical_email_hash == mailbox
        and row.last_confirmation_at is not None
        and row.last_confirmation_at > now - RESEND_AFTER
        for row in rows
    )
    return known, busy


def _locked_subscriber(email: str) -> Subscriber | None:
    # By the hash, and by the database's own lower() that the unique index uses: the two differ
    # for a few non-ASCII letters (Python lowers a final sigma as ς, PostgreSQL as σ).
    return (
        Subscriber.objects.select_for_update()
        .alias(lower_email=Lower("email"))
        .filter(Q(email_hash=email_hash(email)) | Q(lower_email=Lower(Value(email))))
        .first()
    )


def _join_new(email, asked: Asked, source: SignupSource, now, busy):
    """`busy`: another spelling of this mailbox had its confirmation moments ago; the person
    joins, and that one email is the one to confirm with."""
    referred_by = None
    if source.referral_code:
        referred_by = Subscriber.objects.filter(referral_code=source.referral_code).first()
    mailbox = email_hash(canonical_email(email))
    subscriber = Subscriber.objects.create(
        email=email,
        email_hash=email_hash(email),
        canonical_email_hash=mailbox,
        interests=asked.interests,
        state=asked.state,
        gpc=asked.gpc,
        source_article_id=source.article_id,
        placement=source.placement[:20],
        **{name: source.utm.get(name.removeprefix("utm_"), "")[:100] for name in UTM_FIELDS},
        referrer_url=source.referrer_url[:500],
        referred_by=referred_by,
        signup_ip=asked.ip,
        last_confirmation_at=None if busy else now,
    )
    if busy:
        _record_consents(subscriber, asked)
    else:
        _queue_confirmation(subscriber, asked)
    return subscriber


def _resubscribe(subscriber, email, asked: Asked, now, busy) -> bool:
    """True if it wrote a signup (Joined.signed_up)."""
    status = Subscriber.Status
    recently_sent = subscriber.last_confirmation_at and (
        now - subscriber.last_confirmation_at < RESEND_AFTER
    )
    if asked.gpc and not subscriber.gpc:
        subscriber.gpc = True
        subscriber.save(update_fields=["gpc"])
    if subscriber.status == status.CONFIRMED:
        # Someone on the list who asks again has lost their links: at most one email with
        # them per RESEND_AFTER.
        if recently_sent or busy:
            return False
        subscriber.last_confirmation_at = now
        subscriber.save(update_fields=["last_confirmation_at"])
        outbox.queue(subscriber, kind=OutboundEmail.Kind.LINKS)
        return False
    if subscriber.status == status.ERASED:
        subscriber.email = email
        subscriber.canonical_email_hash = email_hash(canonical_email(email))
        subscriber.status = status.PENDING
        subscriber.signup_ip = asked.ip
    elif recently_sent or busy:
        return False
    if subscriber.status == status.PENDING:
        # The new request's choices replace the old: its interests, and whether they may be kept.
        subscriber.interests, subscriber.state = asked.interests, asked.state
        consent.withdraw(subscriber, consent.Purpose.INTERESTS, now=now)
    subscriber.last_confirmation_at = now
    subscriber.save()
    _queue_confirmation(subscriber, asked)
    return True


def _mailbox_recently_mailed(mailbox: str, now) -> bool:
    return Subscriber.objects.filter(
        canonical_email_hash=mailbox, last_confirmation_at__gt=now - RESEND_AFTER
    ).exists()


def _record_consents(subscriber: Subscriber, asked: Asked) -> ConsentRecord:
    """The list's consent, and the interests' own if the person gave it; the list's is
    returned (the confirmation email proves it)."""
    purposes = [consent.Purpose.LIST]
    if asked.interests_consent:
        purposes.append(consent.Purpose.INTERESTS)
    records = consent.record(
        subscriber, *purposes, ip=asked.ip, user_agent=asked.user_agent, gpc=asked.gpc
    )
    return records[0]


def _queue_confirmation(subscriber: Subscriber, asked: Asked) -> OutboundEmail:
    record = _record_consents(subscriber, asked)
    return outbox.queue(subscriber, kind=OutboundEmail.Kind.CONFIRMATION, consent=record)


def confirm(*, token: str, ip: str | None) -> Subscriber:
    data = links.subscriber_for(tokens.CONFIRM, token)
    now = timezone.now()
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=data.subscriber_id)
        latest = subscriber.consents.filter(purpose=consent.Purpose.LIST).first()
        if subscriber.status == Subscriber.Status.CONFIRMED:
            return subscriber
        if latest is None or tokens.consent_tag(latest.pk) != data.consent or latest.withdrawn_at:
            raise tokens.BadToken()
        latest.confirmed_at, latest.confirm_ip = now, ip
        latest.save(update_fields=["confirmed_at", "confirm_ip"])
        # The interests' consent, given in the same request, is confirmed by the same click.
        subscriber.consents.filter(
            purpose=consent.Purpose.INTERESTS, withdrawn_at__isnull=True, confirmed_at__isnull=True
        ).update(confirmed_at=now, confirm_ip=ip)
        subscriber.status = Subscriber.Status.CONFIRMED
        subscriber.confirmed_at = subscriber.last_active_at = now
        subscriber.confirmed_number = None  # a new number, at the back of the list
        subscriber.unsubscribed_at = None
        # The referrer locked: friends confirming at once are counted, and rewarded, in turn.
        referrer = (
            subscriber.referred_by_id
            and Subscriber.objects.select_for_update().filter(pk=subscriber.referred_by_id).first()
        )
        subscriber.save()
        subscriber.emails.queued().skip()
        outbox.queue(subscriber, kind=OutboundEmail.Kind.WELCOME)
        referrals.credit(subscriber, referrer, now)
        events.confirmed(subscriber)
        places.number_new([subscriber.pk])
        subscriber.refresh_from_db(fields=["confirmed_number"])
    return subscriber
