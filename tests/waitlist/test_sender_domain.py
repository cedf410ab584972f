"""The From domain's SPF, DKIM and DMARC, read from a real DNS server on this machine serving
fixture zones: each missing or wrong record refused with what to add; a good zone passes."""

import pytest

from tests.dnsserver import ZoneServer
from waitlist.engine import senderdomain

KEY = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYt"
GOOD = f"""
halftime-health.com.                 300 IN TXT "v=spf1 include:amazonses.com ~all"
s1._domainkey.halftime-health.com.   300 IN TXT "v=DKIM1; k=rsa; p={KEY}"
_dmarc.halftime-health.com.          300 IN TXT "v=DMARC1; p=quarantine; rua=mailto:d@x.com"
amazonses.com.                       300 IN TXT "v=spf1 ip4:199.255.192.0/22 ~all"
"""


@pytest.fixture
def dns(settings):
    server = ZoneServer(GOOD).start()
    settings.DNS_RESOLVER = server.address
    settings.DEFAULT_FROM_EMAIL = "Halftime Health <hello@halftime-health.com>"
    settings.EMAIL_ESP = ""
    settings.SENDER_SPF, settings.SENDER_DKIM_SELECTOR = "include:amazonses.com", "s1"
    settings.SENDER_DKIM_DOMAIN = settings.SENDER_RETURN_PATH_DOMAIN = ""
    yield server
    server.stop()


def zone(**replace: str) -> str:
    text = GOOD
    for old, new in replace.items():
        text = text.replace(old.replace("_", " "), new)
    return text


def test_a_good_zone_passes_with_advice_on_bimi(dns):
    report = senderdomain.check()
    assert (report.domain, report.checked, report.problems) == ("halftime-health.com", True, [])
    assert report.advice == [
        "BIMI: with DMARC enforced, a BIMI record (default._bimi.halftime-health.com) can show "
        "the brand's logo in Gmail and Apple Mail."
    ]


def test_spf_that_names_the_service_through_an_include_of_its_own_passes(dns):
    own = "include:spf.halftime-health.com"
    dns.serve(
        GOOD.replace("include:amazonses.com ~all", f"{own} -all", 1)
        + 'spf.halftime-health.com. 300 IN TXT "v=spf1 include:amazonses.com ~all"\n'
    )
    assert senderdomain.check().problems == []


def test_spf_without_the_sending_service_is_refused_with_the_term_to_add(dns):
    dns.serve(GOOD.replace("include:amazonses.com ~all", "include:_spf.google.com ~all", 1))
    assert senderdomain.check().problems == [
        "SPF: the record at halftime-health.com does not name the sending service "
        "(include:amazonses.com). Add “include:amazonses.com” to it, before its “all”: "
        "“v=spf1 include:_spf.google.com ~all”."
    ]


def test_no_spf_at_all_is_refused_with_the_record_to_add(dns):
    dns.serve("\n".join(line for line in GOOD.splitlines() if "v=spf1 include:ama" not in line
                         or line.startswith("amazonses")))  # fmt: skip
    assert senderdomain.check().problems == [
        "SPF: halftime-health.com publishes no SPF record. Add a TXT record at "
        "halftime-health.com: “v=spf1 include:amazonses.com ~all”."
    ]


def test_a_missing_dkim_key_is_refused(dns):
    dns.serve(GOOD.replace("s1._domainkey", "old._domainkey"))
    assert senderdomain.check().problems == [
        "DKIM: no key at s1._domainkey.halftime-health.com. Publish the TXT (or CNAME) record "
        "your sending service gives for the selector there."
    ]


def test_p_none_dmarc_that_does_not_align_with_from_is_refused(dns, settings):
    # An email service that signs as itself and bounces to itself: nothing aligns with From.
    settings.EMAIL_ESP, settings.SENDER_DKIM_DOMAIN = "amazon_ses", "amazonses.com"
    dns.serve(
        GOOD.replace("p=quarantine", "p=none")
        + f's1._domainkey.amazonses.com. 300 IN TXT "v=DKIM1; p={KEY}"\n'
    )
    report = senderdomain.check()
    assert report.problems == [
        "DMARC: neither DKIM (signed as amazonses.com) nor SPF (envelope sender the service’s "
        "own domain) aligns with the From domain halftime-health.com, so receivers fail DMARC "
        "for every message. Have the sending service sign with d=halftime-health.com (a DKIM "
        "key at <selector>._domainkey.halftime-health.com)."
    ]
    assert report.advice[0].startswith("DMARC's policy is p=none: receivers only report.")


