"""A campaign's email: rendered once for everyone (`engine.messages`), each person's copy with
their own unsubscribe and preferences links."""

import re

from django.conf import settings
from django.utils.safestring import mark_safe

from articles.rendering import render_text

from ..engine.messages import (
    Copy,
    Template,
    absolute,
    list_id,
    message_id,
    message_id_domain,
    render,
)
from ..models import Campaign
from ..people import tokens

# A link to a page of this site written from its root ("/learn/"): made whole in the email,
# where there is no site to be relative to.
ROOT_LINK_HTML = re.compile(r'\b(href|src)="/(?!/)')
ROOT_LINK_MARKDOWN = re.compile(r"\]\(/(?!/)")


def campaign_template(campaign: Campaign) -> Template:
    """The campaign's email; an invitation wave's carries each person's link to accept."""
    domain = message_id_domain()
    links = {"unsubscribe": "waitlist:unsubscribe", "preferences": "waitlist:preferences"}
    if campaign.kind == Campaign.Kind.INVITATION:
        links["start"] = "waitlist:start"
    return render(
        "waitlist/email/campaign",
        {
            "campaign": campaign,
            "body_html": mark_safe(
                ROOT_LINK_HTML.sub(rf'\1="{settings.SITE_URL}/', campaign.body_html)
            ),
            "body_text": render_text(
                ROOT_LINK_MARKDOWN.sub(f"]({settings.SITE_URL}/", campaign.body)
            ),
            "web_url": absolute(campaign.get_absolute_url()) if campaign.in_archive else "",
        },
        key=f"campaign-{campaign.pk}",
        subject=campaign.subject,
        links=links,
        headers={
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": list_id(),
            # Gmail's feedback loop counts complaints by these: the campaign, the kind of mail,
            # the sender; nothing about the person.
            "Feedback-ID": f"{campaign.pk}:campaign:{domain}",
        },
    )


def campaign_message_id(campaign_id: int, subscriber_id: int) -> str:
    return message_id(f"campaign.{campaign_id}", subscriber_id)


def campaign_copy(
    template: Template, *, campaign_id: int, subscriber_id: int, email: str, token_key: str,
    nonce: str | None = None,
) -> Copy:  # fmt: skip
    """One person's copy; `nonce`: their invitation's, for an invitation wave's link."""
    unsubscribe = template.link("unsubscribe", tokens.make_token(tokens.UNSUBSCRIBE, key=token_key))
    preferences = template.link("preferences", tokens.make_token(tokens.PREFERENCES, key=token_key))
    links = {"unsubscribe": unsubscribe, "preferences": preferences}
    if "start" in template.links:
        links["start"] = template.link("start", tokens.make_token(tokens.START, key=token_key,
                                                                  nonce=nonce))  # fmt: skip
    return template.fill(
        to=email,
        headers={
            "Message-ID": campaign_message_id(campaign_id, subscriber_id),
            "List-Unsubscribe": f"<{unsubscribe}>, <mailto:{template.mailto}?subject=unsubscribe>",
        },
        links=links,
    )
