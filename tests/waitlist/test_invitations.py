"""Invitations by state: whom a wave invites, the start page's single-use link, and the
invitations' lifetimes (in one process, sending over SMTP to the test sink)."""

import csv
import datetime as dt
import re

import pytest
from django.utils import timezone
from django_fsm_log.models import StateLog

from tests.conftest import join, run_lanes
from tests.factories import CampaignFactory, SubscriberFactory
from waitlist.campaigns import dispatch
from waitlist.invites import start, sweep
from waitlist.models import AccessCode, Campaign, Delivery, Invitation, OpenState
from waitlist.people import outbox, privacy, tokens
from waitlist.tasks import recount_dashboard

pytestmark = [pytest.mark.django_db]

START = timezone.now() - dt.timedelta(days=30)


def person(n: int, state: str = "TX", **fields):
    """The nth person to confirm."""
    return SubscriberFactory(
        email=f"{state.lower()}{n}@example.com", state=state,
        confirmed_at=START + dt.timedelta(minutes=n), **fields,
    )  # fmt: skip


def wave(**fields) -> Campaign:
    defaults = {
        "kind": Campaign.Kind.INVITATION,
        "name": "Texas, first wave",
        "subject": "Your invitation to Halftime Health",
        "body": "We're open in Texas, and your place has come up.",
        "invite_capacity": 5,
        "audience_states": ["TX"],
        "in_archive": False,
        "status": Campaign.Status.SCHEDULED,
        "send_at": timezone.now() - dt.timedelta(minutes=1),
    }
    return CampaignFactory(**{**defaults, **fields})


@pytest.fixture
def texas():
    return OpenState.objects.create(state="TX", opened_on=timezone.localdate())


def invited(campaign: Campaign) -> list[str]:
    rows = Invitation.objects.filter(campaign=campaign, status=Invitation.Status.INVITED)
    return sorted(rows.values_list("subscriber__email", flat=True))


def start_link(message) -> str:
    return re.search(r"https?://\S+/start/(\S+?)/", message.text).group(1)


def test_a_wave_invites_the_first_people_of_open_states_in_place_order(texas, mail):
    people = [person(n, "TX" if n % 2 else "OK") for n in range(1, 21)]
    OpenState.objects.create(state="OK", opened_on=timezone.localdate() + dt.timedelta(days=3))
    campaign = wave(audience_states=[])  # every open state: Oklahoma opens in three days

    dispatch.dispatch()
    first_texans = [p.email for p in people if p.state == "TX"][:5]
    assert invited(campaign) == sorted(first_texans)
    run_lanes(campaign)
    assert sorted(m.envelope_to[0] for m in mail.messages) == sorted(first_texans)
    assert all("/start/" in m.text and "Accept your invitation" in m.html for m in mail.messages)
    assert not Invitation.objects.filter(subscriber__state="OK").exists()
    log = StateLog.objects.filter(transition="invite", state="invited")
    assert log.count() == 5 and {entry.source_state for entry in log} == {"waiting"}


def test_referrals_move_a_person_up_as_their_place_does(texas, settings):
    settings.REFERRAL_PLACES = 3
    people = [person(n) for n in range(1, 11)]
    # The 9th gets two credited referrals: 9 − 2 × 3 = place 3.
    for n in (1, 2):
        SubscriberFactory(state="CA", referred_by=people[8], referral_credited=True,
                          email=f"friend{n}@example.com")  # fmt: skip
    assert people[8].position() == 3
    by_place = wave(invite_capacity=4)
    dispatch.dispatch()
    assert invited(by_place) == sorted(p.email for p in [people[0], people[1], people[8],
                                                          people[2]])  # fmt: skip


def test_referrals_first_puts_the_most_referrals_ahead(texas):
    people = [person(n) for n in range(1, 6)]
    SubscriberFactory(state="CA", referred_by=people[4], referral_credited=True)
    campaign = wave(invite_capacity=2, invite_order=Campaign.Order.REFERRALS)
    dispatch.dispatch()
    assert invited(campaign) == sorted([people[4].email, people[0].email])


