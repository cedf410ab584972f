"""The citation monitor against Crossref's recorded answers and a local web server
(tests/citesite.py): what it finds goes to the editors' queue, a retraction is marked on the
page at once, and an answer that is no answer changes nothing."""

import json
import re
from dataclasses import replace

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.test import Client

from articles import citations, notices, workflow
from articles.models import Finding
from tests.citesite import CiteSite
from tests.factories import ArticleFactory, SourceFactory, StaffFactory, sign
from tests.mailsink import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(settings):
    with CiteSite() as site:
        settings.CROSSREF_URL = site.url
        settings.CITATION_CHECK_PAUSE = 0
        settings.CITATION_CHECK_TIMEOUT = 5
        yield site


@pytest.fixture
def editor() -> Client:
    user = StaffFactory(username="eddie")
    user.groups.add(Group.objects.get(name="Editors"))
    client = Client()
    client.force_login(user)
    return client


def article_citing(*sources: dict, **fields):
    article = ArticleFactory(with_source=False, **fields)
    article.sources.all().delete()
    for position, source in enumerate(sources):
        SourceFactory(article=article, position=position, **{"url": "", **source})
    sign(article)
    return article


def test_a_retracted_study_is_marked_on_the_page_at_once_and_its_article_queued(
    site, client, editor, django_capture_on_commit_callbacks
):
    article = article_citing(
        {"title": "A shift-work trial", "doi": "10.5555/retracted"},
        {"title": "A guideline", "doi": "10.5555/sound"},
    )
    assert "This study was retracted" not in client.get(article.get_absolute_url()).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        report = citations.check()
    assert (report.dois, report.unanswered) == (2, [])

    finding = Finding.objects.get()
    assert (finding.article, finding.kind, finding.cited) == (
        article,
        "retracted",
        "10.5555/retracted",
    )
    assert str(finding.dated) == "2024-03-14"
    assert finding.detail == (
        "Crossref records a retraction on March 14, 2024 of 10.5555/retracted "
        "(notice: https://doi.org/10.5555/retraction-notice)."
    )
    page = client.get(article.get_absolute_url()).content.decode()
    items = re.findall(r"<li>(.*?)</li>", page.split('id="sources-heading"')[1], re.S)
    assert "This study was retracted on March 14, 2024." in items[0]
    assert "This study was retracted" not in items[1]
    listing = editor.get("/admin/articles/article/?review=findings").content.decode()
    assert article.title in listing and "1 finding to look at" in listing
    queue = editor.get("/admin/articles/finding/?open=1").content.decode()
    assert "A cited study was retracted" in queue


def staff_in(group: str, name: str):
    user = StaffFactory(username=name, email=f"{name}@halftime.example")
    user.groups.add(Group.objects.get(name=group))
    return user


def test_the_article_s_editor_is_emailed_the_run_s_findings_once(site, mail):
    eddie = staff_in("Editors", "eddie")
    staff_in("Editors", "olga")
    article = article_citing(
        {"title": "A shift-work trial", "doi": "10.5555/retracted"},
        {"title": "Gone", "url": f"{site.url}/pages/gone", "doi": ""},
        title="Sleep and testosterone",
    )
    text = workflow.newest_content(article)
    workflow.save_text(article, replace(text, body="## Sleep\n\nMore.\n"), by=eddie, note="x")
    workflow.request_review(article, by=eddie)
    notices.send_due()  # the reviewers' request
    mail.clear()

    citations.check()
    assert notices.send_due() == 1
    assert mail.to("olga@halftime.example") == []
    (told,) = mail.to("eddie@halftime.example")
    assert told.message["Subject"] == "Check the sources: Sleep and testosterone"
    assert "A cited study was retracted. Crossref records a retraction on March 14" in told.text
    assert "The page marks this study as retracted" in told.text
    assert f"A source's link is broken. The source's address answers 404: {site.url}" in told.text
    assert f"/admin/articles/finding/?article={article.pk}&open=1" in told.text

    citations.check()
    assert notices.send_due() == 0, "a finding is told once"


