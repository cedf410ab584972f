"""Everything the waitlist does that writes: joining, confirming, preferences, leaving. Views
and tasks call these; nothing else writes subscribers."""

import datetime as dt
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Q, Value
from django.db.models.functions import Lower
from django.utils import timezone

from . import consent, outbox, tokens
from .models import (
    UTM_KEYS,
    ConsentRecord,
    OutboundEmail,
    Subscriber,
    email_hash,
    new_referral_code,
    new_token_key,
)

RESEND_AFTER = dt.timedelta(minutes=10)
# More credited referrals than this from one IP address in a day look like one person.
REFERRAL_BURST_PER_IP = 2
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


def subscribe(
    *,
    email: str,
    interests: list[str],
    state: str,
    source: SignupSource,
    ip: str | None,
    user_agent: str,
) -> Subscriber:
    """Join the waitlist, or ask again. Whatever the address's history, the caller answers the
    same; what changes is only whether a confirmation email is queued."""
    now = timezone.now()
    for attempt in range(1, 4):
        try:
            # Most signups are new addresses: insert first, and let the unique index say if not.
            with transaction.atomic():
                return _join_new(email, interests, state, source, ip, user_agent, now)
        except IntegrityError:
            pass
        with transaction.atomic():
            subscriber = _locked_subscriber(email)
            if subscriber is not None:
                _resubscribe(subscriber, email, interests, state, ip, user_agent, now)
                return subscriber
        # Nobody has the address: the insert failed on a referrer deleted meanwhile (looked up
        # again; the foreign key is checked at commit, so only when no outer transaction holds
        # this one) or on a referral code already taken (a new one is made).
        if attempt == 3:
            raise IntegrityError(f"could not add a subscriber after {attempt} attempts")


def _locked_subscriber(email: str) -> Subscriber | None:
    # By the hash, and by the database's own lower() that the unique index uses: the two differ
    # for a few non-ASCII letters (Python lowers a final sigma as ς, PostgreSQL as σ).
    return (
        Subscriber.objects.select_for_update()
        .alias(lower_email=Lower("email"))
        .filter(Q(email_hash=email_hash(email)) | Q(lower_email=Lower(Value(email))))
        .first()
    )


def _join_new(email, interests, state, source: SignupSource, ip, user_agent, now) -> Subscriber:
    referred_by = None
    if source.referral_code:
        referred_by = Subscriber.objects.filter(referral_code=source.referral_code).first()
    subscriber = Subscriber.objects.create(
        email=email,
        email_hash=email_hash(email),
        canonical_email_hash=email_hash(canonical_email(email)),
        interests=interests,
        state=state,
        source_article_id=source.article_id,
        placement=source.placement[:20],
        **{f"utm_{key}": source.utm.get(key, "")[:100] for key in UTM_KEYS},
        referrer_url=source.referrer_url[:500],
        referred_by=referred_by,
        signup_ip=ip,
        last_confirmation_at=now,
    )
    _queue_confirmation(subscriber, ip=ip, user_agent=user_agent)
    return subscriber


def _resubscribe(subscriber, email, interests, state, ip, user_agent, now) -> None:
    status = Subscriber.Status
    if subscriber.status == status.CONFIRMED:
        return
    recently_sent = subscriber.last_confirmation_at and (
        now - subscriber.last_confirmation_at < RESEND_AFTER
    )
    if subscriber.status == status.ERASED:
        subscriber.email = email
        subscriber.canonical_email_hash = email_hash(canonical_email(email))
        subscriber.status = status.PENDING
        subscriber.signup_ip = ip
    elif recently_sent:
        return
    if subscriber.status == status.PENDING:
        subscriber.interests, subscriber.state = interests, state
    subscriber.last_confirmation_at = now
    subscriber.save()
    _queue_confirmation(subscriber, ip=ip, user_agent=user_agent)


def _queue_confirmation(subscriber: Subscriber, *, ip, user_agent: str) -> OutboundEmail:
    record = ConsentRecord.objects.create(
        subscriber=subscriber,
        consent_version=consent.CURRENT,
        consent_text=consent.current_text(),
        signup_ip=ip,
        signup_user_agent=user_agent[:400],
    )
    return outbox.queue(subscriber, kind=OutboundEmail.Kind.CONFIRMATION, consent=record)


def subscriber_for(purpose: str, token: str) -> tokens.TokenData:
    """Read a signed link and check it still belongs to a living subscriber."""
    data = tokens.read_token(purpose, token)
    if not Subscriber.objects.filter(pk=data.subscriber_id, token_key=data.key).exists():
        raise tokens.BadToken()
    return data


