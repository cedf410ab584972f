"""Mailbox providers by MX: looked up from a real DNS server on this machine serving fixture
zones, kept for their records' lifetime, and carried by each campaign delivery."""

import datetime as dt

import pytest
from django.utils import timezone

from tests.dnsserver import ZoneServer
from tests.factories import CampaignFactory, SubscriberFactory
from waitlist import tasks
from waitlist.campaigns import dispatch
from waitlist.engine import providers
from waitlist.models import Campaign, Delivery, MailDomain, Subscriber

ZONE = """
gmail.com.          3600  IN MX 5  gmail-smtp-in.l.google.com.
gmail.com.          3600  IN MX 10 alt1.gmail-smtp-in.l.google.com.
brewery.test.       300   IN MX 1  smtp.google.com.
contoso.test.       86400 IN MX 0  contoso-test.mail.protection.outlook.com.
outlook.com.        3600  IN MX 5  outlook-com.olc.protection.outlook.com.
yahoo.com.          1800  IN MX 1  mta5.am0.yahoodns.net.
aol.com.            1800  IN MX 1  mx-aol.mail.gm0.yahoodns.net.
icloud.com.         3600  IN MX 10 mx01.mail.icloud.com.
fastmail.test.      3600  IN MX 10 in1-smtp.messagingengine.com.
nomail.test.        3600  IN A     192.0.2.1
slow-mx.test.       999999 IN MX 10 in1-smtp.messagingengine.com.
"""


@pytest.fixture
def dns(settings):
    server = ZoneServer(ZONE).start()
    settings.DNS_RESOLVER = server.address
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("domain", "provider", "keep"),
    [
        ("gmail.com", "google", 3600),
        ("brewery.test", "google", 3600),  # Google Workspace; a TTL under an hour kept an hour
        ("contoso.test", "microsoft", 86400),
        ("outlook.com", "microsoft", 3600),
        ("yahoo.com", "yahoo", 3600),
        ("aol.com", "yahoo", 3600),
        ("icloud.com", "apple", 3600),
        ("fastmail.test", "other", 3600),
        ("nomail.test", "other", 3600),  # no mail exchanger
        ("nowhere.test", "other", 3600),  # no such domain
        ("slow-mx.test", "other", 7 * 86400),  # kept a week at most
    ],
)
def test_a_domain_s_provider_is_known_by_its_mail_exchangers(dns, domain, provider, keep):
    answer = providers.look_up(domain)
    assert (answer.provider, answer.keep) == (provider, dt.timedelta(seconds=keep))


def test_the_preferred_exchanger_names_the_provider(dns):
    assert providers.look_up("gmail.com").exchangers == [
        "gmail-smtp-in.l.google.com",
        "alt1.gmail-smtp-in.l.google.com",
    ]


def test_a_resolver_that_does_not_answer_is_a_failure_not_an_answer(settings, dns):
    dns.stop()
    with pytest.raises(providers.LookupFailed):
        providers.look_up("gmail.com")


def people(*emails: str) -> list[Subscriber]:
    return [SubscriberFactory(email=email) for email in emails]


@pytest.mark.django_db
def test_the_task_looks_up_the_domains_of_everyone_who_may_be_mailed_once(dns):
    people("pat@gmail.com", "sam@gmail.com", "lee@contoso.test", "kim@fastmail.test")
    SubscriberFactory(email="pending@icloud.com", status=Subscriber.Status.PENDING)
    assert tasks.look_up_domains() == 3
    known = dict(MailDomain.objects.values_list("domain", "provider"))
    assert known == {"gmail.com": "google", "contoso.test": "microsoft", "fastmail.test": "other"}
    row = MailDomain.objects.get(domain="contoso.test")
    assert row.exchangers == "contoso-test.mail.protection.outlook.com"
    assert row.expires_at - row.looked_up_at == dt.timedelta(days=1)
    assert tasks.look_up_domains() == 0, "kept until its records expire"


@pytest.mark.django_db
def test_an_expired_answer_is_looked_up_again_and_a_failed_lookup_keeps_the_last(dns):
    people("pat@gmail.com")
    tasks.look_up_domains()
    MailDomain.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    dns.serve("gmail.com. 3600 IN MX 5 mx.fastmail.test.")
    assert tasks.look_up_domains() == 1
    assert MailDomain.objects.get().provider == "other"
    expired = timezone.now() - dt.timedelta(seconds=1)
    MailDomain.objects.update(expires_at=expired, provider="google")
    dns.stop()
    assert tasks.look_up_domains() == 0
    assert MailDomain.objects.get().provider == "google", "the last answer stands"


@pytest.mark.django_db
def test_without_a_resolver_nothing_is_looked_up_and_everyone_is_other(settings):
    settings.DNS_RESOLVER = ""
    people("pat@gmail.com", "lee@contoso.test")
    assert tasks.look_up_domains() == 0
    assert not MailDomain.objects.exists()
    campaign = CampaignFactory(status=Campaign.Status.SENDING)
    dispatch.create_deliveries(campaign)
    assert set(Delivery.objects.values_list("provider", flat=True)) == {"other"}


@pytest.mark.django_db
def test_a_campaign_s_rows_carry_each_recipient_s_provider(dns):
    people("pat@gmail.com", "lee@contoso.test", "kim@yahoo.com", "ann@icloud.com", "bo@x.test")
    tasks.look_up_domains()
    campaign = CampaignFactory(status=Campaign.Status.SENDING)
    dispatch.create_deliveries(campaign)
    assert dict(Delivery.objects.values_list("subscriber__email", "provider")) == {
        "pat@gmail.com": "google",
        "lee@contoso.test": "microsoft",
        "kim@yahoo.com": "yahoo",
        "ann@icloud.com": "apple",
        "bo@x.test": "other",
    }
