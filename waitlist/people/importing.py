"""Bringing in a list kept elsewhere, with each person's proof of consent.

A CSV (comma, semicolon, tab or bar between fields) with a header row. The header's names are
read without regard to case, spaces or underscores, and the common exports' own names are known
(Mailchimp's `Email Address` and `CONFIRM_TIME`, Kit's `email_address`, Substack's
`email_disabled`, …): `HEADERS` says which. Only an address is required; a column nothing
reads is shown as ignored.

A row whose consent evidence is complete (when, where, and the wording or its version; where
and the wording may be given once for the whole file) joins confirmed, its evidence written to
the consent ledger as it was given. A row with none of it joins pending and gets an email
asking the person to confirm. A row with part of it is an error. A row its old list marks as
unsubscribed, bounced or complained is left out: it never gets an email from here.

Every person is on one line: a quote that opens and does not close on its line is an error,
never a field that swallows the next person. The import is all or nothing: any bad line, and
nothing is written; every problem of every line is reported as `line N: why`. It is idempotent
by address: an address already here (on the list, pending, unsubscribed, suppressed or erased)
is left exactly as it is. Imported people join the list behind everyone already on it; their
consent records keep the dates they consented.

The file is read as a stream, in batches written inside one transaction: a million rows take
the memory of their addresses, not of the file."""

import codecs
import contextlib
import csv
import datetime as dt
import io
import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import charset_normalizer
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from psycopg.types.json import Jsonb

from ..models.people import (
    ConsentRecord,
    ListUpload,
    OutboundEmail,
    Subscriber,
    USState,
    email_hash,
)
from . import consent, outbox, places
from .signup import canonical_email

# What each field is read from: header names as written by people and by the common exports,
# compared as `_key` makes them. Where a file has two names of one field, the first listed wins
# (Mailchimp's CONFIRM_TIME over its OPTIN_TIME).
HEADERS = {
    "email": ("email", "emailaddress", "e-mail", "e-mailaddress", "subscriberemail", "mail"),
    "consented_at": (
        "consentedat", "confirmtime", "confirmedat", "optintime", "subscribedat", "createdat",
        "signupdate", "signedup", "signedupat", "dateadded", "joinedat",
    ),
    "consent_source": ("consentsource", "source", "signupsource"),
    "consent_wording": ("consentwording", "consenttext"),
    "consent_version": ("consentversion",),
    "consent_ip": ("consentip", "confirmip", "optinip", "signupip", "ipaddress"),
    "state": ("state", "usstate"),
    "status": ("status", "subscriberstatus", "memberstatus", "subscriberstate"),
    "email_disabled": ("emaildisabled",),
}  # fmt: skip
FIELDS = tuple(HEADERS)
# Interests are health data, kept only with each person's own consent, which an old list's file
# cannot carry: such a column is shown, and left out.
HEALTH_HEADERS = ("interests", "tags", "conditions")
NOT_IMPORTED = (
    "not imported: interests are health data, kept only with each person's own consent, which "
    "they give in their preferences"
)
EVIDENCE = ("consented_at", "consent_source", "consent_wording", "consent_version")
# What an old list's status word means here.
SUBSCRIBED = {"", "active", "subscribed", "confirmed", "yes"}
UNCONFIRMED = {"unconfirmed", "pending", "inactive", "not confirmed"}
GONE = {
    "unsubscribed", "cancelled", "canceled", "bounced", "complained", "cleaned", "cold",
    "spam", "blocked", "disabled",
}  # fmt: skip
STATUSES = SUBSCRIBED | UNCONFIRMED | GONE
STATES = frozenset(USState.values)
DELIMITERS = (",", ";", "\t", "|")
MAX_ROWS = 1_000_000
MAX_LISTED = 1000  # problems listed one by one; past that, counted
BATCH = 10000
PLACEMENT = "import"
SAMPLE = 64 * 1024


class ImportFailed(Exception):
    def __init__(self, report: "Report"):
        super().__init__(f"{report.refused} problem line(s)")
        self.report = report

    @property
    def problems(self) -> list[str]:
        return self.report.listed_problems()


@dataclass
class Evidence:
    """Where people consented and the words they agreed to, for every row without its own."""

    source: str = ""
    wording: str = ""


