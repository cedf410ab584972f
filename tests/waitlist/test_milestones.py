"""Referral milestones operators define: reached once, announced by email through the real SMTP
sink, shown on the person's page and in admin, and a campaign's audience."""

import re
import threading

import pytest
from django.db import connections
from django.test import Client

from tests.conftest import run_lanes
from tests.factories import StaffFactory, SubscriberFactory
from waitlist.campaigns import dispatch
from waitlist.models import Campaign, Milestone, MilestoneReached, OutboundEmail, Subscriber
from waitlist.people import milestones, outbox, privacy, signup, tokens

pytestmark = pytest.mark.django_db

CONFIRM = re.compile(r"https?://\S+(/waitlist/confirm/[^/\s]+/)")
SUBJECT = "You reached a reward on the Halftime Health waitlist: Early access"


def early_access(referrals: int = 3) -> Milestone:
    return Milestone.objects.create(
        referrals=referrals,
        reward="Early access",
        details="We'll invite you to book a week before everyone else.",
    )


def friend_confirms(client, mail, referrer: Subscriber, email: str, ip: str) -> None:
    """A friend joins through the referrer's link and confirms from the emailed link."""
    client.post("/waitlist/", {"email": email, "ref": referrer.referral_code}, REMOTE_ADDR=ip)
    outbox.send_due()
    (confirmation,) = mail.to(email)
    client.post(CONFIRM.search(confirmation.text).group(1), REMOTE_ADDR=ip)
    outbox.send_due()


def rewards_mailed(mail, address: str) -> list:
    return [m for m in mail.to(address) if m.message["Subject"].startswith("You reached")]


def page_of(client, person: Subscriber) -> str:
    link = tokens.make_token(tokens.PREFERENCES, key=person.token_key)
    return client.get(f"/waitlist/welcome/{link}/").content.decode()


def test_the_third_confirmed_friend_brings_the_reward_and_its_email_once(client, mail):
    early_access(3)
    Milestone.objects.create(referrals=5, reward="A free first visit")
    SubscriberFactory.create_batch(9)  # nine people confirmed before
    referrer = SubscriberFactory(email="sharer@example.com", signup_ip="192.0.2.1")
    friend_confirms(client, mail, referrer, "one@example.org", "198.51.100.1")
    friend_confirms(client, mail, referrer, "two@example.org", "198.51.100.2")
    assert rewards_mailed(mail, "sharer@example.com") == []
    assert "1 more to go" in page_of(client, referrer)

    friend_confirms(client, mail, referrer, "three@example.org", "198.51.100.3")
    (reward,) = rewards_mailed(mail, "sharer@example.com")
    assert reward.message["Subject"] == SUBJECT
    for part in (reward.text, reward.html):
        assert "3 friends joined through your link and confirmed" in part
        assert "invite you to book a week before everyone else" in part.replace("&#x27;", "'")
        assert f"/waitlist/?ref={referrer.referral_code}" in part
        assert "5 confirmed referrals: " in part and "A free first visit" in part
    assert "We’ll invite you" in reward.text  # plain text (typeset), not HTML-escaped
    # 10th by confirming, 3 credited referrals: 10 − 9 = 1.
    assert "number 1 on the Halftime Health waitlist" in reward.text
    page = page_of(client, referrer)
    assert "3 confirmed referrals</strong>" in page
    assert re.search(r"Early access</strong>\s*<span class=\"milestone-state\">Reached", page)
    assert "2 more to go" in page  # the free first visit

    friend_confirms(client, mail, referrer, "four@example.org", "198.51.100.4")
    assert len(rewards_mailed(mail, "sharer@example.com")) == 1
    assert MilestoneReached.objects.get().subscriber == referrer


def test_referrals_that_did_not_count_bring_no_reward(client, mail):
    early_access(3)
    referrer = SubscriberFactory(email="sharer@example.com", signup_ip="192.0.2.1")
    for number in range(4):  # one connection: only two of them count
        friend_confirms(client, mail, referrer, f"sock{number}@example.org", "198.51.100.77")
    friend_confirms(client, mail, referrer, "sharer+2@example.com", "198.51.100.5")  # own mailbox
    assert referrer.credited_referrals() == 2
    assert rewards_mailed(mail, "sharer@example.com") == []
    assert not MilestoneReached.objects.exists()
    assert "1 more to go" in page_of(client, referrer)


