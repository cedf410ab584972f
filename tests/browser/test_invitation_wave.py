"""From waitlist to patient, as the operator and a person do it, on the configuration this run
of the suite is on (`dev.py`'s site under honcho: SQLite and the file outbox, or PostgreSQL,
Redis and SMTP): the operator opens Texas and sends a wave of five invitations; the first five
Texans get theirs, one accepts it, the wave's page counts it, and the clinic's receiver gets a
signed webhook."""

import datetime as dt
import subprocess
import sys

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

import dev
from tests.browser.test_launch_end_to_end import sign_in, site_env, started, wait_for_mail
from tests.hookreceiver import Receiver
from tests.processes import wait_until

pytestmark = pytest.mark.browser

SECRET = "whsec-browser-test"
SUBJECT = "Your invitation: Halftime Health is open in Texas"
# 30 confirmed people, one a minute, alternately in Texas and Oklahoma; a Texan receiver.
PEOPLE = """
import datetime as dt
from django.utils import timezone
from tests.factories import SubscriberFactory
from waitlist.models import WebhookEndpoint
start = timezone.now() - dt.timedelta(days=10)
for n in range(30):
    state = "TX" if n % 2 == 0 else "OK"
    SubscriberFactory(email=f"{state.lower()}{n:02}@example.com", state=state,
                      confirmed_at=start + dt.timedelta(minutes=n))
WebhookEndpoint.objects.create(url="{url}", secret="{secret}", events=["invitation.activated"])
"""


@pytest.fixture
def site(tmp_path, smtp_sink, capfd):
    """A fresh site, as `dev.py run` starts it; with its environment, for `shell`."""
    env, mailbox = site_env(tmp_path, smtp_sink)
    with started(env, capfd):
        yield env, mailbox


def shell(env: dict, code: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=dev.ROOT, env=env, check=True
    )


def test_a_wave_invites_the_first_five_texans_and_one_accepts(site, browser: Browser):
    env, mailbox = site
    url = env["SITE_URL"]
    receiver = Receiver(SECRET).start()
    try:
        shell(env, PEOPLE.replace("{url}", receiver.url).replace("{secret}", SECRET))
        operator = browser.new_page()
        sign_in(operator, url)

        operator.goto(f"{url}/admin/waitlist/openstate/add/")
        operator.select_option("#id_state", "TX")
        operator.fill("#id_opened_on", f"{timezone.localdate():%Y-%m-%d}")
        operator.get_by_role("button", name="Save", exact=True).click()
        expect(operator.locator(".messagelist")).to_contain_text("was added successfully")

        operator.goto(f"{url}/admin/waitlist/campaign/")
        operator.get_by_role("link", name="Add invitation wave").click()
        operator.fill("#id_name", "Texas, first wave")
        operator.fill("#id_subject", SUBJECT)
        operator.select_option("#id_audience_states", ["TX"])
        operator.fill("#id_invite_capacity", "5")
        operator.select_option("#id_invite_order", "place")
        soon = timezone.localtime() + dt.timedelta(seconds=20)
        operator.fill("#id_send_at_0", f"{soon:%Y-%m-%d}")
        operator.fill("#id_send_at_1", f"{soon:%H:%M:%S}")
        operator.get_by_role("button", name="Save and continue editing").click()
        operator.get_by_role("button", name="Send the test").click()
        expect(operator.locator(".messagelist")).to_contain_text("Test sent to")
        operator.get_by_role("link", name="Schedule for the send time…").click()
        operator.get_by_role("button", name="Yes, schedule it").click()
        expect(operator.locator(".messagelist")).to_contain_text("Scheduled for")

        invitations = wait_for_mail(mailbox, lambda m: m.message["Subject"] == SUBJECT, count=5)
        first_texans = [f"tx{n:02}@example.com" for n in range(0, 10, 2)]
        assert sorted(m.to for m in invitations) == first_texans
        assert not any(m.to.startswith("ok") for m in mailbox.messages()), "nobody outside TX"

        person = browser.new_page()
        link = next(m for m in invitations if m.to == "tx04@example.com")
        start = link.text[link.text.index(f"{url}/start/") :].split()[0]
        person.goto(start)
        expect(person.get_by_role("heading", level=1)).to_have_text("You’re invited")
        person.get_by_role("button", name="Accept my invitation").click()
        expect(person.get_by_role("heading", level=1)).to_have_text("You’re in")

        wait_until(lambda: receiver.events, timeout=60, message="no webhook reached the clinic")
        [request] = receiver.requests
        assert request.signed, "the receiver's own signature check passes"
        event = request.event
        assert event["type"] == "invitation.activated"
        assert event["data"]["subscriber"]["email"] == "tx04@example.com"

        person.goto(start)
        expect(person.get_by_role("heading", level=1)).to_have_text(
            "This invitation was already used"
        )

        # The campaign's own tab loads itself again as its status moves on; a second tab
        # reads the wave's page as an operator opening it now would.
        wave = browser.new_page()
        sign_in(wave, url)
        wave.goto(operator.url)
        figures = wave.locator(".wave-invitations")
        expect(figures.locator('[data-invitations="total"]')).to_have_text("5")
        expect(figures.locator('[data-invitations="activated"]')).to_have_text("1")
    finally:
        receiver.stop()
