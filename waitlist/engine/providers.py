"""Who runs a domain's mailboxes, from its mail exchangers (MX records, through dnspython).

The resolver is a setting (DNS_RESOLVER): empty, nothing is looked up and every domain is
"other"; "system", the machine's own resolver; or "host" / "host:port", that server alone (the
tests' local one). Lookups run in the workers, never on a visitor's request; an answer is kept
for its records' lifetime, between MIN_KEEP and MAX_KEEP."""

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dns.exception
import dns.nameserver
import dns.resolver
from django.conf import settings

from ..models.engine import Provider

logger = logging.getLogger(__name__)

# The exchangers' host names each provider answers with, by their ending.
EXCHANGER_ENDINGS = [
    (".google.com", Provider.GOOGLE),  # aspmx.l.google.com, gmail-smtp-in.l.google.com
    (".googlemail.com", Provider.GOOGLE),
    (".protection.outlook.com", Provider.MICROSOFT),  # Microsoft 365, Outlook.com, Hotmail
    (".yahoodns.net", Provider.YAHOO),  # Yahoo, AOL
    (".mail.icloud.com", Provider.APPLE),  # iCloud, me.com, mac.com
]
# How long an answer is kept: its TTL, within these bounds. A domain that has no mail exchanger
# (or does not exist) is kept the shortest time.
MIN_KEEP, MAX_KEEP = dt.timedelta(hours=1), dt.timedelta(days=7)
TIMEOUT_SECONDS = 3.0
# Lookups at once: DNS answers are slow to come and cheap to wait for.
AT_ONCE = 16


@dataclass(frozen=True)
class Answer:
    provider: str
    exchangers: list[str]
    keep: dt.timedelta


class LookupFailed(Exception):
    """The resolver did not answer (timed out, refused): try again later, keep what was known."""


def enabled() -> bool:
    return bool(settings.DNS_RESOLVER)


def resolver() -> dns.resolver.Resolver:
    where = settings.DNS_RESOLVER
    if where == "system":
        resolver = dns.resolver.Resolver()
    else:
        host, _, port = where.rpartition(":") if where.count(":") == 1 else (where, "", "")
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(host, int(port or 53))]
    resolver.lifetime = TIMEOUT_SECONDS
    return resolver


def provider_of(exchangers: list[str]) -> str:
    """The provider of the most preferred exchanger that names one; "other" if none does."""
    for host in exchangers:
        name = "." + host.lower().rstrip(".")
        for ending, provider in EXCHANGER_ENDINGS:
            if name.endswith(ending):
                return provider
    return Provider.OTHER


def look_up(domain: str, *, using: dns.resolver.Resolver | None = None) -> Answer:
    """The domain's provider and exchangers. Raises LookupFailed if the resolver cannot say."""
    try:
        answer = (using or resolver()).resolve(domain, "MX")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
        # No such domain or no exchanger: nothing to pace; NoNameservers is a SERVFAIL too,
        # kept as briefly.
        return Answer(Provider.OTHER, [], MIN_KEEP)
    except (dns.exception.Timeout, dns.exception.DNSException) as exc:
        raise LookupFailed(f"{domain}: {exc}") from exc
    records = sorted(answer, key=lambda record: (record.preference, str(record.exchange)))
    exchangers = [str(record.exchange).rstrip(".") for record in records]
    keep = min(MAX_KEEP, max(MIN_KEEP, dt.timedelta(seconds=answer.rrset.ttl)))
    return Answer(provider_of(exchangers), exchangers, keep)


def look_up_many(domains: list[str]) -> dict[str, Answer]:
    """Each domain's answer, AT_ONCE at a time; a domain whose lookup failed is left out."""
    using = resolver()

    def one(domain: str) -> tuple[str, Answer | None]:
        try:
            return domain, look_up(domain, using=using)
        except LookupFailed as exc:
            logger.warning("mail domains: %s", exc)
            return domain, None

    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        return {domain: answer for domain, answer in pool.map(one, domains) if answer}
