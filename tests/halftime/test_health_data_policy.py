"""The Consumer Health Data Privacy Policy (/health-data-privacy/, versioned in
halftime/healthdata.py), the links to it, and the Global Privacy Control support resource
(/.well-known/gpc.json)."""

import datetime as dt

import pytest

from halftime import healthdata

pytestmark = pytest.mark.django_db

POLICY_LINK = '<a href="/health-data-privacy/">Consumer Health Data Privacy Policy</a>'


def footer(page: str) -> str:
    return page.split('<footer class="site-footer">', 1)[1]


def main(page: str) -> str:
    return page.split('<main id="main"', 1)[1].split("</main>", 1)[0]


def test_the_policy_page_shows_the_current_version_and_the_day_it_took_effect(client):
    page = client.get("/health-data-privacy/")
    assert page.status_code == 200
    text = main(page.content.decode())
    assert "<h1>Consumer Health Data Privacy Policy</h1>" in text
    assert f"<dd>{healthdata.CURRENT}</dd>" in text
    in_effect = healthdata.VERSIONS[healthdata.CURRENT].in_effect
    assert f'<time datetime="{in_effect:%Y-%m-%d}">{in_effect:%B} {in_effect.day}, ' in text
    assert "earlier version" not in text


def test_the_policy_says_how_long_data_is_kept_as_the_settings_say(client, settings):
    settings.PENDING_EXPIRY_DAYS = 21
    settings.RETENTION_OUTBOX_DAYS = 45
    settings.RETENTION_WEBHOOK_DAYS = 14
    settings.RETENTION_UNSUBSCRIBED_DAYS = 400
    settings.DEFAULT_FROM_EMAIL = "Halftime Health <privacy@halftime.example>"
    settings.POSTAL_ADDRESS = "Halftime Health, 1 Test Road, Seattle, WA"
    text = client.get("/health-data-privacy/").content.decode()
    for said in ("21 days", "45 days", "14 days", "400 days"):
        assert said in text, said
    assert '<a href="mailto:privacy@halftime.example">privacy@halftime.example</a>' in text
    assert "Halftime Health, 1 Test Road, Seattle, WA" in text


def test_the_policy_names_what_it_treats_as_health_data_and_the_rights_over_it(client):
    text = client.get("/health-data-privacy/").content.decode()
    for said in (
        "testosterone, peptides, weight and sleep",
        "“Use my interests to choose which updates I get.”",
        "Global Privacy Control",
        "Download my data",
        "Delete my data",
        "appeal",
    ):
        assert said in text, said


def test_the_current_version_is_also_at_its_own_address(client, settings):
    page = client.get(f"/health-data-privacy/{healthdata.CURRENT}/")
    assert page.status_code == 200
    canonical = f'<link rel="canonical" href="{settings.SITE_URL}/health-data-privacy/">'
    assert canonical in page.content.decode()


def test_an_earlier_version_stays_readable_at_its_own_address(client, monkeypatch):
    monkeypatch.setitem(
        healthdata.VERSIONS,
        "2026-06",
        healthdata.Version(in_effect=dt.date(2026, 6, 1), template="health_data/2026-12.html"),
    )
    page = client.get("/health-data-privacy/2026-06/")
    assert page.status_code == 200
    text = main(page.content.decode())
    assert "<dd>2026-06</dd>" in text
    assert '<time datetime="2026-06-01">June 1, 2026</time>' in text
    current_from = healthdata.VERSIONS[healthdata.CURRENT].in_effect
    assert f'<dt>Replaced on</dt> <dd><time datetime="{current_from:%Y-%m-%d}">' in text
    assert '<a href="/health-data-privacy/">Read the version in effect now</a>' in text
    assert '<meta name="robots" content="noindex">' in page.content.decode()
    current = main(client.get("/health-data-privacy/").content.decode())
    assert '<a href="/health-data-privacy/2026-06/">2026-06</a>' in current


def test_an_unknown_version_is_not_found(client):
    assert client.get("/health-data-privacy/1999-01/").status_code == 404


@pytest.mark.parametrize("path", ["/", "/learn/", "/privacy/", "/health-data-privacy/"])
def test_every_page_links_the_policy_in_its_footer(client, path):
    page = client.get(path)
    assert page.status_code == 200
    assert POLICY_LINK in footer(page.content.decode())


@pytest.mark.parametrize("path", ["/", "/privacy/"])
def test_the_home_and_privacy_pages_link_the_policy_in_their_text(client, path):
    assert POLICY_LINK in main(client.get(path).content.decode())


def test_gpc_json_says_the_site_honours_global_privacy_control(client):
    response = client.get("/.well-known/gpc.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"gpc": True, "lastUpdate": "2026-12-06"}


@pytest.mark.parametrize("path", ["/.well-known/gpc.json", "/health-data-privacy/"])
def test_head_answers_like_get_without_a_body(client, path):
    head, get = client.head(path), client.get(path)
    assert head.status_code == 200
    assert head["Content-Type"] == get["Content-Type"]
    assert head.content == b""


def test_a_page_that_could_share_data_with_another_site_is_refused(settings):
    from django.core import checks

    assert [m.id for m in checks.run_checks() if m.id == "halftime.E001"] == []
    policy = {**settings.CONTENT_SECURITY_POLICY}
    policy["DIRECTIVES"] = {
        **policy["DIRECTIVES"], "script-src": ["'self'", "https://tags.example"]
    }  # fmt: skip
    settings.CONTENT_SECURITY_POLICY = policy
    (refused,) = [m for m in checks.run_checks() if m.id == "halftime.E001"]
    assert "script-src allows https://tags.example" in refused.msg
