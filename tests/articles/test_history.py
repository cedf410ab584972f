"""History kept by django-reversion (glossary terms, campaigns): what changed, and restoring."""

import pytest
from reversion.models import Version

from articles.models import Article
from tests.factories import ArticleFactory

pytestmark = pytest.mark.django_db


def test_a_glossary_term_s_history_shows_the_changed_definition_and_restores_it(staff_client):
    from articles.models import GlossaryTerm

    article = ArticleFactory(body="## Basics\n\nYour SHBG level matters.\n")
    form = {"term": "SHBG", "slug": "shbg", "aliases": "", "definition": "A carrier protein."}
    assert staff_client.post("/admin/articles/glossaryterm/add/", form).status_code == 302
    term = GlossaryTerm.objects.get()
    url = f"/admin/articles/glossaryterm/{term.pk}/change/"
    newer = {**form, "definition": "A protein that carries hormones."}
    assert staff_client.post(url, newer).status_code == 302
    versions = Version.objects.get_for_object(term)  # newest first
    assert len(versions) == 2
    changes = staff_client.get(
        f"/admin/articles/glossaryterm/{term.pk}/history/{versions[0].pk}/changes/"
    ).content.decode()
    assert "A <del>carrier protein.</del><ins>protein that carries hormones.</ins>" in changes

    restore = f"/admin/articles/glossaryterm/{term.pk}/history/{versions[1].pk}/"
    assert staff_client.post(restore, form).status_code == 302
    assert GlossaryTerm.objects.get().definition == "A carrier protein."
    assert "A carrier protein" in Article.objects.get(pk=article.pk).body_html
    assert len(Version.objects.get_for_object(term)) == 3


def test_a_campaign_s_history_shows_what_changed(staff_client):
    from waitlist.models import Campaign

    form = {
        "name": "Launch", "subject": "We are live", "preheader": "", "body": "## Hi\n\nNews.",
        "send_at_0": "", "send_at_1": "",
    }  # fmt: skip
    assert staff_client.post("/admin/waitlist/campaign/add/", form).status_code == 302
    campaign = Campaign.objects.get()
    url = f"/admin/waitlist/campaign/{campaign.pk}/change/"
    assert staff_client.post(url, {**form, "subject": "We are live in Texas"}).status_code == 302
    newest = Version.objects.get_for_object(campaign)[0]
    history = staff_client.get(f"/admin/waitlist/campaign/{campaign.pk}/history/")
    assert history.status_code == 200 and "What changed" in history.content.decode()
    changes = staff_client.get(
        f"/admin/waitlist/campaign/{campaign.pk}/history/{newest.pk}/changes/"
    ).content.decode()
    assert "We are live<ins> in Texas</ins>" in changes


def test_a_draft_campaign_takes_an_earlier_version_and_a_sent_one_does_not(staff_client):
    from waitlist.models import Campaign

    form = {
        "name": "Launch", "subject": "We are live", "preheader": "", "body": "## Hi\n\nNews.",
        "send_at_0": "", "send_at_1": "",
    }  # fmt: skip
    staff_client.post("/admin/waitlist/campaign/add/", form)
    campaign = Campaign.objects.get()
    url = f"/admin/waitlist/campaign/{campaign.pk}/change/"
    staff_client.post(url, {**form, "subject": "We are live in Texas"})
    first = Version.objects.get_for_object(campaign)[1]
    restore = f"/admin/waitlist/campaign/{campaign.pk}/history/{first.pk}/"

    assert "We are live" in staff_client.get(restore).content.decode()
    assert staff_client.post(restore, form).status_code == 302
    campaign.refresh_from_db()
    assert (campaign.subject, campaign.status) == ("We are live", Campaign.Status.DRAFT)

    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENT)
    assert staff_client.post(restore, form).status_code == 403
    assert Campaign.objects.get().status == Campaign.Status.SENT
