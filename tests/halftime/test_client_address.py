"""The visitor's address behind reverse proxies, over HTTP to a running server: every limit and
the consent ledger see the visitor, never the proxy, and nothing a client writes is believed."""

import pytest

from tests.http import join
from waitlist.models import ConsentRecord, Subscriber

pytestmark = pytest.mark.django_db(transaction=True)


def test_behind_one_proxy_each_visitor_has_their_own_address_and_limit(live_server, settings):
    settings.TRUSTED_PROXIES = 1
    codes = [
        join(live_server.url, f"p{i}@example.com", X_Forwarded_For=f"198.51.100.{i}")
        for i in range(22)
    ]
    assert codes == [202] * 22
    assert Subscriber.objects.get(email="p21@example.com").signup_ip == "198.51.100.21"
    consent = ConsentRecord.objects.get(subscriber__email="p7@example.com")
    assert consent.signup_ip == "198.51.100.7"


def test_what_a_client_adds_to_the_header_is_not_believed(live_server, settings):
    settings.TRUSTED_PROXIES = 1
    settings.WAITLIST_IP_LIMIT = 2
    # The proxy appends the address it saw; whatever stands before it came from the client.
    codes = [
        join(live_server.url, f"s{i}@example.com", X_Forwarded_For=f"203.0.113.{i}, 192.0.2.9")
        for i in range(3)
    ]
    assert codes == [202, 202, 429]
    assert set(Subscriber.objects.values_list("signup_ip", flat=True)) == {"192.0.2.9"}


def test_with_no_trusted_proxy_the_header_is_ignored(live_server, settings):
    settings.WAITLIST_IP_LIMIT = 2
    codes = [
        join(live_server.url, f"d{i}@example.com", X_Forwarded_For=f"198.51.100.{i}")
        for i in range(3)
    ]
    assert codes == [202, 202, 429]
    assert set(Subscriber.objects.values_list("signup_ip", flat=True)) == {"127.0.0.1"}


def test_a_request_that_did_not_pass_every_proxy_keeps_its_own_address(live_server, settings):
    settings.TRUSTED_PROXIES = 2
    assert join(live_server.url, "short@example.com", X_Forwarded_For="198.51.100.1") == 202
    assert (
        join(live_server.url, "junk@example.com", X_Forwarded_For="not-an-address, 10.0.0.1") == 202
    )
    assert set(Subscriber.objects.values_list("signup_ip", flat=True)) == {"127.0.0.1"}
