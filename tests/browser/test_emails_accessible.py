"""Every email the project sends, opened in a real browser: axe-core finds nothing in it."""

import pytest

from tests.factories import CampaignFactory
from tests.waitlist.test_email_lint import outbox_templates
from waitlist.campaigns import emails as campaign_emails

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def test_every_email_passes_axe_core(phone_page, assert_accessible):
    campaign = CampaignFactory(
        body="## We're live\n\n- Labs near you\n- A visit this week\n\n"
        "[Book your first visit](https://example.org/book)"
    )
    wave = CampaignFactory(kind="invitation", body="## Your place has come up", in_archive=False)
    sent = [
        ("campaign", campaign_emails.campaign_template(campaign)),
        ("invitation wave", campaign_emails.campaign_template(wave)),
    ]
    sent += list(outbox_templates())
    for kind, template in sent:
        phone_page.set_content(template.html)
        assert phone_page.title(), kind
        assert_accessible(phone_page)
    assert len(sent) == 2 + 3 + 4 * 2 + 1  # campaigns, asking, personal (each twice), invitation
