"""A silent stall is visible: when beat or the workers stop, admin says so and how to start them."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import CampaignFactory, StaffFactory, SubscriberFactory
from waitlist import tasks
from waitlist.models import Heartbeat, OutboundEmail

pytestmark = pytest.mark.django_db

STOPPED = "queue is not running"
START = "celery -A halftime beat"


@pytest.fixture
def editor() -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(StaffFactory())  # staff, with no waitlist permission
    return client


def run_the_periodic_tasks() -> None:
    """What beat and a worker do every half-minute."""
    tasks.sweep_outbox()
    tasks.dispatch_campaigns()


def silent_for(minutes: int) -> None:
    Heartbeat.objects.update(finished_at=timezone.now() - dt.timedelta(minutes=minutes))


def test_a_site_just_started_is_not_called_stalled(staff_client):
    CampaignFactory(
        name="Live", subject="Live", body="Hello", status="scheduled", send_at=timezone.now()
    )
    assert STOPPED not in staff_client.get("/admin/").content.decode()


def test_work_waiting_for_tasks_that_never_ran_is_told_on_the_admin_index(staff_client):
    a_while_ago = timezone.now() - dt.timedelta(minutes=5)
    CampaignFactory(
        name="Live", subject="Live", body="Hello", status="scheduled", send_at=a_while_ago
    )
    outbound = SubscriberFactory(status="pending", confirmed_at=None).emails.create(
        kind="confirmation"
    )
    page = staff_client.get("/admin/").content.decode()
    assert "Campaigns are not being sent: dispatch_campaigns has never run." in page
    assert "“default” queue is not running" in page
    assert "sweep_outbox" not in page, "nothing waits for the sweep"
    OutboundEmail.objects.filter(pk=outbound.pk).update(created_at=a_while_ago)
    page = staff_client.get("/admin/").content.decode()
    assert "wait in the outbox: sweep_outbox has never run." in page
    assert "“mail” queue is not running" in page
    assert START in page and "python3 dev.py run" in page


def test_while_the_periodic_tasks_run_admin_shows_no_warning(staff_client):
    run_the_periodic_tasks()
    assert STOPPED not in staff_client.get("/admin/").content.decode()
    silent_for(2)  # under the three minutes a stall may last before it is told
    assert STOPPED not in staff_client.get("/admin/").content.decode()


def test_a_stopped_beat_shows_the_warning_on_the_admin_index_and_the_campaign_pages(staff_client):
    run_the_periodic_tasks()
    silent_for(10)
    index = staff_client.get("/admin/").content.decode()
    assert "dispatch_campaigns last ran" in index and "(10 minutes ago)" in index
    assert "Campaigns are not being sent" in index
    assert START in index
    campaign = CampaignFactory(name="Live", subject="Live", body="Hello")
    for url in ("/admin/waitlist/campaign/", f"/admin/waitlist/campaign/{campaign.pk}/change/"):
        page = staff_client.get(url).content.decode()
        assert "dispatch_campaigns last ran" in page, url
        assert "sweep_outbox" not in page, "the campaign pages tell only what stops campaigns"


def test_a_worker_missing_only_from_the_mail_queue_is_named(staff_client):
    run_the_periodic_tasks()
    Heartbeat.objects.filter(task="sweep_outbox").update(
        finished_at=timezone.now() - dt.timedelta(minutes=30)
    )
    page = staff_client.get("/admin/").content.decode()
    assert "wait in the outbox: sweep_outbox last ran" in page
    assert "“mail” queue is not running" in page
    assert "dispatch_campaigns" not in page


def test_a_dispatcher_that_fails_writes_no_heartbeat(monkeypatch, staff_client):
    def broken(**kwargs):
        raise RuntimeError("the database refused the statement")

    monkeypatch.setattr(tasks.dispatch, "dispatch", broken)
    with pytest.raises(RuntimeError):
        tasks.dispatch_campaigns()
    assert not Heartbeat.objects.filter(task="dispatch_campaigns").exists()


def test_staff_who_do_not_run_campaigns_are_not_told(editor, staff_client):
    run_the_periodic_tasks()
    silent_for(10)
    assert STOPPED in staff_client.get("/admin/").content.decode()
    assert STOPPED not in editor.get("/admin/").content.decode()