def test_the_welcome_and_links_emails_name_the_rewards_on_offer(client, mail):
    early_access(3)
    client.post("/waitlist/", {"email": "new@example.org"}, REMOTE_ADDR="198.51.100.9")
    outbox.send_due()
    client.post(CONFIRM.search(mail.to("new@example.org")[0].text).group(1))
    outbox.send_due()
    welcome = mail.to("new@example.org")[1]
    assert "Rewards for friends who join through your link and confirm:" in welcome.text
    assert "- 3 confirmed referrals: Early access" in welcome.text
    assert "3 confirmed referrals: <strong>Early access</strong>" in welcome.html


@pytest.fixture
def operator() -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(StaffFactory(is_superuser=True))
    return client


def with_credited_referrals(count: int, **fields) -> Subscriber:
    person = SubscriberFactory(**fields)
    SubscriberFactory.create_batch(count, referred_by=person, referral_credited=True)
    return person


def test_an_operator_adding_a_milestone_awards_it_to_everyone_who_already_has_it(operator, mail):
    three = with_credited_referrals(3, email="three@example.com")
    four = with_credited_referrals(4, email="four@example.com")
    with_credited_referrals(2, email="two@example.com")
    with_credited_referrals(3, email="left@example.com", status="unsubscribed")
    form = operator.get("/admin/waitlist/milestone/add/").content.decode()
    assert "Whoever already has this many reaches it when you save" in form

    added = operator.post(
        "/admin/waitlist/milestone/add/",
        {"referrals": "3", "reward": "Early access", "details": "A week before everyone."},
        follow=True,
    )
    assert "2 people already had 3 confirmed referrals: they reached it now" in (
        added.content.decode()
    )
    outbox.send_due()
    assert [len(rewards_mailed(mail, p.email)) for p in (three, four)] == [1, 1]
    assert mail.to("two@example.com") == [] and mail.to("left@example.com") == []
    listing = operator.get("/admin/waitlist/milestone/").content.decode()
    assert re.search(r'field-people_reached">2<', listing)

    milestone = Milestone.objects.get()
    edited = operator.post(
        f"/admin/waitlist/milestone/{milestone.pk}/change/",
        {"referrals": "3", "reward": "Early access", "details": "Two weeks before everyone."},
        follow=True,
    )
    assert edited.status_code == 200 and "already had" not in edited.content.decode()
    assert outbox.send_due().sent == 0

    taken = operator.post(
        "/admin/waitlist/milestone/add/", {"referrals": "3", "reward": "Something else"}
    )
    assert taken.status_code == 200
    assert "Milestone with this Confirmed referrals already exists." in taken.content.decode()
    zero = operator.post("/admin/waitlist/milestone/add/", {"referrals": "0", "reward": "Nothing"})
    assert "Ensure this value is greater than or equal to 1." in zero.content.decode()
    assert Milestone.objects.count() == 1

    page = operator.get(f"/admin/waitlist/subscriber/{four.pk}/change/").content.decode()
    assert "3 referrals: Early access (" in page
    filtered = operator.get(
        f"/admin/waitlist/subscriber/?milestone={milestone.pk}"
    ).content.decode()
    assert "four@example.com" in filtered and "two@example.com" not in filtered


