"""The whole launch, as people do it, on the configuration this run of the suite is on: the
embedded default on SQLite (what `python3 dev.py run` starts: SQLite, the file broker, the file
outbox), production on PostgreSQL (PostgreSQL, Redis, SMTP).

`dev.py`'s own set-up steps prepare a fresh site and the Procfile's processes (web, worker, beat)
run under honcho, as `dev.py run` starts them. Visitors join and confirm in a browser; the
operator signs in with the password the set-up printed, sends a test, schedules a campaign to a
segment; a mail provider's one-click unsubscribe POST takes one person out of the next one."""

import datetime as dt
import email
import email.policy
import os
import re
import sys
import urllib.error
import urllib.request
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

import dev
from tests.conftest import on_sqlite
from tests.mailsink import free_port
from tests.processes import Process, redis_database, wait_until

pytestmark = pytest.mark.browser

# What `secrets.token_urlsafe` makes once in 64 runs: it must not be read as a command option.
PASSWORD = "-mHcVo1okUZ1bTh3"
CONFIRM_PATH = re.compile(r"/waitlist/confirm/[^/\s]+/")
# The site's own database and Redis, named after this test run's so that two runs never share.
E2E_DATABASE = os.environ["DATABASE_URL"].rsplit("/", 1)[1] + "_e2e"
E2E_REDIS = redis_database(3)


@dataclass
class Received:
    to: str
    message: email.message.EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        return part.get_content() if part else ""


class Outbox:
    """Django's file backend: one file per connection, messages split by a line of dashes."""

    def __init__(self, folder: Path):
        self.folder = folder

    def messages(self) -> list[Received]:
        found = []
        for path in sorted(self.folder.glob("*.log")):
            for raw in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
                if raw.strip():
                    message = email.message_from_bytes(raw, policy=email.policy.default)
                    found.append(Received(message["To"], message))
        return found


class Sink:
    def __init__(self, smtp_sink):
        self.sink = smtp_sink

    def messages(self) -> list[Received]:
        return [Received(m.envelope_to[0], m.message) for m in self.sink.messages]


def production_env(smtp_sink) -> dict[str, str]:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as pg:
        pg.execute(f"DROP DATABASE IF EXISTS {E2E_DATABASE} WITH (FORCE)")
        pg.execute(f"CREATE DATABASE {E2E_DATABASE}")
    redis.Redis.from_url(E2E_REDIS).flushdb()
    smtp_sink.clear()
    return {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{E2E_DATABASE}",
        "REDIS_URL": E2E_REDIS,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_sink.port}",
    }


@pytest.fixture
def site(tmp_path, smtp_sink, capfd):
    """A fresh site prepared by `dev.py`'s steps and running the Procfile under honcho."""
    env, mailbox = site_env(tmp_path, smtp_sink)
    with started(env, capfd) as printed:
        yield env["SITE_URL"], mailbox, printed


def site_env(tmp_path, smtp_sink) -> tuple[dict, "Outbox | Sink"]:
    """What a new user's shell has, for a site of its own in `tmp_path`."""
    port = free_port()
    var = tmp_path / "var"
    var.mkdir()
    (var / "admin-password.txt").write_text(PASSWORD)
    # Nothing of the test session's own configuration, only what a new user's shell has.
    session = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "EMAIL_URL", "SECRET_KEY"}
    env = {k: v for k, v in os.environ.items() if k not in session | {"STATIC_MANIFEST"}}
    env.update(
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        VAR_DIR=str(var),
        STATIC_ROOT=str(tmp_path / "static"),
        PORT=str(port),
        BIND="127.0.0.1",
        SITE_URL=f"http://127.0.0.1:{port}",
        CAMPAIGN_DISPATCH_SECONDS="2",
        # gunicorn 27's control socket is one path per user: test servers must not share it.
        GUNICORN_CMD_ARGS="--no-control-socket",
    )
    if on_sqlite():
        mailbox = Outbox(var / "outbox")
    else:
        env.update(production_env(smtp_sink))
        mailbox = Sink(smtp_sink)
    return env, mailbox


@contextmanager
def started(env: dict, capfd):
    """`dev.py run`: its set-up steps, then the Procfile under honcho until the block ends.
    Yields what the set-up printed."""
    capfd.readouterr()
    dev.prepare(env)
    printed = capfd.readouterr().out
    honcho = Process(
        "honcho", [str(dev.BIN / "honcho"), "start", "-f", "Procfile"], env, inherit=False
    )
    try:
        wait_until(
            lambda: answers(f"{env['SITE_URL']}/healthz"),
            timeout=30,
            message=f"the site did not start:\n{honcho.output()}",
        )
        yield printed
    finally:
        honcho.stop(timeout=20)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_for_mail(mailbox, predicate, *, count: int, timeout: float = 60) -> list[Received]:
    def found():
        return [m for m in mailbox.messages() if predicate(m)]

    wait_until(lambda: len(found()) >= count, timeout=timeout, message=f"{found()} < {count}")
    return found()


def is_campaign(received: Received, campaign: str) -> bool:
    return received.message["Subject"] == campaign


def join(page: Page, url: str, address: str, state: str) -> None:
    page.goto(f"{url}/waitlist/")
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Use my interests to choose which updates I get.").check()
    page.get_by_label("Sleep").check()
    page.get_by_label("Your US state (optional)").select_option(state)
    page.get_by_role("button", name="Join the waitlist").click()
    expect(page.get_by_text("Check your inbox").first).to_be_visible()


def confirm(page: Page, url: str, received: Received) -> None:
    page.goto(url + CONFIRM_PATH.search(received.text).group(0))
    page.get_by_role("button", name="Yes, add me to the list").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You’re on the list")


