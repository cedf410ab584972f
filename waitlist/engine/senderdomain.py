"""Whether the From address's domain lets our mail in: SPF names the sending service, the DKIM
selector's key is published, and DMARC exists and aligns with From — read from DNS (dnspython,
through DNS_RESOLVER) before a campaign may leave. Each failure says which record to add.

A sender at `localhost`, or at a name reserved for tests and examples (`.test`, `.example`,
`.invalid`, `.localhost`, example.com/net/org), cannot be checked and is never refused: the
embedded default sends as it always did. Without DNS_RESOLVER nothing is looked up either."""

from dataclasses import dataclass, field
from email.utils import parseaddr

import dns.exception
import dns.resolver
from django.conf import settings
from publicsuffixlist import PublicSuffixList

from . import providers

RESERVED_SUFFIXES = (".test", ".example", ".invalid", ".localhost")
RESERVED_DOMAINS = {"localhost", "example.com", "example.net", "example.org"}
# The SPF mechanism each email service asks its senders to publish (EMAIL_ESP's names).
SERVICE_SPF = {
    "amazon_ses": "include:amazonses.com",
    "postmark": "include:spf.mtasv.net",
    "sendgrid": "include:sendgrid.net",
    "mailgun": "include:mailgun.org",
    "sparkpost": "include:sparkpostmail.com",
    "mailjet": "include:spf.mailjet.com",
    "brevo": "include:spf.brevo.com",
}
# SPF allows ten DNS-querying terms in all; following includes stops there too.
SPF_LOOKUPS = 10
_suffixes = PublicSuffixList()


@dataclass
class Report:
    """What the checks found: `problems` refuse a campaign (unless overridden with a reason),
    `advice` does not; `checked` False when the domain cannot be checked at all."""

    domain: str
    checked: bool = True
    problems: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def from_domain() -> str:
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2].lower().rstrip(".")


def checkable(domain: str) -> bool:
    return (
        bool(domain) and domain not in RESERVED_DOMAINS and not domain.endswith(RESERVED_SUFFIXES)
    )


def organizational(domain: str) -> str:
    """The registered domain under its public suffix: mail.brand.co.uk → brand.co.uk."""
    return _suffixes.privatesuffix(domain) or domain


def aligned(one: str, other: str, *, strict: bool) -> bool:
    """DMARC's alignment of two domains: the same name (strict), or the same organizational
    domain (relaxed)."""
    if strict:
        return one == other
    return organizational(one) == organizational(other)


def _txt(resolver, name: str) -> list[str]:
    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    return ["".join(part.decode() for part in record.strings) for record in answer]


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            tags[name.strip().lower()] = value.strip()
    return tags


def _spf_record(resolver, domain: str) -> list[str]:
    return [r for r in _txt(resolver, domain) if r.lower().split()[:1] == ["v=spf1"]]


def _spf_names(resolver, domain: str, wanted: str, budget: list[int]) -> bool:
    """Does `domain`'s SPF record name `wanted` (`include:x` or `ip4:…`), itself or through
    its includes?"""
    records = _spf_record(resolver, domain)
    if len(records) != 1:
        return False
    terms = [term.lower() for term in records[0].split()[1:]]
    if wanted.lower() in [term.lstrip("+") for term in terms]:
        return True
    for term in terms:
        if term.lstrip("+").startswith(("include:", "redirect=")) and budget[0] > 0:
            budget[0] -= 1
            target = term.split(":", 1)[1] if ":" in term else term.split("=", 1)[1]
            if _spf_names(resolver, target, wanted, budget):
                return True
    return False


def check(*, domain: str | None = None) -> Report:
    """The From domain's SPF, DKIM and DMARC, as the receiving servers will read them."""
    domain = domain or from_domain()
    report = Report(domain)
    if not checkable(domain):
        report.checked = False
        report.advice.append(
            f"{domain or 'The sender'} is a name reserved for tests: its DNS is not checked."
        )
        return report
    if not providers.enabled():
        report.checked = False
        report.advice.append("DNS_RESOLVER is not set: the domain's DNS is not checked.")
        return report
    resolver = providers.resolver()
    try:
        _check_spf(resolver, report)
        dkim_domain = _check_dkim(resolver, report)
        _check_dmarc(resolver, report, dkim_domain=dkim_domain)
    except dns.exception.DNSException as exc:
        report.problems.append(f"The DNS of {domain} could not be read ({exc}); try again.")
    return report


