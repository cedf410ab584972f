"""Signed links. Each purpose has its own salt, so a token for one can never act as another.

A token carries the subscriber's random token key, never a row id: a link tells nothing of
how many people have joined. Confirmation links expire after seven days; unsubscribe and
preference links never expire, but all of them die when the subscriber is erased (the
subscriber's token key changes).
"""

import datetime as dt
from dataclasses import dataclass

from django.core import signing
from django.utils.crypto import salted_hmac

CONFIRM_MAX_AGE = dt.timedelta(days=7)

CONFIRM = "waitlist.confirm"
UNSUBSCRIBE = "waitlist.unsubscribe"
PREFERENCES = "waitlist.preferences"
# An invitation's single-use link: the person's key and their invitation's nonce, so a new
# invitation (or an erasure) makes the old link dead. Its lifetime is the invitation's.
START = "waitlist.start"


class BadToken(Exception):
    """The link was altered, belongs to another purpose, or has expired."""

    def __init__(self, *, expired: bool = False):
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


@dataclass(frozen=True)
class TokenData:
    key: str
    consent: str | None = None  # consent_tag() of the consent a confirmation link confirms
    subscriber_id: int | None = None  # in links of the first form, [id, key(, consent id)]
    nonce: str | None = None  # the invitation a START link accepts


def consent_tag(consent_id: int) -> str:
    """Names one consent record in a link without its id."""
    return salted_hmac(CONFIRM, str(consent_id), algorithm="sha256").hexdigest()[:16]


def make_token(
    purpose: str, *, key: str, consent_id: int | None = None, nonce: str | None = None
) -> str:
    if purpose == START:
        payload = [key, nonce, "start"]
    else:
        payload = key if consent_id is None else [key, consent_tag(consent_id)]
    return signing.dumps(payload, salt=purpose, compress=False)


def read_token(purpose: str, token: str) -> TokenData:
    max_age = CONFIRM_MAX_AGE if purpose == CONFIRM else None
    try:
        payload = signing.loads(token, salt=purpose, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise BadToken(expired=True) from exc
    except signing.BadSignature as exc:
        raise BadToken() from exc
    match payload:
        case [str(key), str(nonce), "start"] if purpose == START:
            return TokenData(key=key, nonce=nonce)
        case str(key):
            return TokenData(key=key)
        case [str(key), str(consent)]:
            return TokenData(key=key, consent=consent)
        # Unsubscribe and preference links never expire: those mailed in the first form work.
        case [int(subscriber_id), str(key)]:
            return TokenData(key=key, subscriber_id=subscriber_id)
        case [int(subscriber_id), str(key), int(consent_id)]:
            return TokenData(key=key, consent=consent_tag(consent_id), subscriber_id=subscriber_id)
    raise BadToken()
