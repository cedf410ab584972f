"""Importing a list kept elsewhere: real exports read with their columns mapped, consent
evidence kept, re-confirmation for the rest, a preview first, all or nothing with every problem
of every line said, idempotent, places never lowered, suppressed and erased addresses left
alone."""

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from tests.factories import StaffFactory, SubscriberFactory
from waitlist.models import ConsentRecord, ListUpload, OutboundEmail, Subscriber
from waitlist.people import importing, outbox, privacy

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent.parent / "fixtures" / "imports"
HEADER = (
    "email,consented_at,consent_source,consent_wording,consent_version,consent_ip,interests,state"
)
GOOD = [
    "ana@example.com,2026-05-01T14:30:00Z,Typeform launch page,Email me launch news.,,"
    "198.51.100.7,sleep testosterone,TX",
    "ben@example.com,2026-06-02T09:00:00-05:00,Old site footer,,v3,,,ca",
    "cal@example.com,,,,,,weight,NY",
]
BAD = [
    "not-an-address,,,,,,,",
    "dee@example.com,2026-05-01T14:30:00Z,,,,,,",  # a time, but no source and no wording
    "eve@example.com,,,,,,,Atlantis",
]
CONFIRM = re.compile(r"https?://\S+(/waitlist/confirm/[^/\s]+/)")
URL = "/admin/waitlist/subscriber/import/"


def csv(*lines: str) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def command(tmp_path, data: bytes, *options: str) -> subprocess.CompletedProcess:
    path = tmp_path / "list.csv"
    path.write_bytes(data)
    return subprocess.run(
        [sys.executable, "manage.py", "import_subscribers", str(path), *options],
        capture_output=True, text=True, env=_env(), check=False,
    )  # fmt: skip


def _env() -> dict[str, str]:
    import os

    from tests.conftest import database_url

    return {**os.environ, "DATABASE_URL": database_url()}


@pytest.fixture
def importer() -> Client:
    user = StaffFactory()
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_subscriber", "import_subscribers"])
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def preview(client: Client, data: bytes, name: str = "list.csv", **evidence: str):
    upload = SimpleUploadedFile(name, data, content_type="text/csv")
    return client.post(URL, {"file": upload, **evidence})


def upload(client: Client, data: bytes, **evidence: str):
    """Preview, press Import, and let the worker run: the page the operator comes back to."""
    shown = preview(client, data, **evidence)
    if shown.status_code != 200:
        return shown
    key = re.search(r'name="upload" value="(\d+)"', shown.content.decode()).group(1)
    started = client.post(URL, {"upload": key, "action": "import"})
    assert started.status_code == 302
    importing.run_uploads()
    return client.get(URL)


def text(response) -> str:
    page = response.content.decode()
    return page.replace("&#x27;", "'").replace("&#x60;", "`").replace("&quot;", '"')


def test_a_file_with_three_bad_lines_imports_nothing_and_says_each(importer):
    data = csv(GOOD[0], BAD[0], GOOD[1], BAD[1], BAD[2], GOOD[2])
    response = preview(importer, data)
    assert response.status_code == 400
    page = text(response)
    assert "Nothing was imported: 3 lines with problems." in page
    assert "line 3: 'not-an-address' is not an email address" in page
    assert (
        "line 5: consent evidence is incomplete: no consent_source and no consent_wording or "
        "consent_version" in page
    )
    assert "line 6: unknown US state 'Atlantis' (two letters, as TX)" in page
    assert "3 refused" in page
    assert not Subscriber.objects.exists() and not OutboundEmail.objects.exists()
    assert not ListUpload.objects.exists()  # a refused file is not kept


def test_every_problem_of_every_line_is_listed(importer):
    page = text(preview(importer, (FIXTURES / "problems.csv").read_bytes()))
    assert "line 2: 'not-an-address' is not an email address; unknown US state" in page
    assert "not imported: interests are health data, kept only with each person's own" in page
    assert "unknown US state 'Atlantis' (two letters, as TX)</li>" in page
    assert (
        "line 3: consent evidence is incomplete: no consent_source and no consent_wording or "
        "consent_version; consent_ip '999.1.1.1' is not an IP address" in page
    )
    assert "line 4: 9 fields where the header has 8" in page
    assert "line 5: consented_at 'tomorrow' is not a date and time" in page
    assert not Subscriber.objects.exists()


def test_a_runaway_quote_is_refused_with_its_line_and_nothing_is_written(importer):
    data = (FIXTURES / "runaway-quote.csv").read_bytes()
    page = text(preview(importer, data))
    assert (
        "line 2: a quote opens and never closes on this line (each person must be on one line)"
        in page
    )
    assert "Nothing was imported: 1 line with problems." in page
    assert not Subscriber.objects.exists() and not ConsentRecord.objects.exists()


