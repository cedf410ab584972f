"""Importing a list kept elsewhere: consent evidence kept, re-confirmation for the rest, all or
nothing with every bad line said, idempotent, suppressed and erased addresses left alone."""

import datetime as dt
import re
import subprocess
import sys

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from tests.factories import StaffFactory, SubscriberFactory
from waitlist.models import ConsentRecord, OutboundEmail, Subscriber
from waitlist.people import outbox, privacy

pytestmark = pytest.mark.django_db

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


def csv(*lines: str) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def command(tmp_path, data: bytes) -> subprocess.CompletedProcess:
    path = tmp_path / "list.csv"
    path.write_bytes(data)
    return subprocess.run(
        [sys.executable, "manage.py", "import_subscribers", str(path)],
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


def upload(client: Client, data: bytes):
    return client.post(
        "/admin/waitlist/subscriber/import/",
        {"file": SimpleUploadedFile("list.csv", data, content_type="text/csv")},
    )


def test_a_file_with_three_bad_lines_imports_nothing_and_says_each(importer):
    data = csv(GOOD[0], BAD[0], GOOD[1], BAD[1], BAD[2], GOOD[2])
    response = upload(importer, data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was imported: 3 problems." in page
    assert "line 3: &#x27;not-an-address&#x27; is not an email address" in page
    assert (
        "line 5: consent evidence is incomplete: no consent_source and no consent_wording or "
        "consent_version" in page
    )
    assert "line 6: unknown US state &#x27;Atlantis&#x27; (two letters, as TX)" in page
    assert not Subscriber.objects.exists() and not OutboundEmail.objects.exists()


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

    fixed = command(tmp_path, csv(*GOOD))
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.strip() == (
        "2 joined confirmed with their consent evidence, 1 asked by email to confirm, "
        "0 already here and left as they are"
    )
    again = command(tmp_path, csv(*GOOD))
    assert "0 joined confirmed" in again.stdout and "3 already here" in again.stdout
    assert Subscriber.objects.count() == 3 and ConsentRecord.objects.count() == 3
    assert OutboundEmail.objects.count() == 1


def test_rows_with_evidence_join_confirmed_with_it_the_rest_are_asked(importer, mail):
    assert upload(importer, csv(*GOOD)).status_code == 200
    ana = Subscriber.objects.get(email="ana@example.com")
    assert (ana.status, ana.state, ana.interests) == ("confirmed", "TX", ["sleep", "testosterone"])
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

    again = upload(importer, csv(*GOOD)).content.decode()
    assert (
        "0 joined confirmed with their consent evidence, 0 asked by email to confirm, 3 already"
        in again
    )
    assert outbox.send_due().claimed == 1  # the welcome cal's confirmation brought; nothing else


def test_suppressed_unsubscribed_and_erased_addresses_stay_as_they_are(importer, mail):
    suppressed = SubscriberFactory(email="ana@example.com", suppressed_at=timezone.now())
    SubscriberFactory(email="ben@example.com", status="unsubscribed")
    erased = SubscriberFactory(email="cal@example.com")
    privacy.erase(subscriber_id=erased.pk)
    page = upload(importer, csv(*GOOD)).content.decode()
    assert (
        "0 joined confirmed with their consent evidence, 0 asked by email to confirm, 3 already"
        in page
    )
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
        (b"name\nana\n", "line 1: the header names no `email` column"),
        (b"email,favourite\nana@example.com,blue\n", "line 1: unknown column(s) favourite"),
        (HEADER.encode() + b"\n", "the file has no rows under its header"),
        (b"\xff\xfeemail\n", "the file is not UTF-8 text"),
        (TWICE, "line 3: Ana@Example.com is already on line 2"),
        (FUTURE, "line 2: consented_at 2030-01-01T00:00:00Z is in the future"),
        (NOT_A_TIME, "line 2: consented_at 'yesterday' is not a date"),
        (csv("ana@example.com,,,,,,cooking,"), "line 2: unknown interest(s) cooking"),
        (BAD_IP, "line 2: consent_ip '999.1.1.1' is not an IP address"),
        (csv("ana@example.com,,,,,,,,extra"), "line 2: more fields than the header has"),
        (csv("a" * 250 + "@example.com,,,,,,,"), "is longer than 254 characters"),
        (csv('ana@example.com,"' + "x" * 140_000), "line 2: field larger than field limit"),
    ],
)
def test_each_kind_of_bad_file_is_refused_with_its_reason(importer, data, problem):
    page = upload(importer, data).content.decode().replace("&#x27;", "'").replace("&#x60;", "`")
    assert problem in page
    assert not Subscriber.objects.exists()


def test_importing_needs_its_own_permission():
    viewer = StaffFactory()
    viewer.user_permissions.set(Permission.objects.filter(codename="view_subscriber"))
    client = Client(HTTP_HOST="localhost")
    client.force_login(viewer)
    assert upload(client, csv(*GOOD)).status_code == 403
    assert "Import a list" not in client.get("/admin/waitlist/subscriber/").content.decode()
    assert not Subscriber.objects.exists()