def is_confirmation(received: Received) -> bool:
    return bool(CONFIRM_PATH.search(received.text))


def wait_until_sent(page: Page) -> None:
    """Watch the campaign's page, as the operator would, until it says Sent."""

    def sent() -> bool:
        page.reload()
        return page.locator(".field-status .readonly").inner_text().strip() == "Sent"

    wait_until(sent, timeout=120, message="the campaign did not finish")


def launch_campaign(page: Page, url: str, *, subject: str) -> None:
    """As an operator: write it for Texas, send a test to themselves, schedule it for a
    moment from now (a time that has passed is refused)."""
    page.goto(f"{url}/admin/waitlist/campaign/add/")
    page.fill("#id_name", subject)
    page.fill("#id_subject", subject)
    page.fill("#id_body", "## We're live\n\nBook your first visit.")
    page.select_option("#id_audience_states", ["TX"])
    soon = timezone.localtime() + dt.timedelta(seconds=20)
    page.fill("#id_send_at_0", f"{soon:%Y-%m-%d}")
    page.fill("#id_send_at_1", f"{soon:%H:%M:%S}")
    page.get_by_role("button", name="Save and continue editing").click()
    page.get_by_role("button", name="Send the test").click()
    expect(page.locator(".messagelist")).to_contain_text("Test sent to admin@localhost.")
    page.get_by_role("link", name="Schedule for the send time…").click()
    expect(page.locator(".campaign-facts")).to_contain_text("People in Texas:")
    page.get_by_role("button", name="Yes, schedule it").click()
    expect(page.locator(".messagelist")).to_contain_text("Scheduled for")


def test_join_confirm_and_a_scheduled_campaign_reaches_its_segment_once(site, browser: Browser):
    url, mailbox, printed = site
    assert f"password: {PASSWORD}" in printed and "email: admin@localhost" in printed
    visitor = browser.new_page()
    people = {
        "tx.one@example.com": "TX",
        "tx.two@example.com": "TX",
        "ca.one@example.com": "CA",
        "tx.never@example.com": "TX",  # never confirms
    }
    for address, state in people.items():
        join(visitor, url, address, state)
    confirmations = {m.to: m for m in wait_for_mail(mailbox, is_confirmation, count=len(people))}
    for address in ("tx.one@example.com", "tx.two@example.com", "ca.one@example.com"):
        confirm(visitor, url, confirmations[address])

    operator = browser.new_page()
    operator.goto(f"{url}/admin/")
    operator.fill("#id_username", "admin")
    operator.fill("#id_password", PASSWORD)
    operator.get_by_role("button", name="Log in").click()
    expect(operator.locator("#site-name")).to_be_visible()

    launch_campaign(operator, url, subject="Live in Texas")
    (test,) = wait_for_mail(
        mailbox, lambda m: m.message["Subject"] == "[Test] Live in Texas", count=1
    )
    assert test.to == "admin@localhost"
    wait_until_sent(operator)
    first = [m for m in mailbox.messages() if is_campaign(m, "Live in Texas")]
    assert Counter(m.to for m in first) == {"tx.one@example.com": 1, "tx.two@example.com": 1}

    leaving = next(m for m in first if m.to == "tx.one@example.com").message
    unsubscribe = re.search(r"<(http[^>]+)>", leaving["List-Unsubscribe"]).group(1)
    assert leaving["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    one_click = urllib.request.Request(
        unsubscribe, data=b"List-Unsubscribe=One-Click", method="POST"
    )
    with urllib.request.urlopen(one_click, timeout=10) as response:
        assert response.status == 200

    launch_campaign(operator, url, subject="Book in Texas")
    wait_until_sent(operator)
    second = [m.to for m in mailbox.messages() if is_campaign(m, "Book in Texas")]
    assert second == ["tx.two@example.com"]


def sign_in(page: Page, url: str) -> None:
    page.goto(f"{url}/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#site-name")).to_be_visible()


def test_a_restart_keeps_an_admin_edit_the_password_and_the_signed_in_session(
    tmp_path, smtp_sink, capfd, browser: Browser
):
    env, _ = site_env(tmp_path, smtp_sink)
    url = env["SITE_URL"]
    operator = browser.new_page()
    with started(env, capfd):
        sign_in(operator, url)
        operator.goto(f"{url}/admin/articles/article/")
        operator.get_by_role("link", name=re.compile("^Testosterone therapy and fertility")).click()
        operator.fill("#id_title", "Testosterone therapy and fertility, as our editor put it")
        # A change to what a published article says waits for a sign-off, or, from someone
        # who may, goes live as a minor edit with its reason.
        operator.get_by_role("button", name="Save and continue editing").first.click()
        expect(operator.locator(".messagelist")).to_have_text(
            "Saved. The live page keeps the signed-off text until a reviewer signs off this change."
        )
        operator.fill("#minor-reason", "A clearer title.")
        operator.get_by_role("button", name="Publish as a minor edit").click()
        expect(operator.locator(".messagelist")).to_have_text("Published as a minor edit.")

    with started(env, capfd) as printed:
        assert f"password: {PASSWORD}" in printed
        assert "kept the site's 4 article(s)" in printed
        operator.goto(f"{url}/admin/")
        expect(operator.locator("#site-name")).to_be_visible()  # still signed in
        operator.goto(f"{url}/learn/")
        expect(
            operator.get_by_text("Testosterone therapy and fertility, as our editor put it")
        ).to_be_visible()
        again = browser.new_page()
        sign_in(again, url)  # the same password as before the restart