@pytest.mark.django_db(transaction=True)  # the command runs in a process of its own
def test_the_command_says_every_bad_line_and_imports_nothing(tmp_path):
    done = command(tmp_path, csv(GOOD[0], BAD[0], BAD[1], BAD[2]))
    assert done.returncode == 1
    assert [line.split(": ", 1)[1] for line in done.stderr.splitlines() if ": line " in line] == [
        "line 3: 'not-an-address' is not an email address",
        "line 4: consent evidence is incomplete: no consent_source and no consent_wording or "
        "consent_version",
        "line 5: unknown US state 'Atlantis' (two letters, as TX)",
    ]
    assert "nothing imported: 3 problem(s)" in done.stderr
    assert not Subscriber.objects.exists()

    runaway = command(tmp_path, (FIXTURES / "runaway-quote.csv").read_bytes())
    assert runaway.returncode == 1
    assert "list.csv: line 2: a quote opens and never closes on this line" in runaway.stderr
    assert not Subscriber.objects.exists() and not ConsentRecord.objects.exists()

    looked = command(tmp_path, csv(*GOOD), "--preview")
    assert looked.returncode == 0, looked.stderr
    assert looked.stdout.splitlines()[-1] == (
        "3 new (2 confirmed with their consent evidence, 1 to be asked by email to confirm), "
        "0 already here and left as they are, 0 refused"
    )
    assert "consented_at: consented_at (first row: 2026-05-01T14:30:00Z)" in looked.stdout
    assert not Subscriber.objects.exists()

    fixed = command(tmp_path, csv(*GOOD))
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.splitlines()[-1] == (
        "3 imported (2 confirmed with their consent evidence, 1 asked by email to confirm), "
        "0 already here and left as they are"
    )
    again = command(tmp_path, csv(*GOOD))
    assert "0 imported" in again.stdout and "3 already here" in again.stdout
    assert Subscriber.objects.count() == 3 and ConsentRecord.objects.count() == 3
    assert OutboundEmail.objects.count() == 1


def test_rows_with_evidence_join_confirmed_with_it_the_rest_are_asked(importer, mail):
    page = text(upload(importer, csv(*GOOD)))
    assert "Imported" in page and "3 imported (2 confirmed" in page
    ana = Subscriber.objects.get(email="ana@example.com")
    # Interests are health data: an old list's file cannot carry each person's consent to them.
    assert (ana.status, ana.state, ana.interests) == ("confirmed", "TX", [])
    assert not ana.consents.filter(purpose="interests").exists()
    record = ana.consents.get()
    assert (record.consent_text, record.source, record.signup_ip) == (
        "Email me launch news.", "Typeform launch page", "198.51.100.7",
    )  # fmt: skip
    assert (
        record.signed_up_at == record.confirmed_at == dt.datetime(2026, 5, 1, 14, 30, tzinfo=dt.UTC)
    )
    ben = Subscriber.objects.get(email="ben@example.com")
    assert ben.state == "CA" and ben.consents.get().consent_version == "v3"
    assert "version v3 at Old site footer" in ben.consents.get().consent_text
    exported = privacy.export_data(subscriber_id=ana.pk)["consents"][0]
    assert exported["signed_up_at"] == "2026-05-01T14:30:00+00:00"

    cal = Subscriber.objects.get(email="cal@example.com")
    assert cal.status == "pending"
    outbox.send_due()
    assert mail.to("ana@example.com") == [] and mail.to("ben@example.com") == []
    (ask,) = mail.to("cal@example.com")
    assert ask.message["Subject"] == "Do you still want Halftime Health updates? Please confirm"
    assert "on a list we kept elsewhere" in ask.text
    client = Client(HTTP_HOST="localhost")
    assert client.post(CONFIRM.search(ask.text).group(1)).status_code == 302
    cal.refresh_from_db()
    assert cal.status == "confirmed"

    again = text(upload(importer, csv(*GOOD)))
    assert "0 imported (0 confirmed with their consent evidence, 0 asked" in again
    assert outbox.send_due().claimed == 1  # the welcome cal's confirmation brought; nothing else


