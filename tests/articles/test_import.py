import datetime as dt
import textwrap
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from articles import workflow
from articles.content import Content
from articles.importer import ImportFailed, import_articles
from articles.models import Article, Category
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def people_with_disclosures():
    """The people GOOD names, with the conflicts of interest publishing needs."""
    PersonFactory(name="Sam Writer", credentials="")
    PersonFactory(name="Jane Doe")


GOOD = """\
---
title: Reading a testosterone lab report
slug: reading-testosterone-labs
category: Men's Health
label: PRIME
summary: What total and free testosterone mean.
tldr:
  - Morning draws matter
  - Free and total differ
faq:
  - q: Why two draws?
    a: Levels vary from day to day.
sources:
  - title: Testosterone Therapy in Men With Hypogonadism
    authors: Bhasin S, et al.
    publisher: J Clin Endocrinol Metab
    year: 2018
    doi: 10.1210/jc.2018-00229
author: Sam Writer
reviewer: Jane Doe, MD
last_reviewed: 2026-10-01
next_review_due: 2027-10-01
status: published
publish_at: 2026-10-02T09:00:00-05:00
meta_description: How to read a testosterone lab report.
mentions_services: no
ai_use: none
---
## What it is

A lab report shows total testosterone.

| Marker | Meaning |
|---|---|
| Total T | All of it |
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(*paths: Path) -> list[str]:
    with pytest.raises(ImportFailed) as failure:
        import_articles(list(paths))
    return failure.value.problems


def test_import_creates_a_complete_published_article(tmp_path):
    report = import_articles([write(tmp_path, "a.md", GOOD)])
    assert report.created == ["reading-testosterone-labs"]
    article = Article.objects.get(slug="reading-testosterone-labs")
    assert article.is_public
    assert article.category.name == "Men's Health"
    assert article.tldr_items == ["Morning draws matter", "Free and total differ"]
    assert list(article.faqs.values_list("question", flat=True)) == ["Why two draws?"]
    assert article.sources.get().year == 2018
    assert '<div class="table-wrap"' in article.body_html
    assert article.publish_at.isoformat() == "2026-10-02T14:00:00+00:00"


def test_import_is_idempotent_by_slug(tmp_path):
    path = write(tmp_path, "a.md", GOOD)
    import_articles([path])
    first = Article.objects.get()
    report = import_articles([path])
    assert report.unchanged == ["reading-testosterone-labs"]
    again = Article.objects.get()
    assert again.pk == first.pk and again.updated_at == first.updated_at
    assert again.faqs.count() == 1 and again.sources.count() == 1
    assert Category.objects.count() == 1


def test_reimporting_a_changed_file_updates_in_place(tmp_path):
    import_articles([write(tmp_path, "a.md", GOOD)])
    changed = GOOD.replace("Why two draws?", "Why repeat the test?").replace(
        "last_reviewed: 2026-10-01", "last_reviewed: 2026-10-20"
    )  # a new text, reviewed again (else it would wait for review: see below)
    report = import_articles([write(tmp_path, "a.md", changed)])
    assert report.updated == ["reading-testosterone-labs"]
    article = Article.objects.get()
    assert list(article.faqs.values_list("question", flat=True)) == ["Why repeat the test?"]


def test_unknown_key_is_reported_with_file_line_and_a_suggestion(tmp_path):
    path = write(tmp_path, "typo.md", GOOD.replace("summary:", "sumary:"))
    assert problems_of(path) == [
        f"{path}:6: unknown key 'sumary' (did you mean 'summary'?)",
        f"{path}:23: a published article must pass medical review; it lacks 'summary'",
    ]


def test_invalid_yaml_is_reported_at_its_line(tmp_path):
    path = write(tmp_path, "bad.md", "---\ntitle: ok\nsummary: [unclosed\nslug: x\n---\nbody\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:4: invalid YAML")


def test_missing_front_matter_and_missing_title(tmp_path):
    no_front = write(tmp_path, "a.md", "# Just markdown\n")
    no_title = write(tmp_path, "b.md", "---\nslug: nameless\n---\nbody\n")
    assert problems_of(no_front, no_title) == [
        f"{no_front}:1: missing front matter: the file must start with a line '---'",
        f"{no_title}:1: 'title' is required",
    ]


def test_a_published_article_that_fails_review_is_refused_not_demoted(tmp_path):
    text = GOOD.replace("reviewer: Jane Doe, MD\n", "").replace(
        "sources:\n  - title: Testosterone Therapy in Men With Hypogonadism\n"
        "    authors: Bhasin S, et al.\n    publisher: J Clin Endocrinol Metab\n    year: 2018\n"
        "    doi: 10.1210/jc.2018-00229\n",
        "",
    )
    path = write(tmp_path, "a.md", text)
    (problem,) = problems_of(path)
    assert problem == (
        f"{path}:16: a published article must pass medical review; it lacks 'reviewer', "
        "at least one entry in 'sources'"
    )
    assert not Article.objects.exists()


def test_a_scheduled_article_needs_a_publish_date(tmp_path):
    text = GOOD.replace("status: published", "status: scheduled").replace(
        "publish_at: 2026-10-02T09:00:00-05:00\n", ""
    )
    path = write(tmp_path, "a.md", text)
    assert problems_of(path) == [f"{path}:23: a scheduled article needs 'publish_at'"]


def test_a_scheduled_article_imports_as_published_in_the_future(tmp_path):
    text = GOOD.replace("status: published", "status: scheduled").replace(
        "2026-10-02T09:00:00", "2099-01-01T09:00:00"
    )
    import_articles([write(tmp_path, "a.md", text)])
    article = Article.objects.get()
    assert article.state == "Scheduled" and not article.is_public


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        (
            "year: 2018",
            "year: eighteen",
            17,
            "a source's 'year' must be a year like 2018, not 'eighteen'",
        ),
        (
            "doi: 10.1210/jc.2018-00229",
            "url: javascript:alert(1)",
            18,
            "a source's 'url' must be http(s): 'javascript:alert(1)'",
        ),
        (
            "year: 2018",
            "yaer: 2018",
            17,
            "unknown key 'yaer' in a 'sources' entry (did you mean 'year'?)",
        ),
        (
            "doi: 10.1210/jc.2018-00229",
            "doi: 10.1210/jc.2018-00229\n    strength: D",
            19,
            "a source's 'strength' must be one of A, B, C, not 'D'",
        ),
        (
            "doi: 10.1210/jc.2018-00229",
            "doi: 10.1210/jc.2018-00229\n    kind: blog post",
            19,
            "a source's 'kind' must be one of guideline, review, trial, observational, case, "
            "opinion, other, not 'blog post'",
        ),
    ],
)
def test_bad_sources_are_reported_at_their_line(tmp_path, old, new, line, message):
    path = write(tmp_path, "a.md", GOOD.replace(old, new))
    assert problems_of(path) == [f"{path}:{line}: {message}"]


def test_a_source_s_grade_is_imported_and_may_be_left_out(tmp_path):
    graded = GOOD.replace(
        "    doi: 10.1210/jc.2018-00229\n",
        "    doi: 10.1210/jc.2018-00229\n    kind: Guideline\n    strength: a\n"
        "  - title: A second source, ungraded\n",
    )
    import_articles([write(tmp_path, "a.md", graded)])
    article = Article.objects.get()
    assert list(article.sources.values_list("title", "kind", "strength")) == [
        ("Testosterone Therapy in Men With Hypogonadism", "guideline", "A"),
        ("A second source, ungraded", "", ""),
    ]


def test_bad_dates_status_and_faq(tmp_path):
    text = (
        GOOD.replace("last_reviewed: 2026-10-01", "last_reviewed: last week")
        .replace("status: published", "status: live")
        .replace("    a: Levels vary from day to day.\n", "")
    )
    path = write(tmp_path, "a.md", text)
    assert problems_of(path) == [
        f"{path}:11: each 'faq' entry needs both 'q' and 'a'",
        f"{path}:20: 'last_reviewed' must be a date like 2026-03-31, not 'last week'",
        f"{path}:22: 'status' must be one of draft, scheduled, published",
    ]


def test_one_bad_file_means_nothing_is_imported(tmp_path):
    good = write(tmp_path, "good.md", GOOD)
    bad = write(tmp_path, "bad.md", "---\ntitle: Broken\nstatuss: draft\n---\n")
    problems = problems_of(good, bad)
    assert problems == [f"{bad}:3: unknown key 'statuss' (did you mean 'status'?)"]
    assert not Article.objects.exists()
    assert not Category.objects.exists()


def test_related_slugs_must_exist_in_the_batch_or_the_database(tmp_path):
    other = write(
        tmp_path,
        "b.md",
        "---\ntitle: Other\nslug: other\nrelated: [reading-testosterone-labs]\n---\n",
    )
    missing = write(tmp_path, "c.md", "---\ntitle: Third\nrelated: [nowhere]\n---\n")
    assert problems_of(missing) == [f"{missing}:3: related article 'nowhere' does not exist"]
    import_articles([write(tmp_path, "a.md", GOOD), other])
    assert list(Article.objects.get(slug="other").related.values_list("slug", flat=True)) == [
        "reading-testosterone-labs"
    ]


def test_the_same_slug_twice_in_one_batch_is_an_error(tmp_path):
    first = write(tmp_path, "a.md", "---\ntitle: One\nslug: same\n---\n")
    second = write(tmp_path, "b.md", "---\ntitle: Two\nslug: same\n---\n")
    assert problems_of(first, second) == [f"{second}:3: slug 'same' is also in {first}"]


def test_the_command_prints_each_problem_and_fails(tmp_path, capsys):
    bad = write(tmp_path, "bad.md", "---\ntitle: Broken\nstatuss: draft\n---\n")
    with pytest.raises(CommandError, match="nothing imported: 1 problem"):
        call_command("import_articles", str(bad))
    assert f"{bad}:3: unknown key 'statuss'" in capsys.readouterr().err


def test_the_command_imports_a_folder(tmp_path, capsys):
    write(tmp_path, "a.md", GOOD)
    call_command("import_articles", str(tmp_path))
    assert "1 created, 0 updated, 0 unchanged" in capsys.readouterr().out


def test_glossary_import_upserts_and_rerenders_articles(tmp_path, capsys):
    import_articles([write(tmp_path, "a.md", GOOD)])
    glossary = write(
        tmp_path,
        "glossary.yaml",
        "- term: Total testosterone\n  definition: All the testosterone in the blood\n"
        "  aliases: [total T]\n",
    )
    call_command("import_glossary", str(glossary))
    call_command("import_glossary", str(glossary))
    assert "0 created, 0 updated, 1 unchanged" in capsys.readouterr().out
    assert (
        "(in plain English: All the testosterone in the blood)" in Article.objects.get().body_html
    )


def test_glossary_import_reports_bad_entries_with_lines(tmp_path):
    glossary = write(tmp_path, "g.yaml", "- term: A\n  definition: B\n- term: C\n  defn: D\n")
    with pytest.raises(CommandError):
        call_command("import_glossary", str(glossary))


def test_shipped_sample_content_imports_cleanly_twice():
    root = Path(__file__).resolve().parents[2] / "content"
    call_command("import_glossary", str(root / "glossary.yaml"))
    call_command("import_people", str(root / "people.yaml"))
    first = import_articles(sorted((root / "articles").glob("*.md")))
    assert len(first.created) >= 3
    second = import_articles(sorted((root / "articles").glob("*.md")))
    assert second.created == [] and second.updated == []
    long_read = max(Article.objects.all(), key=lambda a: len(a.body_text))
    assert [e["text"] for e in long_read.toc if e["tier"]] == [
        "Fundamentals",
        "Intermediate",
        "Academic",
    ]
    assert long_read.sources.count() >= 8
    assert "<table>" in long_read.body_html and "<dfn" in long_read.body_html


def test_a_missing_or_binary_file_is_reported_not_raised(tmp_path):
    missing = tmp_path / "missing.md"
    binary = tmp_path / "binary.md"
    binary.write_bytes(b"\xff\xfe\x00bad")
    problems = problems_of(missing, binary)
    assert problems[0].startswith(f"{missing}:1: cannot read the file")
    assert problems[1].startswith(f"{binary}:1: cannot read the file")


def test_a_nul_character_is_reported_with_its_line_and_nothing_is_written(tmp_path):
    path = write(tmp_path, "nul.md", GOOD.replace("\n\n", "\n\nA line with a \x00.\n", 1))
    (problem,) = problems_of(path)
    line = path.read_text().split("\n").index("A line with a \x00.") + 1
    assert problem == f"{path}:{line}: a NUL character (0x00); no text may hold one"
    assert not Article.objects.exists()


def test_a_review_dated_in_the_future_is_refused_with_its_line(tmp_path):
    ahead = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    text = GOOD.replace("last_reviewed: 2026-10-01", f"last_reviewed: {ahead}")
    assert problems_of(write(tmp_path, "a.md", text)) == [
        f"{tmp_path / 'a.md'}:21: 'last_reviewed' is {ahead}, in the future: a review is "
        "dated the day it was done"
    ]
    assert not Article.objects.exists()


def test_a_changed_file_with_a_newer_review_signs_it_off_naming_the_operator(tmp_path):
    import_articles([write(tmp_path, "a.md", GOOD)], operator="ops-anna")
    article = Article.objects.get()
    first = article.sign_offs.get()
    assert (first.via, first.operator, first.reviewed_on) == (
        "import",
        "ops-anna",
        dt.date(2026, 10, 1),
    )
    newer = GOOD.replace("A lab report shows", "A lab report lists").replace(
        "last_reviewed: 2026-10-01", "last_reviewed: 2026-11-15"
    )
    import_articles([write(tmp_path, "a.md", newer)], operator="ops-ben")
    article.refresh_from_db()
    assert "A lab report lists" in article.body_html and not workflow.waiting(article)
    latest = article.sign_offs.first()
    assert (latest.operator, latest.reviewed_on, latest.digest) == (
        "ops-ben", dt.date(2026, 11, 15), Content.of(article).digest,
    )  # fmt: skip
    assert workflow.log(article).first().description == "Imported by ops-ben"


def test_a_changed_file_with_the_same_review_date_waits_for_sign_off(tmp_path):
    import_articles([write(tmp_path, "a.md", GOOD)])
    changed = GOOD.replace("A lab report shows", "A lab report lists")
    report = import_articles([write(tmp_path, "a.md", changed)])
    assert report.pending == ["reading-testosterone-labs"]
    article = Article.objects.get()
    assert "A lab report shows" in article.body_html and workflow.waiting(article)
    assert "A lab report lists" in workflow.newest_content(article).body
    assert article.sign_offs.count() == 1