def test_strict_alignment_refuses_a_key_on_the_parent_domain(dns, settings):
    settings.DEFAULT_FROM_EMAIL = "hello@news.halftime-health.com"
    settings.SENDER_DKIM_DOMAIN, settings.EMAIL_ESP = "halftime-health.com", "amazon_ses"
    dns.serve(GOOD.replace("p=quarantine", "p=reject; adkim=s").replace(
        "halftime-health.com.                 300 IN TXT",
        "news.halftime-health.com. 300 IN TXT",
    ))  # fmt: skip
    (problem,) = senderdomain.check().problems
    assert problem.startswith("DMARC: neither DKIM (signed as halftime-health.com) nor SPF")
    assert "under strict alignment" in problem


def test_no_dmarc_is_refused_with_the_record_to_add(dns):
    dns.serve("\n".join(line for line in GOOD.splitlines() if "DMARC1" not in line))
    assert senderdomain.check().problems == [
        "DMARC: halftime-health.com publishes none; Gmail and Yahoo refuse bulk mail without "
        "it. Add a TXT record at _dmarc.halftime-health.com: “v=DMARC1; p=none; "
        "rua=mailto:dmarc@halftime-health.com”."
    ]


@pytest.mark.parametrize(
    "sender", ["hello@localhost", "news@halftime.test", "a@brand.example", "b@example.com"]
)
def test_a_sender_at_a_reserved_name_is_not_checkable_and_never_refused(dns, settings, sender):
    settings.DEFAULT_FROM_EMAIL = sender
    report = senderdomain.check()
    assert (report.checked, report.problems) == (False, [])
    assert report.advice[0].endswith("is a name reserved for tests: its DNS is not checked.")


def test_without_a_resolver_nothing_is_checked(settings):
    settings.DNS_RESOLVER = ""
    settings.DEFAULT_FROM_EMAIL = "hello@halftime-health.com"
    report = senderdomain.check()
    assert (report.checked, report.problems) == (False, [])


# --- in the campaign's preflight --------------------------------------------------------------


def ready_to_send():
    from django.utils import timezone

    from tests.factories import CampaignFactory, SubscriberFactory

    SubscriberFactory()
    campaign = CampaignFactory(body="## We're live\n\n[Book your first visit](https://x.org/b)")
    campaign.test_sent_at, campaign.tested_version = timezone.now(), campaign.seen_version()
    campaign.save()
    return campaign


@pytest.mark.django_db
def test_a_campaign_from_a_failing_domain_waits_for_an_operator_s_reason(dns):
    from django_fsm_log.models import StateLog

    from waitlist.campaigns import actions
    from waitlist.campaigns.lifecycle import CampaignError

    dns.serve(GOOD.replace("s1._domainkey", "old._domainkey"))
    campaign = ready_to_send()
    with pytest.raises(CampaignError) as refused:
        actions.send_now(campaign)
    assert str(refused.value).startswith(
        "The sender's domain failed its checks: DKIM: no key at s1._domainkey.halftime-health.com"
    )
    assert campaign.status == "draft"
    actions.send_now(campaign, override="  The new key is published; DNS is catching up. ")
    assert campaign.status == "scheduled"
    assert StateLog.objects.for_(campaign).get().description == (
        "Sent now. Sent despite the sender's domain checks, because: The new key is published; "
        "DNS is catching up."
    )


@pytest.mark.django_db
def test_the_confirmation_shows_the_failing_records_and_asks_for_a_reason(dns, staff_client):
    import re

    dns.serve(GOOD.replace("include:amazonses.com ~all", "include:_spf.google.com ~all", 1))
    campaign = ready_to_send()
    page = staff_client.get(f"/admin/waitlist/campaign/{campaign.pk}/confirm/send_now/")
    text = page.content.decode()
    assert "The sender’s domain, halftime-health.com, fails its checks:" in text
    assert "does not name the sending service (include:amazonses.com)" in text
    assert 'name="override" required' in text
    confirmation = re.search(r'name="confirmation" value="([^"]+)"', text).group(1)
    do = f"/admin/waitlist/campaign/{campaign.pk}/do/send_now/"
    staff_client.post(do, {"confirmation": confirmation})
    campaign.refresh_from_db()
    assert campaign.status == "draft", "no reason, nothing sent"
    staff_client.post(do, {"confirmation": confirmation, "override": "Launch day."})
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"
