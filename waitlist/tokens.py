"""Signed links. Each purpose has its own salt, so a token for one can never act as another.

Confirmation links expire after seven days; unsubscribe and preference links never expire, but
all of them die when the subscriber is erased (the subscriber's token key changes).
"""

import datetime as dt
from dataclasses import dataclass

from django.core import signing

CONFIRM_MAX_AGE = dt.timedelta(days=7)

CONFIRM = "waitlist.confirm"
UNSUBSCRIBE = "waitlist.unsubscribe"
PREFERENCES = "waitlist.preferences"


class BadToken(Exception):
    """The link was altered, belongs to another purpose, or has expired."""

    def __init__(self, *, expired: bool = False):
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


@dataclass(frozen=True)
class TokenData:
    subscriber_id: int
    key: str
    consent_id: int | None = None


def make_token(purpose: str, *, subscriber_id: int, key: str, consent_id: int | None = None) -> str:
    payload = [subscriber_id, key] + ([consent_id] if consent_id is not None else [])
    return signing.dumps(payload, salt=purpose, compress=False)


def read_token(purpose: str, token: str) -> TokenData:
    max_age = CONFIRM_MAX_AGE if purpose == CONFIRM else None
    try:
        payload = signing.loads(token, salt=purpose, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise BadToken(expired=True) from exc
    except signing.BadSignature as exc:
        raise BadToken() from exc
    if (
        not isinstance(payload, list)
        or len(payload) not in (2, 3)
        or not isinstance(payload[0], int)
        or not isinstance(payload[1], str)
    ):
        raise BadToken()
    consent_id = payload[2] if len(payload) == 3 and isinstance(payload[2], int) else None
    return TokenData(subscriber_id=payload[0], key=payload[1], consent_id=consent_id)
