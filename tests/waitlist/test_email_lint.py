"""The email lint: each rule fails on an email that breaks it, and every email the project
sends passes (the campaign's, and each kind the outbox sends)."""

import pytest

from tests.factories import CampaignFactory
from waitlist.campaigns import emails as campaign_emails
from waitlist.engine import lint
from waitlist.models import Milestone, OutboundEmail
from waitlist.people import emails, outbox, wording

GOOD = """<!doctype html><html lang="en" dir="ltr"><head><meta charset="utf-8">
<meta name="color-scheme" content="light"><title>Hi</title></head><body>
<table role="presentation"><tr><td><img src="https://x.test/logo.png" alt="Halftime Health">
<p><a href="https://x.test/book">Book your first visit</a></p>
<table><caption>Prices</caption><tr><th>Visit</th><td>$49</td></tr></table>
<a href="https://x.test/"><img src="https://x.test/a.png" alt="Halftime Health home"></a>
</td></tr></table></body></html>"""
TEXT = "Book your first visit: https://x.test/book"


def rules(html: str = GOOD, text: str = TEXT) -> list[str]:
    return [finding.rule for finding in lint.lint(html=html, text=text)]


def test_a_good_email_passes():
    assert rules() == []


@pytest.mark.parametrize(
    ("broken", "rule"),
    [
        (GOOD.replace(' lang="en"', ""), "lang"),
        (GOOD.replace(' dir="ltr"', ""), "dir"),
        (GOOD.replace(' role="presentation"', ""), "layout-table"),
        (GOOD.replace(' alt="Halftime Health"', ""), "alt"),
        (GOOD.replace('<meta name="color-scheme" content="light">', ""), "color-scheme"),
        (GOOD.replace("Book your first visit", "click here"), "link-text"),
        (GOOD.replace("Book your first visit", "Read more →"), "link-text"),
        (GOOD.replace(' alt="Halftime Health home"', ' alt=""'), "link-text"),
        (GOOD.replace("</body>", "<p>" + "x" * 105_000 + "</p></body>"), "size"),
    ],
)
def test_each_rule_fails_on_an_email_that_breaks_it(broken, rule):
    assert rules(broken) == [rule]


def test_an_email_without_a_text_part_fails():
    assert rules(text="  \n") == ["text-part"]


def test_each_finding_says_what_to_change():
    (finding,) = lint.lint(html=GOOD.replace(' alt="Halftime Health"', ""), text=TEXT)
    assert str(finding) == (
        'The image https://x.test/logo.png has no alt text: describe it, or alt="" if it only '
        "decorates."
    )


@pytest.mark.django_db
def test_a_campaign_s_email_passes():
    campaign = CampaignFactory(
        body="## We're live\n\n- Labs near you\n- A visit this week\n\n"
        "[Book your first visit](https://example.org/book)"
    )
    copy = campaign_emails.campaign_copy(
        campaign_emails.campaign_template(campaign), campaign_id=campaign.pk, subscriber_id=1,
        email="pat@example.com", token_key="k",
    )  # fmt: skip
    assert lint.lint(html=copy.html, text=copy.text) == []


def outbox_templates():
    """Every email the outbox sends, in each of its forms."""
    milestone = Milestone.objects.create(referrals=3, reward="Skip the line", details="Early.")
    for kind in outbox.ASKING:
        yield kind, emails.confirmation_template(wording.current(kind))
    for kind in outbox.PERSONAL:
        for has_state in (True, False):
            yield (
                kind,
                emails.personal_template(
                    wording.current(kind), milestone=milestone, has_state=has_state
                ),
            )
    yield "invitation", emails.invitation_template(wording.current("invitation"), days=14)


@pytest.mark.django_db
def test_every_email_the_outbox_sends_passes():
    kinds = set()
    for kind, template in outbox_templates():
        assert lint.lint(html=template.html, text=template.text) == [], kind
        kinds.add(kind)
    assert kinds == set(OutboundEmail.Kind.values), "every kind looked at"


@pytest.mark.django_db
def test_a_campaign_whose_email_fails_the_lint_cannot_be_scheduled_and_is_told_why():
    from tests.factories import SubscriberFactory
    from waitlist.campaigns import actions

    SubscriberFactory()
    campaign = CampaignFactory(body="Big news. [Click here](https://example.org/x) to see it.")
    check = actions.preflight(campaign)
    assert (
        "The email: A link reads “click here”: say where it goes (“Book your first visit”)."
        in check.problems
    )