def test_nobody_is_invited_twice_and_a_declined_person_never_again(texas):
    people = [person(n) for n in range(1, 7)]
    first = wave(invite_capacity=2)
    dispatch.dispatch()
    assert invited(first) == sorted(p.email for p in people[:2])
    Invitation.objects.filter(pk=people[0].pk).update(status="declined")
    second = wave(invite_capacity=2, name="Texas, second wave")
    dispatch.dispatch()
    assert invited(second) == sorted(p.email for p in people[2:4])


def test_the_fast_path_writes_what_each_transition_writes(texas):
    one, other = person(1), person(2)
    now = timezone.now()
    campaign = wave()
    plain = Invitation(subscriber=one)
    plain.invite(now=now, days=9, campaign=campaign, description="Invited by the wave.")
    plain.save()
    Invitation.objects.invite_many([other.pk], now=now, days=9, campaign=campaign,
                                   description="Invited by the wave.")  # fmt: skip
    fields = ["status", "campaign_id", "lifetime_days", "invited_at", "expires_at",
              "activated_at", "ended_at"]  # fmt: skip
    rows = {row.pk: row for row in Invitation.objects.all()}
    assert [getattr(rows[one.pk], f) for f in fields] == [
        getattr(rows[other.pk], f) for f in fields
    ]
    assert rows[one.pk].nonce != rows[other.pk].nonce
    logged = ["source_state", "state", "transition", "by_id", "description", "content_type_id"]
    entries = {entry.object_id: entry for entry in StateLog.objects.all()}
    assert [getattr(entries[one.pk], f) for f in logged] == [
        getattr(entries[other.pk], f) for f in logged
    ]

    for row in rows.values():
        Invitation.objects.filter(pk=row.pk).update(expires_at=now)
    plain = Invitation.objects.get(pk=one.pk)
    plain.expire(now=now, description="Its lifetime passed unused.")
    plain.save()
    Invitation.objects.filter(pk=other.pk).expire_many(
        now=now, description="Its lifetime passed unused."
    )
    rows = {row.pk: row for row in Invitation.objects.all()}
    assert [getattr(rows[one.pk], f) for f in fields] == [
        getattr(rows[other.pk], f) for f in fields
    ]
    expired = {e.object_id: e for e in StateLog.objects.filter(transition="expire")}
    assert [getattr(expired[one.pk], f) for f in logged] == [
        getattr(expired[other.pk], f) for f in logged
    ]


def sent_invitation(mail, texas) -> tuple[Campaign, str]:
    person(1)
    campaign = wave(invite_capacity=1)
    dispatch.dispatch()
    run_lanes(campaign)
    return campaign, start_link(mail.messages[0])


def test_the_link_is_accepted_once(texas, mail, client):
    _, code = sent_invitation(mail, texas)
    page = client.get(f"/start/{code}/")
    assert page.status_code == 200 and "You’re invited" in page.text
    assert "t•••@example.com" in page.text, "the address, masked, so a forwarded link shows"
    assert Invitation.objects.get().status == "invited", "a GET (a mail scanner) accepts nothing"
    accepted = client.post(f"/start/{code}/", {"action": "activate"})
    assert accepted.status_code == 200 and "You’re in" in accepted.text
    invitation = Invitation.objects.get()
    assert invitation.status == "activated" and invitation.activated_at
    exported = privacy.export_data(subscriber_id=invitation.pk)["invitation"]
    assert exported["status"] == "activated"
    assert [(step["from"], step["to"]) for step in exported["history"]] == [
        ("waiting", "invited"), ("invited", "activated"),
    ]  # fmt: skip
    again = client.post(f"/start/{code}/", {"action": "activate"})
    assert again.status_code == 410 and "already used" in again.text
    assert "already used" in client.get(f"/start/{code}/").text


def test_the_clinic_s_sign_up_takes_over_when_it_is_set(texas, mail, client, settings):
    settings.CLINIC_SIGNUP_URL = "https://clinic.example.org/join?from=waitlist"
    _, code = sent_invitation(mail, texas)
    accepted = client.post(f"/start/{code}/", {"action": "activate"})
    assert accepted.status_code == 302
    assert accepted["Location"] == "https://clinic.example.org/join?from=waitlist"


