"""A campaign's lifecycle: declared once on the model, changed only by its transitions, each
recorded, each refused with its reason where it is not possible, and safe against a worker
moving the same row."""

import ast
import datetime as dt
import shutil
from pathlib import Path

import pytest
from django.utils import timezone
from django_fsm_log.models import StateLog

from tests.conftest import run_lanes
from tests.factories import CampaignFactory, StaffFactory, SubscriberFactory
from waitlist.campaigns import actions, lifecycle
from waitlist.campaigns.lifecycle import CampaignError
from waitlist.models import Campaign, Delivery

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
S = Campaign.Status

# Every transition, from each state it may leave, to the state it reaches.
LEGAL = {
    ("schedule", S.DRAFT): S.SCHEDULED,
    ("send_now", S.DRAFT): S.SCHEDULED,
    ("unschedule", S.SCHEDULED): S.DRAFT,
    ("start", S.SCHEDULED): S.SENDING,
    ("pause", S.SENDING): S.PAUSED,
    ("resume", S.PAUSED): S.SENDING,
    ("finish", S.SENDING): S.SENT,
    ("cancel", S.SCHEDULED): S.CANCELLED,
    ("cancel", S.SENDING): S.CANCELLED,
    ("cancel", S.PAUSED): S.CANCELLED,
    ("retry_failed", S.SENDING): S.SENDING,
    ("retry_failed", S.PAUSED): S.PAUSED,
    ("retry_failed", S.SENT): S.SENDING,
}
NAMES = sorted({name for name, _ in LEGAL})
ARGUMENTS = {"send_now": {"now"}, "start": {"now"}, "finish": {"now"}, "cancel": {"now"}}


def arguments(name: str) -> dict:
    given = {key: timezone.now() for key in ARGUMENTS.get(name, ())}
    return {**given, "rows_from": 1} if name == "start" else given


def in_state(status: str) -> Campaign:
    campaign = CampaignFactory(status=status)
    if status in (S.SENDING, S.PAUSED, S.SENT):
        # Something failed, so Retry failed has what it needs.
        Delivery.objects.create(campaign=campaign, subscriber=SubscriberFactory(), status="failed")
    return campaign


def test_the_lifecycle_declared_on_the_model_is_the_one_tested_here():
    field = Campaign._meta.get_field("status")
    declared = {(each.name, each.source) for each in field.get_all_transitions(Campaign)}
    assert declared == set(LEGAL)


@pytest.mark.parametrize(("name", "source"), sorted(LEGAL))
def test_each_transition_moves_the_campaign_and_is_recorded_with_who_and_why(name, source):
    operator = StaffFactory(is_superuser=True)
    campaign = in_state(source)
    lifecycle.move(campaign, name, by=operator, why="Because.", **arguments(name))
    campaign.refresh_from_db()
    assert campaign.status == LEGAL[name, source]
    (entry,) = StateLog.objects.for_(campaign)
    assert (entry.transition, entry.source_state, entry.state) == (
        name, source, LEGAL[name, source],
    )  # fmt: skip
    assert (entry.by, entry.description) == (operator, "Because.")
    assert timezone.now() - entry.timestamp < dt.timedelta(seconds=5)


ILLEGAL = [(name, status) for name in NAMES for status in S.values if (name, status) not in LEGAL]


@pytest.mark.parametrize(("name", "status"), ILLEGAL)
def test_each_transition_not_possible_in_a_state_is_refused_with_its_reason(name, status):
    campaign = in_state(status)
    with pytest.raises(CampaignError) as refused:
        lifecycle.move(campaign, name, **arguments(name))
    assert str(refused.value) == lifecycle.refusal(campaign, name)
    campaign.refresh_from_db()
    assert campaign.status == status
    assert not StateLog.objects.for_(campaign).exists()


