"""Bringing in a list kept elsewhere, with each person's proof of consent.

A CSV with a header row; `email` is required, the rest optional:

    email, consented_at, consent_source, consent_wording, consent_version, consent_ip,
    interests, state

A row whose consent evidence is complete (when, where, and the wording or its version) joins
confirmed, its evidence written to the consent ledger as it was given. A row with none of it
joins pending and gets an email asking the person to confirm. A row with part of it is an
error. The import is all or nothing: any bad line, and nothing is written; every bad line is
reported as `line N: why`. It is idempotent by address: an address already here (on the list,
pending, unsubscribed, suppressed or erased) is left exactly as it is."""

import csv
import datetime as dt
import io
import ipaddress
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..models.people import ConsentRecord, Interest, OutboundEmail, Subscriber, USState, email_hash
from . import consent, outbox
from .signup import canonical_email

COLUMNS = (
    "email", "consented_at", "consent_source", "consent_wording", "consent_version",
    "consent_ip", "interests", "state",
)  # fmt: skip
EVIDENCE = ("consented_at", "consent_source", "consent_wording", "consent_version")
# The bytes an import may be: about 100,000 rows.
MAX_BYTES = 20 * 1024 * 1024
PLACEMENT = "import"


class ImportFailed(Exception):
    def __init__(self, problems: list[str]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass
class Row:
    line: int
    email: str
    interests: list[str]
    state: str
    consented_at: dt.datetime | None = None
    source: str = ""
    wording: str = ""
    version: str = ""
    ip: str | None = None

    @property
    def has_evidence(self) -> bool:
        return self.consented_at is not None


@dataclass
class Report:
    confirmed: int = 0
    asked_to_confirm: int = 0
    already_here: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.confirmed} joined confirmed with their consent evidence, "
            f"{self.asked_to_confirm} asked by email to confirm, "
            f"{len(self.already_here)} already here and left as they are"
        )