def test_declining_frees_the_place(texas, mail, client):
    _, code = sent_invitation(mail, texas)
    declined = client.post(f"/start/{code}/", {"action": "decline"})
    assert declined.status_code == 200 and "Invitation declined" in declined.text
    assert Invitation.objects.get().status == "declined"
    assert "was declined" in client.post(f"/start/{code}/", {"action": "activate"}).text


def test_an_altered_an_older_or_an_erased_person_s_link_does_not_work(texas, mail, client):
    campaign, code = sent_invitation(mail, texas)
    assert client.get(f"/start/{code[:-2]}xx/").status_code == 400
    assert client.get("/start/not-a-code/").status_code == 400
    invitation = Invitation.objects.get()
    forged = tokens.make_token(tokens.START, key=invitation.subscriber.token_key, nonce="0" * 12)
    assert "doesn’t work" in client.get(f"/start/{forged}/").text
    privacy.erase(subscriber_id=invitation.pk)
    assert client.post(f"/start/{code}/", {"action": "activate"}).status_code == 400
    assert Invitation.objects.get().status == "invited"


def test_an_invitation_lives_from_its_email_and_then_expires(texas, mail, client):
    campaign, code = sent_invitation(mail, texas)
    invitation = Invitation.objects.get()
    assert invitation.expires_at is None
    assert sweep.tend() == {"started": 1, "unsent": 0, "expired": 0, "by_code": 0}
    sent_at = Delivery.objects.get().sent_at
    invitation.refresh_from_db()
    assert invitation.expires_at == sent_at + dt.timedelta(days=14)

    later = invitation.expires_at + dt.timedelta(seconds=1)
    assert sweep.tend(later) == {"started": 0, "unsent": 0, "expired": 1, "by_code": 0}
    assert Invitation.objects.get().status == "expired"
    assert "has expired" in client.get(f"/start/{code}/").text
    # An expired invitation may come again, with a new link; the old one stays dead.
    again = wave(invite_capacity=1, name="Texas, again")
    dispatch.dispatch()
    assert invited(again) == ["tx1@example.com"]
    assert client.get(f"/start/{code}/").status_code == 400


def test_a_cancelled_wave_s_unsent_invitations_end(texas):
    person(1)
    campaign = wave(invite_capacity=1)
    dispatch.dispatch()
    Campaign.objects.filter(pk=campaign.pk).update(status="cancelled")
    assert sweep.tend()["unsent"] == 1
    assert Invitation.objects.get().status == "expired"


def test_start_look_up_refuses_with_the_reason(texas, mail):
    _, code = sent_invitation(mail, texas)
    start.activate(code)
    with pytest.raises(start.CodeRefused) as refused:
        start.activate(code)
    assert refused.value.reason == "used"


def test_the_person_s_page_and_the_dashboard_show_the_invitation(texas, mail, client, staff_client):
    _, code = sent_invitation(mail, texas)
    client.post(f"/start/{code}/", {"action": "activate"})
    invitation = Invitation.objects.get()
    page = staff_client.get(f"/admin/waitlist/subscriber/{invitation.pk}/change/")
    history = re.sub(r"\s+", " ", page.text)
    assert "waiting → invited. Invited by the wave “Texas, first wave”." in history
    assert "invited → activated. The person used their code." in history
    recount_dashboard()
    dashboard = staff_client.get("/admin/waitlist/subscriber/dashboard/?csv=invitations")
    rows = list(csv.reader(dashboard.content.decode().splitlines()))
    assert rows[0][3:] == ["Invited, not yet used", "Activated", "Expired", "Declined"]
    assert rows[1][0] == "Texas" and rows[1][2:] == ["1", "0", "1", "0", "0"]


# --- codes many people may use ---------------------------------------------------------------


def access_code(**fields) -> AccessCode:
    defaults = {"code": "ACME-CLINIC", "label": "Acme clinic's patients", "limit": 2,
                "expires_at": timezone.now() + dt.timedelta(days=30)}  # fmt: skip
    return AccessCode.objects.create(**{**defaults, **fields})


