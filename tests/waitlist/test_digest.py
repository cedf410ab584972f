"""The Learning Center digest: a draft launch update listing exactly the articles published or
signed off by a medical reviewer since the last digest, never sent by itself."""

import datetime as dt

import pytest
from django.utils import timezone

from articles.models import SignOff
from tests.factories import ArticleFactory, CampaignFactory, SubscriberFactory
from waitlist.campaigns import digest
from waitlist.models import Campaign, Delivery, LearningDigest

pytestmark = pytest.mark.django_db


def article(title: str, *, published_days_ago: float, signed_days_ago: float, **fields):
    now = timezone.now()
    made = ArticleFactory(
        title=title, publish_at=now - dt.timedelta(days=published_days_ago), **fields
    )
    SignOff.objects.filter(article=made).update(signed_at=now - dt.timedelta(days=signed_days_ago))
    return made


@pytest.fixture
def last_digest():
    """A digest sent five days ago."""
    return LearningDigest.objects.create(
        campaign=CampaignFactory(status=Campaign.Status.SENT),
        covers_until=timezone.now() - dt.timedelta(days=5),
    )


def test_the_draft_lists_exactly_what_was_published_or_signed_off_since_the_last_digest(
    last_digest, settings
):
    settings.SITE_URL = "https://halftime.example"
    SubscriberFactory.create_batch(3)
    article("Old news", published_days_ago=30, signed_days_ago=30)
    new = article("Sleep and testosterone", published_days_ago=1, signed_days_ago=2)
    again = article("Reading a lab report", published_days_ago=60, signed_days_ago=1)
    article("A draft", published_days_ago=1, signed_days_ago=1, draft=True)
    article("Later", published_days_ago=-3, signed_days_ago=1)  # scheduled: not public yet

    campaign = digest.draft()
    made = campaign.digest
    assert set(made.articles.all()) == {new, again}
    assert made.covers_from == last_digest.covers_until
    assert (campaign.status, campaign.kind, campaign.subject) == (
        "draft", "update", "New in the Learning Center",
    )  # fmt: skip
    body = campaign.body
    assert "## New articles" in body and "## Reviewed again" in body
    assert body.index("Sleep and testosterone") < body.index("## Reviewed again")
    assert f"(https://halftime.example/learn/{new.slug}/)" in body
    assert f"[Reading a lab report](https://halftime.example/learn/{again.slug}/)" in body
    assert "Old news" not in body and "A draft" not in body and "Later" not in body
    assert campaign.preheader == "1 new article and 1 reviewed again, each checked by a clinician."
    assert not Delivery.objects.exists(), "a draft is never sent by itself"

    with pytest.raises(digest.NothingNew, match="since the last digest"):
        digest.draft()
    again_signed = SignOff.objects.filter(article=again)
    again_signed.update(signed_at=timezone.now())
    assert list(digest.draft().digest.articles.all()) == [again]


def test_a_deleted_draft_gives_its_articles_to_the_next_digest(last_digest):
    new = article("Sleep and testosterone", published_days_ago=1, signed_days_ago=2)
    digest.draft().delete()
    assert list(digest.draft().digest.articles.all()) == [new]


def test_operators_draft_it_from_the_campaign_list(admin_client, last_digest):
    article("Sleep and testosterone", published_days_ago=1, signed_days_ago=2)
    listing = admin_client.get("/admin/waitlist/campaign/").content.decode()
    assert "Draft a Learning Center digest" in listing
    response = admin_client.post("/admin/waitlist/campaign/digest/")
    campaign = Campaign.objects.get(digest__isnull=False, status="draft")
    assert response["Location"] == f"/admin/waitlist/campaign/{campaign.pk}/change/"
    page = admin_client.get(response["Location"]).content.decode()
    assert "with 1 article(s). Edit it, send yourself a test, then send it" in page
    again = admin_client.post("/admin/waitlist/campaign/digest/", follow=True)
    assert "Nothing was published or medically reviewed in the Learning Center since" in (
        again.content.decode()
    )
    assert admin_client.get("/admin/waitlist/campaign/digest/").status_code == 405