def test_the_preview_says_what_the_file_brings_and_writes_nothing(importer):
    SubscriberFactory(email="ana@example.com")
    response = preview(importer, csv(*GOOD), name="old-list.csv")
    page = text(response)
    assert response.status_code == 200
    assert "Preview of old-list.csv: nothing is imported yet" in page
    assert (
        "2 new (1 confirmed with their consent evidence, 1 to be asked by email to confirm), "
        "1 already here and left as they are, 0 refused" in page
    )
    assert "<td>consent_ip</td><td>consent_ip</td><td>198.51.100.7</td>" in page
    assert "Import 2 new people" in page
    assert Subscriber.objects.count() == 1 and OutboundEmail.objects.count() == 0

    key = re.search(r'name="upload" value="(\d+)"', page).group(1)
    cancelled = importer.post(URL, {"upload": key, "action": "cancel"}, follow=True)
    assert "old-list.csv was not imported." in text(cancelled)
    late = importer.post(URL, {"upload": key, "action": "import"}, follow=True)
    assert "That list was already imported or cancelled." in text(late)
    importing.run_uploads()
    assert Subscriber.objects.count() == 1 and not ListUpload.objects.exists()


def test_import_pressed_twice_imports_once(importer):
    page = text(preview(importer, csv(*GOOD)))
    key = re.search(r'name="upload" value="(\d+)"', page).group(1)
    assert importer.post(URL, {"upload": key, "action": "import"}).status_code == 302
    second = importer.post(URL, {"upload": key, "action": "import"}, follow=True)
    assert "That list was already imported or cancelled." in text(second)
    waiting = text(importer.get(URL))
    assert 'http-equiv="refresh"' in waiting and "Importing… (this page refreshes)" in waiting
    assert importing.run_uploads() == 1 and importing.run_uploads() == 0
    assert Subscriber.objects.count() == 3 and OutboundEmail.objects.count() == 1
    done = ListUpload.objects.get()
    assert done.status == "imported" and bytes(done.data) == b""  # the addresses are not kept
    assert 'http-equiv="refresh"' not in text(importer.get(URL))


def test_a_list_that_changed_since_its_preview_is_refused_whole(importer):
    page = text(preview(importer, csv(GOOD[0], "zed@example.com,,,,,,,")))
    key = re.search(r'name="upload" value="(\d+)"', page).group(1)
    importer.post(URL, {"upload": key, "action": "import"})
    # Between the preview and the worker, the stored file changes.
    ListUpload.objects.filter(pk=key).update(data=csv(GOOD[0], "zed@example.com,,,,,,,ZZ"))
    importing.run_uploads()
    failed = ListUpload.objects.get()
    assert failed.status == "failed" and "line 3: unknown US state 'ZZ'" in failed.result
    assert not Subscriber.objects.exists()
    assert "Not imported" in text(importer.get(URL))
    # Its problems may name addresses: a day later, the next upload takes it away.
    ListUpload.objects.update(uploaded_at=timezone.now() - dt.timedelta(days=1, minutes=1))
    preview(importer, csv(GOOD[0]))
    assert list(ListUpload.objects.values_list("status", flat=True)) == ["previewed"]


@pytest.mark.parametrize(
    "fixture, evidence, expected",
    [
        (
            "mailchimp.csv",
            {"consent_source": "Mailchimp form, old site", "consent_wording": "Email me news."},
            {"dan@example.com": ("confirmed", "", "2026-03-04 10:15:00", "198.51.100.20"),
             "eli@example.com": ("confirmed", "", "2026-04-01 08:02:30", "2001:db8::7"),
             "fay@example.com": ("confirmed", "", "2026-05-20 19:31:00", None)},
        ),
        (
            "kit.csv",
            {"consent_source": "Kit landing page", "consent_wording": "Send me launch news."},
            {"gus@example.com": ("confirmed", "", "2026-02-01 12:00:00", None),
             "hal@example.com": ("pending", "", None, None)},  # ivy cancelled: left out
        ),
        (
            "substack.csv",
            {"consent_source": "Substack", "consent_wording": "Subscribe"},
            {"jon@example.com": ("confirmed", "", "2026-01-10 15:00:00", None),
             "lee@example.com": ("confirmed", "", "2026-01-12 15:00:00", None)},
        ),
        (
            "getwaitlist.csv",
            {"consent_source": "GetWaitlist", "consent_wording": "Join the waitlist"},
            {"max@example.com": ("confirmed", "", "2026-06-01 09:00:00", None),
             "ned@example.com": ("confirmed", "", "2026-06-02 09:00:00", None)},
        ),
        (
            "excel-semicolon-windows-1252.csv",
            {"consent_wording": "Yes, email me."},
            {"ora@example.com": ("confirmed", "NY", "2026-03-12 14:30:00", None),
             "pat@example.com": ("confirmed", "CA", "2026-03-13 09:05:00", None)},
        ),
    ],
)  # fmt: skip
def test_exports_are_read_with_their_columns_mapped(importer, fixture, evidence, expected):
    page = text(upload(importer, (FIXTURES / fixture).read_bytes(), **evidence))
    assert "Imported" in page, page
    people = {person.email: person for person in Subscriber.objects.prefetch_related("consents")}
    assert set(people) == set(expected)
    for email, (status, state, consented, ip) in expected.items():
        person, (record,) = people[email], people[email].consents.all()
        assert (person.status, person.state) == (status, state)
        if consented:
            assert record.signed_up_at == dt.datetime.fromisoformat(consented + "+00:00")
            assert record.source == (evidence.get("consent_source") or record.source)
            assert record.consent_text == evidence["consent_wording"]
            assert record.signup_ip == ip
        else:
            assert record.consent_version == "2026-11"  # asked to confirm today's wording


