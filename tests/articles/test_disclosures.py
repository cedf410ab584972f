"""Each article's disclosures: who wrote and reviewed it with their funding and conflicts of
interest (from their pages), whether it mentions our services, how AI was used, and the
corrections policy; none of it may be missing from a published article."""

import pytest
from django.core.management import call_command

from articles import workflow
from articles.importer import import_articles, import_people
from articles.models import Article, Person
from tests.articles.test_import import GOOD, problems_of, write
from tests.articles.test_review_admin import editor, reviewer  # noqa: F401
from tests.factories import ArticleFactory, PersonFactory, SourceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_page_cache(settings):
    settings.PAGE_CACHE_SECONDS = 0


def test_the_page_shows_each_disclosure(client):
    author = PersonFactory(
        name="Sam Writer", credentials="", funding="Employed by Halftime Health."
    )
    ada = PersonFactory(
        name="Ada Okafor", funding="Paid for each review.", conflicts="Holds shares in Pharmaco."
    )
    article = ArticleFactory(
        author=author,
        reviewer=ada,
        mentions_services=True,
        ai_used=True,
        ai_use="An AI tool suggested an outline; people wrote and checked every sentence.",
    )
    page = client.get(article.get_absolute_url()).content.decode()
    block = page[page.index('id="disclosures-heading"') :]
    assert "Employed by Halftime Health. Conflicts of interest: None" in block
    assert "Paid for each review. Conflicts of interest: Holds shares in Pharmaco." in block
    assert "This article mentions treatments or services that Halftime Health offers." in block
    assert "An AI tool suggested an outline; people wrote and checked every sentence." in block
    assert 'href="/learn/editorial-policy/#corrections"' in block
    policy = client.get("/learn/editorial-policy/").content.decode()
    assert 'id="corrections"' in policy


def test_an_article_without_its_disclosures_is_not_published():
    article = ArticleFactory(status=Article.Status.DRAFT, mentions_services=None, ai_used=True)
    with pytest.raises(workflow.ReviewError) as refused:
        workflow.publish(article, by=None)
    assert str(refused.value) == (
        "It needs to say whether it mentions Halftime Health's services, to say whether and "
        "how AI was used."
    )
    article.refresh_from_db()
    assert article.status == Article.Status.DRAFT


def test_a_person_without_conflicts_of_interest_holds_back_the_article():
    article = ArticleFactory(status=Article.Status.DRAFT)
    Person.objects.filter(pk=article.reviewer_id).update(conflicts="")
    article.refresh_from_db()
    with pytest.raises(workflow.ReviewError, match="its reviewer's conflicts of interest"):
        workflow.publish(article, by=None)


def test_a_review_is_asked_for_only_once_the_disclosures_are_filled(editor):  # noqa: F811
    article = ArticleFactory(draft=True, ai_used=None)
    SourceFactory(article=article)
    response = editor.post(
        f"/admin/articles/article/{article.pk}/step/request_review/", follow=True
    )
    assert "To request a review, it needs to say whether and how AI was used." in (
        response.content.decode()
    )
    article.refresh_from_db()
    assert article.stage == Article.Stage.DRAFT


def test_a_reviewer_signs_off_only_once_their_conflicts_are_on_their_page(editor, reviewer):  # noqa: F811
    article = ArticleFactory(draft=True)
    SourceFactory(article=article)
    editor.post(
        f"/admin/articles/article/{article.pk}/step/request_review/",
        {"reviewer": reviewer.person.pk},
    )
    Person.objects.filter(pk=reviewer.person.pk).update(conflicts="")
    response = reviewer.post(
        f"/learn/{article.slug}/review/",
        {"decision": "sign_off", "digest": workflow.newest(article).digest},
    )
    assert "Your conflicts of interest are not on your page yet" in response.content.decode()
    article.refresh_from_db()
    assert article.stage == Article.Stage.IN_REVIEW and article.last_reviewed is None


def test_the_import_takes_the_disclosures_and_refuses_a_bad_one_with_its_line(tmp_path):
    PersonFactory(name="Sam Writer", credentials="")
    PersonFactory(name="Jane Doe")
    text = GOOD.replace("mentions_services: no", "mentions_services: yes").replace(
        "ai_use: none", 'ai_use: "An AI tool checked the references."'
    )
    import_articles([write(tmp_path, "a.md", text)])
    article = Article.objects.get()
    assert (article.mentions_services, article.ai_used, article.ai_use) == (
        True,
        True,
        "An AI tool checked the references.",
    )
    bad = GOOD.replace("mentions_services: no", "mentions_services: sometimes")
    line = GOOD.splitlines().index("mentions_services: no") + 1
    path = write(tmp_path, "b.md", bad)
    assert f"{path}:{line}: 'mentions_services' must be yes or no, not 'sometimes'" in (
        problems_of(path)
    )
    missing = GOOD.replace("ai_use: none\n", "")
    path = write(tmp_path, "c.md", missing)
    status = GOOD.splitlines().index("status: published") + 1
    assert problems_of(path) == [
        f"{path}:{status}: a published article must pass medical review; it lacks 'ai_use'"
    ]


def test_people_are_imported_by_name_with_their_disclosures(tmp_path):
    path = tmp_path / "people.yaml"
    path.write_text(
        '- name: "Ada Okafor"\n  credentials: MD\n  slug: dr-ada\n  funding: "Paid per review."\n'
        '  conflicts: "None"\n  links: ["https://example.org/ada"]\n'
    )
    report = import_people(path)
    assert report.created == ["Ada Okafor"]
    ada = Person.objects.get()
    assert (ada.slug, ada.funding, ada.conflicts, ada.links) == (
        "dr-ada", "Paid per review.", "None", "https://example.org/ada",
    )  # fmt: skip
    path.write_text('- name: "ada okafor"\n  credentials: MD\n  conflicts: "Shares in Pharmaco."\n')
    assert import_people(path).updated == ["ada okafor"]
    ada.refresh_from_db()
    assert ada.conflicts == "Shares in Pharmaco." and ada.slug == "dr-ada"

    path.write_text('- name: "Bo"\n  conflict: "None"\n')
    with pytest.raises(Exception) as failure:
        call_command("import_people", str(path))
    assert "nothing imported" in str(failure.value)
    assert Person.objects.count() == 1