def test_findings_of_an_article_no_editor_asked_about_go_to_every_editor(site, mail):
    staff_in("Editors", "eddie"), staff_in("Editors", "olga")
    staff_in("Medical reviewers", "renata")
    article_citing({"title": "A cohort", "doi": "10.5555/corrected"}, title="Zinc")
    citations.check()
    assert notices.send_due() == 2
    for editor in ("eddie", "olga"):
        (told,) = mail.to(f"{editor}@halftime.example")
        assert "A cited study was corrected." in told.text
        assert "marks this study" not in told.text
    assert mail.to("renata@halftime.example") == []


def test_a_correction_queues_the_article_without_a_mark(site, client):
    article = article_citing({"title": "A cohort", "doi": "10.5555/corrected"})
    citations.check()
    finding = Finding.objects.get()
    assert (finding.kind, str(finding.dated)) == ("corrected", "2023-01-20")
    assert "This study was retracted" not in client.get(article.get_absolute_url()).content.decode()


def test_a_dead_address_queues_the_article_and_a_living_one_does_not(site):
    article = article_citing(
        {"title": "Gone", "url": f"{site.url}/pages/gone", "doi": ""},
        {"title": "Fine", "url": f"{site.url}/pages/ok", "doi": ""},
        {"title": "No HEAD", "url": f"{site.url}/pages/no-head", "doi": ""},
        {"title": "Down for now", "url": f"{site.url}/pages/broken", "doi": ""},
    )
    report = citations.check()
    assert [(f.article, f.kind, f.cited) for f in Finding.objects.all()] == [
        (article, "dead_link", f"{site.url}/pages/gone")
    ]
    assert report.unanswered == [f"{site.url}/pages/broken answered 503"], "asked again next run"
    asked = [(method, path) for method, path, _ in site.requests if path.startswith("/pages/")]
    assert ("GET", "/pages/no-head") in asked, "a server that refuses HEAD is asked with GET"


def test_an_unreachable_crossref_changes_nothing_and_the_next_run_finds_it(site, settings):
    article_citing({"title": "A shift-work trial", "doi": "10.5555/retracted"})
    settings.CROSSREF_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    report = citations.check()
    assert report.crossref_unreachable and not Finding.objects.exists()

    settings.CROSSREF_URL = site.url
    assert [f.kind for f in citations.check().found] == ["retracted"]


def test_a_finding_is_made_once_and_a_resolved_one_is_not_raised_again(site):
    article_citing({"title": "A shift-work trial", "doi": "10.5555/retracted"})
    citations.check()
    Finding.objects.update(resolved_at="2026-12-01T00:00:00Z")
    assert citations.check().found == []
    assert Finding.objects.count() == 1


def test_only_published_articles_are_checked_and_each_host_is_paced(site, settings):
    settings.CITATION_CHECK_PAUSE = 0.3
    article_citing({"title": "Draft", "url": f"{site.url}/pages/gone", "doi": ""}, draft=True)
    article_citing(
        {"title": "One", "url": f"{site.url}/pages/ok", "doi": ""},
        {"title": "Two", "url": f"{site.url}/pages/no-head", "doi": ""},
    )
    citations.check()
    assert not Finding.objects.exists()
    times = [when for _, path, when in site.requests]
    assert "/pages/gone" not in [path for _, path, _ in site.requests]
    assert all(later - earlier >= 0.29 for earlier, later in zip(times, times[1:], strict=False))


def test_an_unknown_doi_is_queued_to_be_checked(site):
    article_citing({"title": "Typo", "doi": "10.5555/no-such-work"})
    citations.check()
    assert Finding.objects.get().detail == (
        "Crossref does not know the DOI 10.5555/no-such-work: check that it is written right."
    )


def test_the_findings_page_asks_a_worker_to_check_now(editor):
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    broker.delete("default")
    response = editor.post("/admin/articles/finding/check/", follow=True)
    assert "Checking the citations of every published article" in response.content.decode()
    queued = [json.loads(raw)["headers"]["task"] for raw in broker.lrange("default", 0, -1)]
    assert queued == ["articles.tasks.check_citations"]
    assert editor.get("/admin/articles/finding/check/").status_code == 405


def test_the_reviewer_reading_the_text_sees_the_retraction_too(site, admin_client):
    article = article_citing({"title": "A shift-work trial", "doi": "10.5555/retracted"})
    citations.check()
    page = admin_client.get(f"/learn/{article.slug}/review/").content.decode()
    assert "This study was retracted on March 14, 2024." in page