def read(data: bytes) -> list[Row]:
    """Every row, checked; raises ImportFailed listing every bad line."""
    if len(data) > MAX_BYTES:
        raise ImportFailed([f"the file is over {MAX_BYTES // (1024 * 1024)} MB"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed([f"the file is not UTF-8 text (byte {exc.start})"]) from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if "email" not in header:
        raise ImportFailed(["line 1: the header names no `email` column"])
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise ImportFailed([f"line 1: unknown column(s) {', '.join(unknown)}; known: {COLUMNS}"])
    reader.fieldnames = header
    rows, problems, seen = [], [], {}
    records = iter(reader)
    while True:
        starts = reader.line_num + 1  # the line the next record begins on
        try:
            record = next(records)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(f"line {starts}: {exc} (an opening quote never closed?)")
            break
        line = reader.line_num
        if None in record:
            problems.append(f"line {line}: more fields than the header has")
            continue
        try:
            row = _row(line, {k: (v or "").strip() for k, v in record.items()})
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        key = row.email.lower()
        if key in seen:
            problems.append(f"line {line}: {row.email} is already on line {seen[key]}")
            continue
        seen[key] = line
        rows.append(row)
    if problems:
        raise ImportFailed(problems)
    if not rows:
        raise ImportFailed(["the file has no rows under its header"])
    return rows


def _row(line: int, values: dict[str, str]) -> Row:
    email = values.get("email", "")
    if len(email) > 254:
        raise ValueError(f"the address {email[:40]}… is longer than 254 characters")
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValueError(f"{email!r} is not an email address" if email else "no email") from exc
    interests = [part for part in values.get("interests", "").replace(";", " ").split() if part]
    bad = [part for part in interests if part not in Interest.values]
    if bad:
        raise ValueError(
            f"unknown interest(s) {', '.join(bad)}; known: {', '.join(Interest.values)}"
        )
    state = values.get("state", "").upper()
    if state and state not in USState.values:
        raise ValueError(f"unknown US state {values['state']!r} (two letters, as TX)")
    row = Row(line, email, list(dict.fromkeys(interests)), state)
    given = [name for name in EVIDENCE if values.get(name)]
    if not given:
        return row
    missing = [
        need
        for need, names in (
            ("consented_at", ["consented_at"]),
            ("consent_source", ["consent_source"]),
            ("consent_wording or consent_version", ["consent_wording", "consent_version"]),
        )
        if not any(values.get(name) for name in names)
    ]
    if missing:
        raise ValueError(f"consent evidence is incomplete: no {' and no '.join(missing)}")
    moment = parse_datetime(values["consented_at"])
    if moment is None:
        raise ValueError(
            f"consented_at {values['consented_at']!r} is not a date and time "
            "(as 2026-05-01T14:30:00Z)"
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if moment > timezone.now():
        raise ValueError(f"consented_at {values['consented_at']} is in the future")
    ip = values.get("consent_ip") or None
    if ip:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError as exc:
            raise ValueError(f"consent_ip {ip!r} is not an IP address") from exc
    row.consented_at, row.ip = moment, ip
    row.source = values["consent_source"][:200]
    row.wording, row.version = values.get("consent_wording", ""), values.get("consent_version", "")
    if len(row.version) > 20:
        raise ValueError("consent_version is longer than 20 characters")
    return row


def import_rows(rows: list[Row]) -> Report:
    """Write them, in one transaction. Addresses already here are left as they are."""
    report = Report()
    with transaction.atomic():
        known = set(
            Subscriber.objects.filter(
                email_hash__in=[email_hash(row.email) for row in rows]
            ).values_list("email_hash", flat=True)
        )
        new = [row for row in rows if email_hash(row.email) not in known]
        report.already_here = [row.email for row in rows if email_hash(row.email) in known]
        people = Subscriber.objects.bulk_create([_subscriber(row) for row in new], batch_size=1000)
        consents = ConsentRecord.objects.bulk_create(
            [_consent(person, row) for person, row in zip(people, new, strict=True)],
            batch_size=1000,
        )
        pending = [
            (person, record)
            for person, record, row in zip(people, consents, new, strict=True)
            if not row.has_evidence
        ]
        OutboundEmail.objects.bulk_create(
            [
                OutboundEmail(subscriber=person, consent=record, kind=OutboundEmail.Kind.RECONFIRM)
                for person, record in pending
            ],
            batch_size=1000,
        )
        if pending:
            transaction.on_commit(outbox.enqueue_once)
    report.asked_to_confirm = len(pending)
    report.confirmed = len(new) - len(pending)
    return report


def import_csv(data: bytes) -> Report:
    return import_rows(read(data))


def _subscriber(row: Row) -> Subscriber:
    now = timezone.now()
    return Subscriber(
        email=row.email,
        email_hash=email_hash(row.email),
        canonical_email_hash=email_hash(canonical_email(row.email)),
        status=Subscriber.Status.CONFIRMED if row.has_evidence else Subscriber.Status.PENDING,
        interests=row.interests,
        state=row.state,
        placement=PLACEMENT,
        utm_source=row.source[:100],
        confirmed_at=row.consented_at,
        last_confirmation_at=None if row.has_evidence else now,
    )


def _consent(person: Subscriber, row: Row) -> ConsentRecord:
    if not row.has_evidence:
        # What the person agrees to when they confirm from the email: today's wording.
        return ConsentRecord(
            subscriber=person, consent_version=consent.CURRENT, consent_text=consent.current_text()
        )
    return ConsentRecord(
        subscriber=person,
        consent_version=row.version or "imported",
        consent_text=row.wording or f"(the wording of version {row.version} at {row.source})",
        source=row.source,
        signed_up_at=row.consented_at,  # when it was given, not when it was imported
        signup_ip=row.ip,
        confirmed_at=row.consented_at,
        confirm_ip=row.ip,
    )