def confirm_link(message) -> str:
    return re.search(r"/waitlist/confirm/[^/\s]+/", message.text).group(0)


def test_a_code_lets_in_a_new_person_once_they_confirm(texas, mail, client):
    code = access_code()
    page = client.get("/start/acme-clinic/")
    assert page.status_code == 200 and "ACME-CLINIC" in page.text
    assert 'name="code" value="ACME-CLINIC"' in page.text
    join(client, "new.patient@example.com", state="TX", code="ACME-CLINIC")
    assert sweep.tend()["by_code"] == 0, "not before they confirm their address"
    outbox.send_due()
    client.post(confirm_link(mail.to("new.patient@example.com")[0]))
    assert sweep.tend()["by_code"] == 1
    outbox.send_due()
    subjects = {m.message["Subject"]: m for m in mail.to("new.patient@example.com")}
    invitation_email = subjects["Your invitation to Halftime Health"]
    accepted = client.post(f"/start/{start_link(invitation_email)}/", {"action": "activate"})
    assert "You’re in" in accepted.text
    invitation = Invitation.objects.get(subscriber__email="new.patient@example.com")
    assert invitation.status == "activated" and invitation.access_code == code
    code.refresh_from_db()
    assert code.used == 1
    assert sweep.tend()["by_code"] == 0, "one use a person"


def test_a_code_invites_up_to_its_limit_and_only_in_open_states(texas, mail, client):
    access_code(limit=2)
    people = [person(n) for n in range(1, 4)] + [person(9, "OK")]
    for each in people:
        join(client, each.email, state=each.state, code="ACME-CLINIC")
    assert sweep.tend()["by_code"] == 2, "the limit"
    assert Invitation.objects.filter(status="invited").count() == 2
    assert not Invitation.objects.filter(subscriber__state="OK", status="invited").exists()
    assert AccessCode.objects.get().used == 2
    assert client.get("/start/ACME-CLINIC/").status_code == 410
    assert "no longer taking people" in client.get("/start/ACME-CLINIC/").text


def test_an_unknown_expired_or_withdrawn_code_says_so(texas, client):
    assert "We don’t know this code" in client.get("/start/NOPE-123/").text
    for odd in ("%00", "AC%00ME", "ACME%20CLINIC", "%C3%A9t%C3%A9", "-ACME"):
        page = client.get(f"/start/{odd}/")
        assert page.status_code == 400 and "We don’t know this code" in page.text
    code = access_code(expires_at=timezone.now() - dt.timedelta(minutes=1))
    assert "This code has expired" in client.get("/start/ACME-CLINIC/").text
    code.expires_at, code.active = timezone.now() + dt.timedelta(days=1), False
    code.save()
    page = client.get("/start/ACME-CLINIC/")
    assert page.status_code == 410 and "It was withdrawn" in page.text


def test_someone_already_invited_keeps_their_invitation(texas, mail, client):
    access_code()
    _, link = sent_invitation(mail, texas)
    invitation = Invitation.objects.get()
    join(client, invitation.subscriber.email, state="TX", code="ACME-CLINIC")
    assert sweep.tend()["by_code"] == 0 and AccessCode.objects.get().used == 0
    assert Invitation.objects.get().access_code is None


def test_a_wave_s_page_counts_its_invitations_and_has_no_public_page(texas, mail, staff_client):
    campaign, code = sent_invitation(mail, texas)
    Campaign.objects.filter(pk=campaign.pk).update(status="sent")
    page = staff_client.get(f"/admin/waitlist/campaign/{campaign.pk}/change/").text
    figures = dict(re.findall(r'data-invitations="(\w+)">(\d+)<', page))
    assert figures == {"total": "1", "activated": "0", "open": "1", "expired": "0", "declined": "0"}
    assert "View on site" not in page
    progress = staff_client.get(f"/admin/waitlist/campaign/{campaign.pk}/progress/").json()
    assert 'data-invitations="open">1<' in progress["invitations_html"]
