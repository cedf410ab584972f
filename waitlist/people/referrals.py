"""Referrals: whether a friend's confirmation counts for the person whose link they joined
through (and if not, why, in words for the operator and for that person), the rewards and the
"you moved up" email a counted one brings, and the list of friends the referral page shows."""

import datetime as dt
from dataclasses import dataclass

from ..models.people import OutboundEmail, Subscriber
from . import milestones, networks, outbox

# More credited referrals than this from one connection (not the referrer's own) in a day look
# like one person.
BURST_PER_CONNECTION = 2
# From the referrer's own connection (a partner at home, a colleague on office Wi-Fi): this many
# a day count; more are held.
OWN_CONNECTION_PER_DAY = 1
DAY = dt.timedelta(days=1)

COUNTED = "counted"
NOT_ON_LIST = "not counted: the referrer is not on the list"
SAME_MAILBOX = "not counted: another spelling of a mailbox already counted"
HELD_OWN = "held: a second friend in a day from the referrer's own connection"
HELD_BURST = f"held: over {BURST_PER_CONNECTION} friends from one connection in a day"
# Each outcome as the referrer reads it on their page: (label, why).
WORDS = {
    COUNTED: ("Counted", ""),
    NOT_ON_LIST: ("Not counted", "you were not on the list when they confirmed"),
    SAME_MAILBOX: ("Not counted", "another spelling of an address that already counted"),
    HELD_OWN: (
        "Held",
        "they joined from your own internet connection, where one friend a day counts",
    ),
    HELD_BURST: (
        "Held",
        f"more than {BURST_PER_CONNECTION} friends joined from one connection that day",
    ),
    "": ("Waiting", "they have not confirmed their email yet"),
}


def credit(subscriber: Subscriber, referrer: Subscriber | None, now: dt.datetime) -> None:
    """Decide, as `subscriber` confirms, whether they count for `referrer` (locked by the
    caller), and when they do, award what it brings: milestones reached, or else a "you moved
    up" email (one a day at most)."""
    if referrer is None:
        return
    counted_before = subscriber.referral_credited  # confirming again, after leaving
    subscriber.referral_outcome = outcome(subscriber, referrer, now)
    subscriber.referral_credited = subscriber.referral_outcome == COUNTED
    subscriber.save(update_fields=["referral_outcome", "referral_credited"])
    if counted_before or not subscriber.referral_credited:
        return
    if milestones.award(referrer):
        return  # the milestone's email says the new place
    moved_today = referrer.emails.filter(
        kind=OutboundEmail.Kind.MOVED_UP, created_at__gt=now - DAY
    ).exists()
    if not moved_today:
        outbox.queue(referrer, kind=OutboundEmail.Kind.MOVED_UP)


def outcome(subscriber: Subscriber, referrer: Subscriber | None, now: dt.datetime) -> str:
    """Whether this confirmation counts for the person who referred it, and if not, why: the
    answer an operator reads in admin (COUNTED or the reason)."""
    if not referrer:
        return ""
    if subscriber.referral_credited:
        return COUNTED
    if referrer.status != Subscriber.Status.CONFIRMED:
        return NOT_ON_LIST
    credited = referrer.referrals.filter(referral_credited=True)
    if (
        referrer.canonical_email_hash == subscriber.canonical_email_hash
        or credited.filter(canonical_email_hash=subscriber.canonical_email_hash).exists()
    ):
        return SAME_MAILBOX
    connections_today = list(
        credited.filter(confirmed_at__gte=now - DAY).values_list("signup_ip", flat=True)
    )
    if networks.same(subscriber.signup_ip, referrer.signup_ip):
        own = [ip for ip in connections_today if networks.same(ip, referrer.signup_ip)]
        return HELD_OWN if len(own) >= OWN_CONNECTION_PER_DAY else COUNTED
    same = [ip for ip in connections_today if networks.same(ip, subscriber.signup_ip)]
    return HELD_BURST if len(same) >= BURST_PER_CONNECTION else COUNTED


@dataclass
class Friend:
    masked: str
    label: str
    why: str
    joined: dt.datetime


def friends(referrer: Subscriber) -> list[Friend]:
    """Everyone who joined through the person's link and is still here, newest first, each
    masked (b•••@gmail.com) with whether they counted and, if not, why."""
    joined = referrer.referrals.exclude(status=Subscriber.Status.ERASED).order_by("-created_at")
    return [
        Friend(mask(friend.email), *_words(friend), friend.created_at)
        for friend in joined.only("email", "status", "referral_outcome", "created_at")
    ]


def _words(friend: Subscriber) -> tuple[str, str]:
    if friend.status == Subscriber.Status.PENDING:
        return WORDS[""]
    if not friend.referral_outcome:
        return ("Not counted", "they had left the list")
    return WORDS.get(friend.referral_outcome, ("Not counted", ""))


def mask(email: str) -> str:
    """The first letter of the address and its domain: enough to recognise a friend, not to
    read their address."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}•••@{domain}"