@pytest.mark.parametrize(
    ("name", "status", "reason"),
    [
        ("unschedule", S.SENDING, "It has started sending: pause it instead."),
        ("pause", S.SCHEDULED, "It has not started sending: take it back to draft."),
        ("resume", S.SENT, "It has finished sending."),
        ("retry_failed", S.CANCELLED, "It was cancelled: nothing more goes out"),
        ("cancel", S.DRAFT, "A draft sends nothing: there is nothing to cancel."),
    ],
)
def test_a_refusal_says_what_to_do_instead(name, status, reason):
    with pytest.raises(CampaignError, match=reason):
        lifecycle.move(in_state(status), name, **arguments(name))


def test_a_transition_on_a_row_that_moved_meanwhile_is_refused_and_says_so():
    seen_by_the_operator = CampaignFactory(status=S.SCHEDULED, send_at=timezone.now())
    dispatcher_s = Campaign.objects.get(pk=seen_by_the_operator.pk)
    lifecycle.move(dispatcher_s, "start", now=timezone.now(), rows_from=1)
    with pytest.raises(CampaignError, match="It has started sending: pause it instead."):
        lifecycle.move(seen_by_the_operator, "unschedule")
    assert Campaign.objects.get(pk=seen_by_the_operator.pk).status == S.SENDING
    assert [entry.transition for entry in StateLog.objects.all()] == ["start"]


def test_a_person_without_the_send_permission_is_refused():
    campaign = in_state(S.SENDING)
    with pytest.raises(CampaignError, match="send campaigns"):
        lifecycle.move(campaign, "pause", by=StaffFactory())
    assert Campaign.objects.get(pk=campaign.pk).status == S.SENDING


def test_the_status_cannot_be_written_by_hand():
    campaign = CampaignFactory()
    with pytest.raises(AttributeError, match="Direct status modification is not allowed"):
        campaign.status = S.SENT


@pytest.mark.parametrize(
    ("status", "offered"),
    [
        (S.DRAFT, ["schedule", "send_now"]),
        (S.SCHEDULED, ["unschedule", "cancel"]),
        (S.SENDING, ["pause", "cancel", "retry_failed"]),
        (S.PAUSED, ["resume", "cancel", "retry_failed"]),
        (S.SENT, ["retry_failed"]),
        (S.CANCELLED, []),
    ],
)
def test_what_is_offered_is_what_the_state_allows(status, offered):
    names = [
        step["name"]
        for step in lifecycle.offered(in_state(status), StaffFactory(is_superuser=True))
    ]
    assert sorted(names) == sorted(offered)


def test_nothing_is_offered_to_a_person_who_may_not_send():
    assert lifecycle.offered(in_state(S.SENDING), StaffFactory()) == []


def test_retry_failed_is_not_offered_when_nothing_failed():
    campaign = CampaignFactory(status=S.SENT)
    assert lifecycle.offered(campaign, StaffFactory(is_superuser=True)) == []
    with pytest.raises(CampaignError, match="No message has failed."):
        actions.retry_failed(campaign)


# --- Retry failed, in every state where it is offered ----------------------------------------


def failed_campaign(status: str) -> tuple[Campaign, Delivery]:
    campaign = CampaignFactory(status=status)
    row = Delivery.objects.create(
        campaign=campaign, subscriber=SubscriberFactory(), status="failed", attempts=5
    )
    return campaign, row


@pytest.mark.parametrize(
    ("status", "after"), [(S.SENDING, S.SENDING), (S.PAUSED, S.PAUSED), (S.SENT, S.SENDING)]
)
def test_retry_failed_queues_the_rows_and_the_campaign_sends_them(status, after, mail, settings):
    settings.CAMPAIGN_RATE_PER_SECOND = 1000
    campaign, row = failed_campaign(status)
    assert actions.retry_failed(campaign) == 1
    row.refresh_from_db()
    campaign.refresh_from_db()
    assert (row.status, row.attempts, campaign.status) == ("queued", 0, after)
    if after == S.PAUSED:
        actions.resume(campaign)
    run_lanes(campaign)
    row.refresh_from_db()
    assert row.status == "sent" and len(mail.messages) == 1