def test_windows_1252_is_read_with_its_note(importer):
    data = (FIXTURES / "excel-semicolon-windows-1252.csv").read_bytes()
    page = text(preview(importer, data, consent_wording="Yes, email me."))
    assert "Read as cp1252 text, fields separated by semicolons." in page
    assert "The file is not UTF-8: it was read as Windows-1252" in page
    assert "<td>E-mail</td><td>email</td><td>ora@example.com</td>" in page
    assert "<td>Name</td><td>ignored</td><td>Orá Björk</td>" in page  # the accents read right
    assert "<td>Signed up</td><td>consented_at</td>" in page
    importer.post(URL, {"upload": re.search(r'name="upload" value="(\d+)"', page).group(1),
                        "action": "import"})  # fmt: skip
    importing.run_uploads()
    record = ConsentRecord.objects.get(subscriber__email="ora@example.com")
    assert record.source == "Café O’Neil sign-up sheet"
    assert Subscriber.objects.get(email="ora@example.com").interests == []


def test_times_without_where_or_what_ask_for_them_once(importer):
    page = text(preview(importer, (FIXTURES / "mailchimp.csv").read_bytes()))
    assert (
        "line 1: the file says when people consented (CONFIRM_TIME) but not where or to which "
        "words: give the source and the wording for the whole file" in page
    )
    assert "OPTIN_TIME</td><td>ignored: CONFIRM_TIME is used</td>" in page
    assert not Subscriber.objects.exists()


def test_imported_people_join_behind_everyone_and_no_place_goes_down(importer):
    first = SubscriberFactory(email="one@example.com", status="confirmed",
                              confirmed_at=timezone.now() - dt.timedelta(days=1))  # fmt: skip
    assert first.position() == 1
    older = "old@example.com,2025-10-01T09:00:00Z,Old list,Email me.,,,,"
    upload(importer, csv(older, "older@example.com,2025-09-01T09:00:00Z,Old list,Email me.,,,,"))
    assert first.position() == 1
    old, oldest = (
        Subscriber.objects.get(email="old@example.com"),
        Subscriber.objects.get(email="older@example.com"),
    )
    assert (old.position(), oldest.position()) == (2, 3)  # in the file's order, behind
    assert old.consents.get().signed_up_at == dt.datetime(2025, 10, 1, 9, tzinfo=dt.UTC)


def test_copy_writes_the_rows_bulk_create_writes(importer, monkeypatch):
    """PostgreSQL's fast path and the ORM's plain one leave the same rows."""
    lines = [line.replace("@", "+{}@") for line in GOOD]
    importing.import_csv(csv(*[line.format("fast") for line in lines]))
    monkeypatch.setattr(importing, "COPY", False)
    importing.import_csv(csv(*[line.format("plain") for line in lines]))

    def rows(tag: str) -> list[tuple]:
        people = Subscriber.objects.filter(email__contains=f"+{tag}@").order_by("email")
        skip = {"id", "email", "email_hash", "canonical_email_hash", "referral_code",
                "token_key", "created_at", "confirmed_at", "last_confirmation_at",
                "confirmed_number"}  # fmt: skip
        out = []
        for person in people:
            record = person.consents.get()
            emails = list(
                OutboundEmail.objects.filter(subscriber=person).values("kind", "status", "attempts")
            )
            out.append((
                {f.attname: getattr(person, f.attname) for f in Subscriber._meta.concrete_fields
                 if f.attname not in skip},
                bool(person.confirmed_at), bool(person.last_confirmation_at),
                {f.attname: getattr(record, f.attname) for f in ConsentRecord._meta.concrete_fields
                 if f.attname not in {"id", "subscriber_id", "signed_up_at"}},
                emails,
            ))  # fmt: skip
        return out

    fast, plain = rows("fast"), rows("plain")
    assert len(fast) == 3 and fast == plain
    numbers = Subscriber.objects.exclude(confirmed_number=None).order_by("pk")
    # Each list behind the one before, in its file's order.
    assert list(numbers.values_list("confirmed_number", flat=True)) == [1, 2, 3, 4]
    assert len({p.referral_code for p in Subscriber.objects.all()}) == 6  # each its own


