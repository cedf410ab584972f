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


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "seen_as"),
    [
        # The proxy appends the address it saw; whatever stands before it came from the client.
        (1, "203.0.113.{i}, 192.0.2.9", "192.0.2.9"),
        # With no trusted proxy, the header is ignored.
        (0, "198.51.100.{i}", "127.0.0.1"),
    ],
)
def test_an_address_a_client_writes_is_never_believed(live_server, settings, proxies,
                                                      forwarded_for, seen_as):  # fmt: skip
    settings.TRUSTED_PROXIES, settings.WAITLIST_IP_LIMIT = proxies, 2
    codes = [
        join(live_server.url, f"s{i}@example.com", X_Forwarded_For=forwarded_for.format(i=i))
        for i in range(3)
    ]
    assert codes == [202, 202, 429]
    assert set(Subscriber.objects.values_list("signup_ip", flat=True)) == {seen_as}


def test_a_request_that_did_not_pass_every_proxy_keeps_its_own_address(live_server, settings):
    settings.TRUSTED_PROXIES = 2
    assert join(live_server.url, "short@example.com", X_Forwarded_For="198.51.100.1") == 202
    assert (
        join(live_server.url, "junk@example.com", X_Forwarded_For="not-an-address, 10.0.0.1") == 202
    )
    assert set(Subscriber.objects.values_list("signup_ip", flat=True)) == {"127.0.0.1"}