def test_retry_failed_on_a_cancelled_campaign_is_refused_and_its_rows_stay_failed():
    campaign, row = failed_campaign(S.CANCELLED)
    assert lifecycle.offered(campaign, StaffFactory(is_superuser=True)) == []
    with pytest.raises(CampaignError, match="It was cancelled"):
        actions.retry_failed(campaign)
    row.refresh_from_db()
    assert row.status == "failed"


# --- the only writer --------------------------------------------------------------------------


def status_writes(root: Path) -> list[str]:
    """Every `.update(status=…)` and every SQL text that sets a status, outside the models."""
    found = []
    for app in ("halftime", "articles", "waitlist"):
        for path in sorted((root / app).rglob("*.py")):
            relative = path.relative_to(root)
            if "migrations" in path.parts or path.name == "models.py" or "models" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                writes = (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "attr", "") == "update"
                    and any(keyword.arg == "status" for keyword in node.keywords)
                ) or (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and "set status" in node.value.lower()
                )
                if writes:
                    found.append(f"{relative}:{node.lineno}")
    return found


def test_no_status_is_written_outside_the_models():
    assert status_writes(ROOT) == []


def test_a_status_written_outside_the_models_is_found(tmp_path):
    for app in ("halftime", "articles", "waitlist"):
        shutil.copytree(ROOT / app, tmp_path / app)
    with (tmp_path / "waitlist" / "views.py").open("a") as source:
        source.write("\n\ndef later():\n    Campaign.objects.update(status='sent')\n")
    (breach,) = status_writes(tmp_path)
    assert breach.startswith("waitlist/views.py:")


# --- the time it leaves -------------------------------------------------------------------------


def ready(**fields) -> Campaign:
    SubscriberFactory()
    campaign = CampaignFactory(**fields)
    campaign.tested_version = campaign.seen_version()
    Campaign.objects.filter(pk=campaign.pk).update(tested_version=campaign.tested_version)
    return campaign


def test_a_send_time_that_has_passed_is_not_scheduled(staff_client):
    campaign = ready(send_at=timezone.now() - dt.timedelta(days=3))
    with pytest.raises(CampaignError, match="This time has passed: send it now instead"):
        actions.schedule(campaign)
    assert Campaign.objects.get(pk=campaign.pk).status == S.DRAFT
    page = staff_client.get(f"/admin/waitlist/campaign/{campaign.pk}/confirm/schedule/")
    text = page.content.decode()
    assert "This time has passed: send it now?" in text
    assert f"/admin/waitlist/campaign/{campaign.pk}/confirm/send_now/" in text
    assert 'name="confirmation"' not in text


def test_a_send_time_more_than_30_days_ahead_is_pointed_out(staff_client):
    campaign = ready(send_at=timezone.now() + dt.timedelta(days=45))
    page = staff_client.get(f"/admin/waitlist/campaign/{campaign.pk}/confirm/schedule/")
    text = page.content.decode()
    assert "That is 44 days from now, more than 30: check the date." in text
    assert 'name="confirmation"' in text


def test_the_campaign_page_lists_each_transition_with_who_and_when(staff_client):
    operator = StaffFactory(username="ops", is_superuser=True)
    campaign = ready(send_at=timezone.now() + dt.timedelta(days=1))
    actions.schedule(campaign, by=operator)
    actions.unschedule(campaign, by=operator, why="Taken back to draft.")
    page = staff_client.get(f"/admin/waitlist/campaign/{campaign.pk}/change/").content.decode()
    table = page.split('id="transitions-heading"')[1]
    assert table.count("<td>ops</td>") == 2
    assert "<td>Draft</td><td>Scheduled</td>" in table
    assert "<td>Scheduled</td><td>Draft</td><td>Taken back to draft.</td>" in table