@dataclass
class Row:
    line: int
    email: str
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
    """What a file was read as and what it brings: the preview, and after an import its result."""

    encoding: str = "utf-8"
    note: str = ""
    delimiter: str = ","
    columns: list[tuple[str, str]] = field(default_factory=list)  # (as written, read as)
    first_row: list[str] = field(default_factory=list)  # its values, to see the reading right
    confirmed: int = 0
    asked_to_confirm: int = 0
    already_here: int = 0
    left_out: int = 0
    refused: int = 0
    problems: list[str] = field(default_factory=list)
    imported: bool = False

    @property
    def new(self) -> int:
        return self.confirmed + self.asked_to_confirm

    def problem(self, line: int, why: str) -> None:
        if len(self.problems) < MAX_LISTED:
            self.problems.append(f"line {line}: {why}" if line else why)

    def listed_problems(self) -> list[str]:
        unlisted = self.refused - sum(p.startswith("line ") for p in self.problems)
        more = [f"… and {unlisted:,} more line(s) with problems"] if unlisted > 0 else []
        return self.problems + more

    def summary(self) -> str:
        verb = "imported" if self.imported else "new"
        parts = [
            f"{self.new:,} {verb} ({self.confirmed:,} confirmed with their consent evidence, "
            f"{self.asked_to_confirm:,} {'asked' if self.imported else 'to be asked'} by email "
            "to confirm)",
            f"{self.already_here:,} already here and left as they are",
        ]
        if self.left_out:
            parts.append(f"{self.left_out:,} left out: unsubscribed or bounced on the old list")
        if not self.imported:
            parts.append(f"{self.refused:,} refused")
        return ", ".join(parts)

    @property
    def separated_by(self) -> str:
        return {",": "commas", ";": "semicolons", "\t": "tabs", "|": "bars"}[self.delimiter]

    def reading(self) -> list[str]:
        """How the file was read, one line each: its encoding and what each column holds."""
        lines = [f"Read as {self.encoding} text, fields separated by {self.separated_by}."]
        if self.note:
            lines.append(self.note)
        lines += [
            f"{name}: {read_as}" + (f" (first row: {example})" if example else "")
            for (name, read_as), example in self.column_examples()
        ]
        return lines

    def column_examples(self) -> list[tuple[tuple[str, str], str]]:
        """Each column as it was read, with its value on the first row."""
        values = self.first_row + [""] * (len(self.columns) - len(self.first_row))
        return list(zip(self.columns, values, strict=False))


def preview(file: BinaryIO, evidence: Evidence | None = None) -> Report:
    """Everything an import would do, done but nothing written; raises ImportFailed with every
    problem."""
    return _run(file, evidence or Evidence(), write=False)


def import_file(file: BinaryIO, evidence: Evidence | None = None) -> Report:
    """Read, check and write, all in one transaction: every row or none."""
    return _run(file, evidence or Evidence(), write=True)


def import_csv(data: bytes, evidence: Evidence | None = None) -> Report:
    return import_file(io.BytesIO(data), evidence)


IMPORT_TASK = "waitlist.tasks.import_lists"
COPY = True  # PostgreSQL's COPY where it can; off, bulk_create (the test of their equality)


def run_uploads() -> int:
    """Import every list an operator asked for in admin, one at a time, each in one
    transaction with its new status: a worker that dies mid-import leaves it to the next run."""
    done = 0
    while True:
        with transaction.atomic():
            upload = (
                ListUpload.objects.select_for_update(skip_locked=True)
                .filter(status=ListUpload.Status.IMPORTING)
                .order_by("pk")
                .first()
            )
            if upload is None:
                return done
            evidence = Evidence(upload.consent_source, upload.consent_wording)
            try:
                report = import_file(io.BytesIO(upload.data), evidence)
            except ImportFailed as exc:  # the list here changed since the preview
                upload.fail(exc.problems)
            else:
                upload.finish(report.summary())
            upload.save()
            done += 1


