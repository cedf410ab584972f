"""Bounces for mail sent over SMTP, read from a real mailbox server (dovecot, over IMAP and
POP3) holding delivery status notifications and a feedback report as mail systems send them."""

import imaplib
import os
import poplib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from django.utils import timezone

from tests.factories import CampaignFactory, SubscriberFactory
from tests.mailsink import free_port
from tests.processes import MailboxServer
from waitlist.campaigns import emails
from waitlist.engine import bounces
from waitlist.models import Campaign, Delivery, Subscriber

pytestmark = pytest.mark.django_db

MESSAGES = Path(__file__).parent / "bounces"


@pytest.fixture(scope="module")
def mailbox_server():
    # Not under pytest's own temporary folders: the `dovecot` user must reach the mail.
    folder = Path(tempfile.mkdtemp(prefix="dovecot-"))
    folder.chmod(0o755)
    server = MailboxServer(folder, free_port(), free_port())
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def mailbox(mailbox_server, request):
    """A mailbox of this test's own on the server; yields the function that puts a message in."""
    user = f"bounces-{request.node.name[-40:]}".replace("[", "-").replace("]", "")
    imap = imaplib.IMAP4("127.0.0.1", mailbox_server.imap_port)
    imap.login(user, MailboxServer.PASSWORD)

    def put(name: str, *, raw: bytes | None = None, **fill: str) -> None:
        raw = raw or (MESSAGES / name).read_bytes()
        for placeholder, value in fill.items():
            raw = raw.replace(placeholder.encode(), value.encode())
        imap.append("INBOX", None, None, raw)

    put.user = user
    yield put
    imap.logout()


def left_in(server: MailboxServer, user: str) -> list[str]:
    imap = imaplib.IMAP4("127.0.0.1", server.imap_port)
    imap.login(user, MailboxServer.PASSWORD)
    imap.select("INBOX")
    _, found = imap.search(None, "ALL")
    subjects = []
    for number in found[0].split():
        _, data = imap.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        subjects.append(data[0][1].decode().strip().removeprefix("Subject: "))
    imap.logout()
    return subjects


def sent_campaign(*people: Subscriber) -> tuple[Campaign, dict[str, str]]:
    """A campaign that went to `people`; each person's Message-ID, as the bounce quotes it."""
    campaign = CampaignFactory(
        name="Texas", subject="We're open in Texas", body="Book.", status=Campaign.Status.SENDING,
        started_at=timezone.now(),
    )  # fmt: skip
    ids = {}
    for person in people:
        ids[person.email] = emails.campaign_message_id(campaign.pk, person.pk)
        Delivery.objects.create(
            campaign=campaign, subscriber=person, status="sent", sent_at=timezone.now(),
            message_id=ids[person.email],
        )  # fmt: skip
    return campaign, ids


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_the_bounce_mailbox_suppresses_what_bounced_for_good_and_nothing_else(
    mailbox, mailbox_server, settings, protocol
):
    gone = SubscriberFactory(email="gone@example.net")
    full = SubscriberFactory(email="full@example.net")
    outlook = SubscriberFactory(email="reader@outlook.com")
    angry = SubscriberFactory(email="angry@hotmail.com")
    campaign, ids = sent_campaign(gone, full, outlook, angry)
    for name, person in [
        ("postfix-hard-bounce.eml", gone),
        ("postfix-delayed.eml", full),
        ("outlook-sender-not-authenticated.eml", outlook),
        ("arf-complaint.eml", angry),
    ]:
        mailbox(name, RECIPIENT=person.email, MESSAGE_ID=ids[person.email])
    mailbox("a-reply.eml")
    port = mailbox_server.imap_port if protocol == "imap" else mailbox_server.pop3_port
    settings.BOUNCE_MAILBOX_URL = (
        f"{protocol}://{mailbox.user}:{MailboxServer.PASSWORD}@127.0.0.1:{port}/INBOX"
    )

    outcome = bounces.read_mailbox()
    assert vars(outcome) == {
        "read": 4, "suppressed": 2, "sender_refusals": 1, "delays": 1, "left": 1,
        "unmatched": 0, "unreadable": 0,
    }  # fmt: skip
    reasons = dict(Subscriber.objects.values_list("email", "suppression_reason"))
    assert reasons == {
        "gone@example.net": "hard bounce",
        "full@example.net": "",  # a full mailbox is tried again, not suppressed
        "reader@outlook.com": "",  # our sender's fault, not theirs
        "angry@hotmail.com": "spam complaint",
    }
    rows = {row.subscriber.email: row for row in Delivery.objects.select_related("subscriber")}
    assert rows["gone@example.net"].status == "failed"
    assert rows["reader@outlook.com"].status == "queued"  # sent again after the fix
    assert "5.7.515" in rows["reader@outlook.com"].answer
    campaign.refresh_from_db()
    assert campaign.status == "paused" and "Nobody was suppressed" in campaign.pause_reason
    # The reports are gone from the mailbox; the person's reply stays, marked seen, over IMAP;
    # POP3 has no such mark, so it goes too, rather than be downloaded at every run.
    left = ["Re: We're open in Texas"] if protocol == "imap" else []
    assert left_in(mailbox_server, mailbox.user) == left
    assert vars(bounces.read_mailbox()) == {
        "read": 0, "suppressed": 0, "sender_refusals": 0, "delays": 0, "left": 0,
        "unmatched": 0, "unreadable": 0,
    }  # fmt: skip