def confirm(*, token: str, ip: str | None) -> Subscriber:
    data = subscriber_for(tokens.CONFIRM, token)
    now = timezone.now()
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=data.subscriber_id)
        latest = subscriber.consents.first()
        if subscriber.status == Subscriber.Status.CONFIRMED:
            return subscriber
        if latest is None or latest.pk != data.consent_id or latest.withdrawn_at:
            raise tokens.BadToken()
        latest.confirmed_at, latest.confirm_ip = now, ip
        latest.save(update_fields=["confirmed_at", "confirm_ip"])
        subscriber.status = Subscriber.Status.CONFIRMED
        subscriber.confirmed_at = now
        subscriber.unsubscribed_at = None
        subscriber.referral_credited = _earns_referral_credit(subscriber, now)
        subscriber.save()
        subscriber.emails.filter(status=OutboundEmail.Status.QUEUED).update(
            status=OutboundEmail.Status.SKIPPED
        )
    return subscriber


def _earns_referral_credit(subscriber: Subscriber, now) -> bool:
    referrer = subscriber.referred_by
    if referrer is None or subscriber.referral_credited:
        return subscriber.referral_credited
    if referrer.status != Subscriber.Status.CONFIRMED:
        return False
    if referrer.canonical_email_hash == subscriber.canonical_email_hash:
        return False
    credited = referrer.referrals.filter(referral_credited=True)
    if credited.filter(canonical_email_hash=subscriber.canonical_email_hash).exists():
        return False
    if not subscriber.signup_ip:
        return True
    same_ip_today = credited.filter(
        signup_ip=subscriber.signup_ip, confirmed_at__gte=now - dt.timedelta(days=1)
    )
    return (
        subscriber.signup_ip != referrer.signup_ip and same_ip_today.count() < REFERRAL_BURST_PER_IP
    )


def unsubscribe(*, subscriber_id: int) -> None:
    """Idempotent: a second call, or one for someone never confirmed, changes nothing more."""
    now = timezone.now()
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber_id)
        if subscriber.status in (Subscriber.Status.PENDING, Subscriber.Status.CONFIRMED):
            subscriber.status = Subscriber.Status.UNSUBSCRIBED
            subscriber.unsubscribed_at = now
            subscriber.save(update_fields=["status", "unsubscribed_at"])
        subscriber.consents.filter(withdrawn_at__isnull=True).update(withdrawn_at=now)
        subscriber.emails.filter(status=OutboundEmail.Status.QUEUED).update(
            status=OutboundEmail.Status.SKIPPED
        )


def update_preferences(*, subscriber_id: int, interests: list[str], state: str) -> Subscriber:
    subscriber = Subscriber.objects.get(pk=subscriber_id)
    subscriber.interests, subscriber.state = interests, state
    subscriber.save(update_fields=["interests", "state"])
    return subscriber


def export_data(*, subscriber_id: int) -> dict:
    subscriber = Subscriber.objects.select_related("source_article").get(pk=subscriber_id)
    return {
        "email": subscriber.email,
        "status": subscriber.status,
        "interests": subscriber.interests,
        "state": subscriber.state,
        "joined_at": subscriber.created_at.isoformat(),
        "confirmed_at": subscriber.confirmed_at and subscriber.confirmed_at.isoformat(),
        "unsubscribed_at": subscriber.unsubscribed_at and subscriber.unsubscribed_at.isoformat(),
        "source": {
            "article": subscriber.source_article and subscriber.source_article.title,
            "placement": subscriber.placement,
            "referrer": subscriber.referrer_url,
            "utm": {
                key: getattr(subscriber, f"utm_{key}")
                for key in ("source", "medium", "campaign", "term", "content")
                if getattr(subscriber, f"utm_{key}")
            },
        },
        "referral_code": subscriber.referral_code,
        "confirmed_referrals": subscriber.referrals.filter(referral_credited=True).count(),
        "consents": [
            {
                "version": record.consent_version,
                "text": record.consent_text,
                "signed_up_at": record.signed_up_at.isoformat(),
                "signup_ip": record.signup_ip,
                "signup_user_agent": record.signup_user_agent,
                "confirmed_at": record.confirmed_at and record.confirmed_at.isoformat(),
                "confirm_ip": record.confirm_ip,
                "withdrawn_at": record.withdrawn_at and record.withdrawn_at.isoformat(),
            }
            for record in subscriber.consents.all()
        ],
        "emails_sent": [
            {"kind": e.kind, "sent_at": e.sent_at.isoformat()}
            for e in subscriber.emails.filter(status=OutboundEmail.Status.SENT)
        ],
    }


def erase(*, subscriber_id: int) -> None:
    """Forget the person. Only the address's hash stays, so it is never mailed again unless
    they join anew."""
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber_id)
        subscriber.consents.all().delete()
        subscriber.emails.all().delete()
        Subscriber.objects.filter(pk=subscriber.pk).update(
            email=None,
            status=Subscriber.Status.ERASED,
            interests=[],
            state="",
            source_article=None,
            placement="",
            utm_source="",
            utm_medium="",
            utm_campaign="",
            utm_term="",
            utm_content="",
            referrer_url="",
            referred_by=None,
            signup_ip=None,
            token_key=new_token_key(),
            referral_code=new_referral_code(),
            confirmed_at=None,
            unsubscribed_at=timezone.now(),
        )