def test_suppressed_unsubscribed_and_erased_addresses_stay_as_they_are(importer, mail):
    suppressed = SubscriberFactory(email="ana@example.com", suppressed_at=timezone.now())
    SubscriberFactory(email="ben@example.com", status="unsubscribed")
    erased = SubscriberFactory(email="cal@example.com")
    privacy.erase(subscriber_id=erased.pk)
    page = text(preview(importer, csv(*GOOD)))
    assert "0 new (0 confirmed with their consent evidence, 0 to be asked" in page
    assert "3 already here and left as they are" in page
    suppressed.refresh_from_db()
    assert suppressed.suppressed_at is not None and suppressed.consents.count() == 1
    assert Subscriber.objects.get(email="ben@example.com").status == "unsubscribed"
    assert Subscriber.objects.get(pk=erased.pk).status == "erased"
    assert not Subscriber.objects.filter(email="cal@example.com").exists()
    assert outbox.send_due().claimed == 0


TWICE = csv("ana@example.com,,,,,,,", "Ana@Example.com,,,,,,,")
FUTURE = csv("ana@example.com,2030-01-01T00:00:00Z,Site,Yes.,,,,")
NOT_A_TIME = csv("ana@example.com,yesterday,Site,Yes.,,,,")
BAD_IP = csv("ana@example.com,2026-01-01T00:00:00Z,Site,Yes.,,999.1.1.1,,")


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"name\nana\n", "line 1: the header names no address column"),
        (HEADER.encode() + b"\n", "the file has no rows under its header"),
        (b"", "The submitted file is empty."),
        (b"\n\n", "the file is empty"),
        (TWICE, "line 3: Ana@Example.com is already on line 2"),
        (FUTURE, "line 2: consented_at 2030-01-01T00:00:00Z is in the future"),
        (NOT_A_TIME, "line 2: consented_at 'yesterday' is not a date"),
        (csv("ana@example.com,,,,,,,ZZ"), "line 2: unknown US state 'ZZ'"),
        (BAD_IP, "line 2: consent_ip '999.1.1.1' is not an IP address"),
        (csv("ana@example.com,,,,,,,,extra"), "line 2: 9 fields where the header has 8"),
        (csv("a" * 250 + "@example.com,,,,,,,"), "is longer than 254 characters"),
        (csv('ana@example.com,"' + "x" * 140_000), "line 2: field larger than field limit"),
        (csv("ana@example.com,,,,,,,,", "ben@example.com,,,,,,,TX,,status"),
         "line 3: 10 fields where the header has 8"),
        (b"email,status\nana@example.com,maybe\n", "line 2: unknown status 'maybe'"),
    ],
)  # fmt: skip
def test_each_kind_of_bad_file_is_refused_with_its_reason(importer, data, problem):
    assert problem in text(preview(importer, data))
    assert not Subscriber.objects.exists()


def test_an_unknown_column_is_shown_as_ignored(importer):
    page = text(preview(importer, b"email,favourite\nana@example.com,blue\n"))
    assert "<td>favourite</td><td>ignored</td><td>blue</td>" in page and "1 new" in page


def test_a_file_too_large_is_refused_plainly(importer, settings):
    settings.LIST_UPLOAD_MAX_BYTES = 2000
    over = preview(importer, b"email\n" + b"someone@example.com\n" * 150)  # 3 KB: the form says
    assert over.status_code == 200
    assert "The file is 2.9\xa0KB; files up to 2.0\xa0KB can be uploaded here." in text(over)
    far = preview(importer, b"email\n" + b"someone@example.com\n" * 5000)  # 100 KB: before Django
    assert far.status_code == 413
    assert "That file is too large to upload here" in text(far)
    assert "manage.py import_subscribers" in text(far)
    assert not ListUpload.objects.exists()


def test_importing_needs_its_own_permission():
    viewer = StaffFactory()
    viewer.user_permissions.set(Permission.objects.filter(codename="view_subscriber"))
    client = Client(HTTP_HOST="localhost")
    client.force_login(viewer)
    assert preview(client, csv(*GOOD)).status_code == 403
    assert "Import a list" not in client.get("/admin/waitlist/subscriber/").content.decode()
    assert not Subscriber.objects.exists()