def test_a_campaign_for_a_milestone_goes_only_to_those_who_reached_it(operator, mail, settings):
    settings.CAMPAIGN_RATE_PER_SECOND = 10_000
    settings.CAMPAIGN_RATE_PER_HOUR = 10_000_000
    milestone = early_access(3)
    SubscriberFactory.create_batch(3)
    reached = [with_credited_referrals(3, email=f"early{n}@example.com") for n in range(2)]
    outbox.send_due()  # the milestone was made before anyone had it: nobody reached it yet
    for person in reached:
        milestones.award(person)
    outbox.send_due()
    added = operator.post(
        "/admin/waitlist/campaign/add/",
        {
            "name": "Early access opens",
            "subject": "Your early access is ready",
            "body": "Book your first visit before everyone else.",
            "audience_milestone": str(milestone.pk),
        },
        follow=True,
    )
    assert added.status_code == 200
    campaign = Campaign.objects.get()
    assert campaign.audience_milestone == milestone
    change = operator.get(f"/admin/waitlist/campaign/{campaign.pk}/change/").content.decode()
    assert "<strong>Audience:</strong> 2 confirmed people" in change

    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    assert dispatch.create_deliveries(campaign) == 2
    results = run_lanes(campaign)
    assert sum(result.sent for result in results) == 2
    got = sorted(m.envelope_to for m in mail.messages if m.message["Subject"] == campaign.subject)
    assert got == [["early0@example.com"], ["early1@example.com"]]

    refused = operator.post(
        f"/admin/waitlist/milestone/{milestone.pk}/delete/", {"post": "yes"}, follow=True
    )
    assert refused.status_code == 200
    assert "would require deleting the following protected related objects" in (
        refused.content.decode()
    )
    assert Milestone.objects.filter(pk=milestone.pk).exists()


def test_a_reward_email_is_not_sent_once_the_person_left_or_the_milestone_is_gone(mail):
    gone = early_access(3)
    stays = Milestone.objects.create(referrals=5, reward="A free first visit")
    left = with_credited_referrals(5, email="left@example.com")
    kept = with_credited_referrals(5, email="kept@example.com")
    assert [m.referrals for m in milestones.award(left)] == [3, 5]
    assert len(milestones.award(kept)) == 2
    Subscriber.objects.filter(pk=left.pk).update(status=Subscriber.Status.UNSUBSCRIBED)
    gone.delete()
    assert outbox.send_due().counts() == {"claimed": 4, "sent": 1, "skipped": 3}
    (only,) = mail.messages
    assert (
        only.envelope_to == ["kept@example.com"] and "A free first visit" in only.message["Subject"]
    )
    assert (
        OutboundEmail.objects.filter(milestone=stays, status=OutboundEmail.Status.SENT).count() == 1
    )


def test_what_a_person_reached_is_in_their_export_and_gone_when_they_are_erased():
    early_access(3)
    person = with_credited_referrals(3)
    milestones.award(person)
    exported = privacy.export_data(subscriber_id=person.pk)
    assert [each["reward"] for each in exported["milestones_reached"]] == ["Early access"]
    privacy.erase(subscriber_id=person.pk)
    assert not MilestoneReached.objects.exists()


@pytest.mark.django_db(transaction=True)  # autocommit, as web requests run
def test_friends_confirming_at_the_same_moment_bring_the_reward_once(mail, handed_out):
    """The emails wait for this test to send them, not for a worker another test started."""
    early_access(3)
    referrer = SubscriberFactory(email="sharer@example.com", signup_ip="192.0.2.1")
    SubscriberFactory(referred_by=referrer, referral_credited=True)
    friends = []
    for number in range(4):  # two more credited are enough; four confirm at once
        joined = signup.subscribe(
            email=f"friend{number}@example.org", interests=[], state="",
            source=signup.SignupSource(referral_code=referrer.referral_code),
            ip=f"198.51.100.{number + 1}", user_agent="test",
        )  # fmt: skip
        consent = joined.subscriber.consents.first()
        friends.append(
            tokens.make_token(
                tokens.CONFIRM, key=joined.subscriber.token_key, consent_id=consent.pk
            )
        )
    barrier = threading.Barrier(len(friends))
    errors = []

    def confirm(token: str) -> None:
        try:
            barrier.wait(5)
            signup.confirm(token=token, ip=None)
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=confirm, args=[token]) for token in friends]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert referrer.credited_referrals() == 5
    assert MilestoneReached.objects.filter(subscriber=referrer).count() == 1
    outbox.send_due()
    assert len(rewards_mailed(mail, "sharer@example.com")) == 1


def test_a_referrer_who_left_reaches_no_milestone(mail):
    early_access(3)
    person = with_credited_referrals(3, status="unsubscribed")
    assert milestones.award(person) == []
    assert not MilestoneReached.objects.exists()