def _run(file: BinaryIO, evidence: Evidence, *, write: bool) -> Report:
    report = Report()
    with transaction.atomic():
        lines = _lines(file, report)
        columns = _header(lines, report, evidence)
        seen: dict[str, int] = {}
        batch: list[Row] = []
        now = timezone.now()
        for line, text in lines:
            if not text.strip():
                continue
            if not report.first_row:
                with contextlib.suppress(csv.Error):
                    report.first_row = next(csv.reader([text], delimiter=columns.delimiter))
            if len(seen) + report.refused + report.left_out >= MAX_ROWS:
                report.refused += 1
                report.problem(line, f"the file has more than {MAX_ROWS:,} rows; split it")
                break
            row = _read_line(line, text, columns, report, evidence, now)
            if row is None:
                continue
            key = row.email.lower()
            if key in seen:
                report.refused += 1
                report.problem(line, f"{row.email} is already on line {seen[key]}")
                continue
            seen[key] = line
            batch.append(row)
            if len(batch) == BATCH:
                _take(batch, report, write=write and not report.refused)
                batch = []
        _take(batch, report, write=write and not report.refused)
        if report.refused:
            raise ImportFailed(report)
        if not seen and not report.left_out:
            report.problem(0, "the file has no rows under its header")
            raise ImportFailed(report)
        report.imported = write
        if write:
            places.number_new()  # behind everyone, in the file's order
        if write and report.asked_to_confirm:
            transaction.on_commit(outbox.enqueue_once)
    return report


def _lines(file: BinaryIO, report: Report) -> Iterator[tuple[int, str]]:
    """The file's lines, numbered from 1, in the encoding it was written in."""
    encoding = _encoding(file, report)
    text = io.TextIOWrapper(file, encoding=encoding, newline="")
    number = 0
    try:
        for number, line in enumerate(text, 1):  # noqa: B007 - the number outlives the loop
            yield number, line
    except UnicodeDecodeError as exc:
        report.refused += 1
        report.problem(number + 1, f"a byte that is not {report.encoding} text ({exc.reason})")