def test_a_bounce_for_an_address_not_on_the_list_changes_nothing(mailbox, mailbox_server, settings):
    SubscriberFactory(email="someone@example.net")
    mailbox("postfix-hard-bounce.eml", RECIPIENT="stranger@example.net", MESSAGE_ID="<x@y>")
    settings.BOUNCE_MAILBOX_URL = (
        f"imap://{mailbox.user}:{MailboxServer.PASSWORD}@127.0.0.1:{mailbox_server.imap_port}/"
    )
    assert vars(bounces.read_mailbox())["suppressed"] == 0
    assert not Subscriber.objects.filter(suppressed_at__isnull=False).exists()


@pytest.mark.parametrize("url, scheduled", [("", "False"), ("imaps://u:p@mail.example", "True")])
def test_beat_reads_the_mailbox_only_when_one_is_set(url, scheduled):
    asks = "from django.conf import settings as s; print('read-bounces' in s.CELERY_BEAT_SCHEDULE)"
    shown = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", asks],
        env={**os.environ, "BOUNCE_MAILBOX_URL": url}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert shown.stdout.strip().splitlines()[-1] == scheduled


def test_a_wrong_password_is_an_error_not_a_silence(mailbox_server, settings):
    settings.BOUNCE_MAILBOX_URL = f"pop3://x:wrong@127.0.0.1:{mailbox_server.pop3_port}"
    with pytest.raises(poplib.error_proto):
        bounces.read_mailbox()


def test_a_forged_report_about_no_email_of_ours_changes_nothing(mailbox, mailbox_server, settings):
    victim = SubscriberFactory(email="victim@example.net")
    campaign, ids = sent_campaign(victim)
    # Anyone can mail the bounce mailbox: a report must quote one of our emails to that address.
    mailbox("arf-complaint.eml", RECIPIENT=victim.email, MESSAGE_ID="<made-up@example.org>")
    mailbox("outlook-sender-not-authenticated.eml", RECIPIENT=victim.email, MESSAGE_ID="")
    settings.BOUNCE_MAILBOX_URL = (
        f"imap://{mailbox.user}:{MailboxServer.PASSWORD}@127.0.0.1:{mailbox_server.imap_port}/"
    )
    outcome = bounces.read_mailbox()
    assert (outcome.unmatched, outcome.suppressed, outcome.sender_refusals) == (2, 0, 0)
    victim.refresh_from_db()
    campaign.refresh_from_db()
    assert victim.suppressed_at is None and campaign.status == "sending"


def test_a_message_that_cannot_be_read_does_not_stop_the_others(mailbox, mailbox_server, settings):
    gone = SubscriberFactory(email="gone@example.net")
    _, ids = sent_campaign(gone)
    broken = (
        (MESSAGES / "postfix-hard-bounce.eml")
        .read_bytes()
        .replace(
            b"Content-Type: text/rfc822-headers",
            b"Content-Type: text/rfc822-headers; charset=x-bogus",
        )
    )
    mailbox("broken", raw=broken, RECIPIENT="someone@example.net", MESSAGE_ID="<a@b>")
    mailbox("postfix-hard-bounce.eml", RECIPIENT=gone.email, MESSAGE_ID=ids[gone.email])
    settings.BOUNCE_MAILBOX_URL = (
        f"imap://{mailbox.user}:{MailboxServer.PASSWORD}@127.0.0.1:{mailbox_server.imap_port}/"
    )
    outcome = bounces.read_mailbox()
    assert (outcome.unreadable, outcome.suppressed) == (1, 1)
    gone.refresh_from_db()
    assert gone.suppression_reason == "hard bounce"