def _check_spf(resolver, report: Report) -> None:
    domain = report.domain
    wanted = settings.SENDER_SPF or SERVICE_SPF.get(settings.EMAIL_ESP, "")
    records = _spf_record(resolver, domain)
    example = f"v=spf1 {wanted or 'include:<your sending service>'} ~all"
    if not records:
        report.problems.append(
            f"SPF: {domain} publishes no SPF record. Add a TXT record at {domain}: “{example}”."
        )
    elif len(records) > 1:
        report.problems.append(
            f"SPF: {domain} publishes {len(records)} SPF records; receivers ignore them all. "
            "Merge them into one."
        )
    elif wanted and not _spf_names(resolver, domain, wanted, [SPF_LOOKUPS]):
        report.problems.append(
            f"SPF: the record at {domain} does not name the sending service ({wanted}). Add "
            f"“{wanted}” to it, before its “all”: “{records[0]}”."
        )
    elif not wanted:
        report.advice.append(
            "SPF: set SENDER_SPF to the term your sending service asks for (include:…), so the "
            "check can see that the record names it."
        )


def _check_dkim(resolver, report: Report) -> str:
    """The domain the DKIM key was found at ("" if none)."""
    selector = settings.SENDER_DKIM_SELECTOR
    signing = settings.SENDER_DKIM_DOMAIN or report.domain
    if not selector:
        report.problems.append(
            "DKIM: set SENDER_DKIM_SELECTOR to the selector your sending service signs with, "
            "so the check can find its key."
        )
        return ""
    name = f"{selector}._domainkey.{signing}"
    keys = [
        tags for tags in (_tags(r) for r in _txt(resolver, name)) if tags.get("p")
    ]  # fmt: skip
    if not keys:
        report.problems.append(
            f"DKIM: no key at {name}. Publish the TXT (or CNAME) record your sending service "
            "gives for the selector there."
        )
        return ""
    return signing


def _check_dmarc(resolver, report: Report, *, dkim_domain: str) -> None:
    domain = report.domain
    name = f"_dmarc.{domain}"
    records = [r for r in _txt(resolver, name) if r.lower().startswith("v=dmarc1")]
    if not records:
        organization = organizational(domain)
        if organization != domain:
            name = f"_dmarc.{organization}"
            records = [r for r in _txt(resolver, name) if r.lower().startswith("v=dmarc1")]
    if not records:
        report.problems.append(
            f"DMARC: {domain} publishes none; Gmail and Yahoo refuse bulk mail without it. Add "
            f"a TXT record at _dmarc.{domain}: “v=DMARC1; p=none; rua=mailto:dmarc@{domain}”."
        )
        return
    tags = _tags(records[0])
    return_path = settings.SENDER_RETURN_PATH_DOMAIN or (
        "" if settings.EMAIL_ESP else domain  # over SMTP, the envelope sender is the From
    )
    dkim_ok = bool(dkim_domain) and aligned(dkim_domain, domain, strict=tags.get("adkim") == "s")
    spf_ok = bool(return_path) and aligned(return_path, domain, strict=tags.get("aspf") == "s")
    if not (dkim_ok or spf_ok):
        signs = dkim_domain or settings.SENDER_DKIM_DOMAIN or "no domain"
        report.problems.append(
            f"DMARC: neither DKIM (signed as {signs}) nor SPF (envelope sender "
            f"{return_path or 'the service’s own domain'}) aligns with the From domain {domain}"
            f"{' under strict alignment' if 's' in (tags.get('adkim'), tags.get('aspf')) else ''}"
            ", so receivers fail DMARC for every message. Have the sending service sign with "
            f"d={domain} (a DKIM key at <selector>._domainkey.{domain})."
        )
    policy = tags.get("p", "none").lower()
    if policy == "none":
        report.advice.append(
            "DMARC's policy is p=none: receivers only report. Once reports show every message "
            "aligned, move to p=quarantine."
        )
    elif not _txt(resolver, f"default._bimi.{domain}"):
        report.advice.append(
            "BIMI: with DMARC enforced, a BIMI record (default._bimi."
            f"{domain}) can show the brand's logo in Gmail and Apple Mail."
        )