def _encoding(file: BinaryIO, report: Report) -> str:
    """UTF-8 when every byte is; otherwise what charset-normalizer finds, a Western single-byte
    guess read as Windows-1252 (what Excel writes in the US), which the note says."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    file.seek(0)
    try:
        while chunk := file.read(1024 * 1024):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        file.seek(0)
        found = charset_normalizer.from_bytes(file.read(4 * SAMPLE)).best()
        file.seek(0)
        guess = codecs.lookup(found.encoding).name if found else ""
        if guess.startswith("utf-"):
            report.encoding = guess.upper().replace("_", "-")
        else:
            report.encoding = "cp1252"
            report.note = (
                "The file is not UTF-8: it was read as Windows-1252, as Excel saves CSV. Check "
                "that names with accents look right below; if not, save it as “CSV UTF-8”."
            )
        return report.encoding
    file.seek(0)
    report.encoding = "utf-8"
    return "utf-8-sig"  # a BOM, as Excel's "CSV UTF-8" writes, is not part of the header


@dataclass
class Columns:
    delimiter: str
    count: int
    index: dict[str, int]  # field: its column


def _key(name: str) -> str:
    return "".join(name.lower().split()).replace("_", "").replace(".", "")


def _given(evidence: Evidence) -> tuple[tuple[str, str], ...]:
    return (("consent_source", evidence.source), ("consent_wording", evidence.wording))


def _header(lines: Iterator[tuple[int, str]], report: Report, evidence: Evidence) -> Columns:
    for line, text in lines:  # noqa: B007 - the header's line outlives the loop
        if text.strip():
            break
    else:
        report.problem(0, "the file is empty")
        raise ImportFailed(report)
    by_key = {alias: name for name, aliases in HEADERS.items() for alias in aliases}
    # The delimiter that makes the most names known (then the most columns) is the file's.
    tried = []
    for delimiter in DELIMITERS:
        try:
            names = [name.strip() for name in next(csv.reader([text], delimiter=delimiter))]
        except csv.Error:
            continue
        known = sum(_key(name) in by_key for name in names)
        tried.append((known, len(names), delimiter, names))
    known, _count, delimiter, names = max(tried, default=(0, 0, ",", []))
    report.delimiter = delimiter
    index: dict[str, int] = {}
    for position, name in enumerate(names):
        read_as = by_key.get(_key(name))
        if read_as is None:
            health = _key(name) in HEALTH_HEADERS
            report.columns.append((name, NOT_IMPORTED if health else "ignored"))
            continue
        rank = HEADERS[read_as].index(_key(name))
        if read_as in index and HEADERS[read_as].index(_key(names[index[read_as]])) <= rank:
            report.columns.append((name, f"ignored: {names[index[read_as]]} is read as {read_as}"))
            continue
        if read_as in index:
            report.columns[index[read_as]] = (names[index[read_as]], f"ignored: {name} is used")
        index[read_as] = position
        report.columns.append((name, read_as))
    if "email" not in index:
        report.problem(line, "the header names no address column (as `email` or `Email Address`)")
        raise ImportFailed(report)
    has = set(index) | {name for name, given in _given(evidence) if given}
    if "consented_at" in has and (
        "consent_source" not in has or not {"consent_wording", "consent_version"} & has
    ):
        when = names[index["consented_at"]]
        report.problem(
            line,
            f"the file says when people consented ({when}) but not where or to which words: "
            "give the source and the wording for the whole file, or leave the time column out "
            "to ask everyone to confirm by email",
        )
        raise ImportFailed(report)
    return Columns(delimiter, len(names), index)


def _read_line(
    line: int, text: str, columns: Columns, report: Report, evidence: Evidence, now: dt.datetime
) -> Row | None:
    problems: list[str] = []
    try:
        fields = next(csv.reader([text], delimiter=columns.delimiter, strict=True))
    except csv.Error as exc:
        why = str(exc)
        if why == "unexpected end of data":
            why = "a quote opens and never closes on this line (each person must be on one line)"
        fields, problems = [], [why]
    if len(fields) > columns.count:
        problems.append(f"{len(fields)} fields where the header has {columns.count}")
    values = {
        name: fields[position].strip() if position < len(fields) else ""
        for name, position in columns.index.items()
    }
    row = _row(line, values, evidence, now, problems) if not problems else None
    if problems:
        report.refused += 1
        report.problem(line, "; ".join(problems))
        return None
    if row is None:
        report.left_out += 1
    return row


def _row(
    line: int, values: dict[str, str], evidence: Evidence, now: dt.datetime, problems: list[str]
) -> Row | None:
    """The row, or None for a person the old list no longer mails; each problem is appended."""
    email = values["email"]
    if len(email) > 254:
        problems.append(f"the address {email[:40]}… is longer than 254 characters")
    else:
        try:
            validate_email(email)
        except ValidationError:
            problems.append(f"{email!r} is not an email address" if email else "no email address")
    status, state = values.get("status", "").lower(), values.get("state", "")
    if "status" not in values and state.lower() in STATUSES - {""}:
        status, state = state.lower(), ""  # Kit calls a subscriber's status their `state`
    if state and state.upper() not in STATES:
        problems.append(f"unknown US state {state!r} (two letters, as TX)")
    if status not in STATUSES:
        problems.append(f"unknown status {status!r} (as active, unconfirmed or unsubscribed)")
    row = Row(line, email, state.upper())
    if any(values.get(name) for name in EVIDENCE):
        # The row's own evidence, completed by what the file gives for every row.
        values["consent_source"] = values.get("consent_source") or evidence.source
        values["consent_wording"] = values.get("consent_wording") or evidence.wording
        _evidence(row, values, now, problems)
    if problems:
        return None
    if status in GONE or values.get("email_disabled", "").lower() in {"true", "yes", "1"}:
        return None
    if status in UNCONFIRMED:
        row.consented_at = None  # they never confirmed there: asked to confirm here
    return row


def _evidence(row: Row, values: dict[str, str], now: dt.datetime, problems: list[str]) -> None:
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
        problems.append(f"consent evidence is incomplete: no {' and no '.join(missing)}")
    when = values.get("consented_at", "")
    moment = _moment(when) if when else None
    if when and moment is None:
        problems.append(f"consented_at {when!r} is not a date and time (as 2026-05-01T14:30:00Z)")
    elif moment and moment > now:
        problems.append(f"consented_at {when} is in the future")
    ip = values.get("consent_ip") or None
    if ip:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            problems.append(f"consent_ip {ip!r} is not an IP address")
    version = values.get("consent_version", "")
    if len(version) > 20:
        problems.append("consent_version is longer than 20 characters")
    row.consented_at, row.ip, row.version = moment, ip, version
    row.source = values.get("consent_source", "")[:200]
    row.wording = values.get("consent_wording", "")


def _moment(text: str) -> dt.datetime | None:
    """ISO 8601, or the `2026-05-01 14:30:00` exports write; a date alone is its midnight."""
    try:
        moment = parse_datetime(text) or parse_datetime(f"{text}T00:00:00")
    except ValueError:
        return None
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.UTC)
    return moment


def _take(rows: list[Row], report: Report, *, write: bool) -> None:
    """Count a batch against what is here, and write its new people when writing."""
    if not rows:
        return
    hashes = {email_hash(row.email): row for row in rows}
    known = set(
        Subscriber.objects.filter(email_hash__in=list(hashes)).values_list("email_hash", flat=True)
    )
    new = [(digest, row) for digest, row in hashes.items() if digest not in known]
    report.already_here += len(known)
    confirmed = sum(row.has_evidence for _, row in new)
    report.confirmed += confirmed
    report.asked_to_confirm += len(new) - confirmed
    if write:
        _write(new, timezone.now())


def _write(new: list[tuple[str, Row]], now: dt.datetime) -> None:
    people = _insert(Subscriber, [_subscriber(digest, row, now) for digest, row in new])
    consents = _insert(
        ConsentRecord, [_consent(person, row) for person, (_, row) in zip(people, new, strict=True)]
    )
    _insert(
        OutboundEmail,
        [
            {"subscriber_id": person, "consent_id": record, "kind": OutboundEmail.Kind.RECONFIRM}
            for person, record, (_, row) in zip(people, consents, new, strict=True)
            if not row.has_evidence
        ],
    )


def _insert(model: type[models.Model], rows: list[dict]) -> list[int]:
    """Write rows (each its fields' values by attname; every other field its default) and
    return their ids: by COPY on PostgreSQL, where bulk_create's statements cannot keep up with a
    million rows; by bulk_create elsewhere. tests/waitlist/test_import.py proves both write the
    same rows."""
    if not rows:
        return []
    if not (COPY and connection.vendor == "postgresql"):
        return [obj.pk for obj in model.objects.bulk_create([model(**row) for row in rows])]
    meta = model._meta
    table = meta.db_table
    # A field with a database default no row gives is left to the database.
    given = set().union(*rows)
    fields = [f for f in meta.concrete_fields if f.attname in given or not f.has_db_default()]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, meta.pk.column, len(rows)],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
        for pk, row in zip(ids, rows, strict=True):
            row[meta.pk.attname] = pk
        values = [_value_of(field) for field in fields]
        columns = ", ".join(quote(field.column) for field in fields)
        # Binary, each value sent as its column's type: the server parses no text.
        cursor.execute(
            "SELECT attname, atttypid::regtype::text FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0",
            [table],
        )
        types = dict(cursor.fetchall())
        statement = f"COPY {quote(table)} ({columns}) FROM STDIN (FORMAT BINARY)"
        with cursor.cursor.copy(statement) as copy:
            copy.set_types([types[field.column] for field in fields])
            for row in rows:
                copy.write_row([value(row) for value in values])
    return ids


def _value_of(field: models.Field) -> Callable[[dict], object]:
    """How a row's value of a field is found: as the row gives it, or the field's default as
    Django would make it (auto_now_add's time, a callable default called for each row)."""
    if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
        now = timezone.now()
        default = lambda: now  # noqa: E731
    elif field.has_default() and callable(field.default):
        default = field.default
    else:
        constant = field.get_default()
        default = lambda: constant  # noqa: E731
    name, wrap = field.attname, Jsonb if isinstance(field, models.JSONField) else None
    if isinstance(field, models.GenericIPAddressField):
        wrap = lambda ip: ip and ipaddress.ip_address(ip)  # noqa: E731 - inet, binary
    if wrap:
        return lambda row: wrap(row[name] if name in row else default())
    return lambda row: row[name] if name in row else default()


def _subscriber(digest: str, row: Row, now: dt.datetime) -> dict:
    return {
        "email": row.email,
        "email_hash": digest,
        "canonical_email_hash": email_hash(canonical_email(row.email)),
        "status": Subscriber.Status.CONFIRMED if row.has_evidence else Subscriber.Status.PENDING,
        "state": row.state,
        "placement": PLACEMENT,
        "utm_source": row.source[:100],
        # Behind everyone already on the list: a place counts from joining it here. When the
        # person consented is their consent record's.
        "confirmed_at": now if row.has_evidence else None,
        "last_confirmation_at": None if row.has_evidence else now,
    }


def _consent(person: int, row: Row) -> dict:
    if not row.has_evidence:
        # What the person agrees to when they confirm from the email: today's wording.
        return {
            "subscriber_id": person,
            "consent_version": consent.current_version(),
            "consent_text": consent.current_text(),
        }
    return {
        "subscriber_id": person,
        "consent_version": row.version or "imported",
        "consent_text": row.wording or f"(the wording of version {row.version} at {row.source})",
        "source": row.source,
        "signed_up_at": row.consented_at,  # when it was given, not when it was imported
        "signup_ip": row.ip,
        "confirmed_at": row.consented_at,
        "confirm_ip": row.ip,
    }
