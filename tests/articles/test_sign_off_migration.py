"""The migration to sign-offs, from the schema before it: each reviewed article keeps its
reviewer and date as a sign-off of the text its page shows, a change that waited still waits,
and the history kept by django-reversion becomes the article's versions."""

import datetime as dt
import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from articles import workflow
from articles.content import Content
from articles.models import Article, SignOff

BEFORE = [("articles", "0006_revisions")]


def _kept(old, article, fields: dict, *, kind: str, comment: str, sources=()):
    """A django-reversion revision of `article` as the schema before wrote one."""
    Revision = old.get_model("reversion", "Revision")
    Version = old.get_model("reversion", "Version")
    ContentType = old.get_model("contenttypes", "ContentType")
    revision = Revision.objects.create(date_created=timezone.now(), comment=comment)
    rows = [("article", article.pk, fields)]
    rows += [("source", 100 + n, {"article": article.pk, **s}) for n, s in enumerate(sources)]
    for model, pk, data in rows:
        content_type, _ = ContentType.objects.get_or_create(app_label="articles", model=model)
        Version.objects.create(
            revision=revision,
            object_id=str(pk),
            content_type=content_type,
            db="default",
            format="json",
            serialized_data=json.dumps([{"model": f"articles.{model}", "pk": pk, "fields": data}]),
            object_repr=str(pk),
        )
    old.get_model("articles", "ArticleRevision").objects.create(
        revision=revision, article_id=article.pk, kind=kind
    )


@pytest.mark.django_db(transaction=True)
def test_reviewed_articles_keep_their_review_as_a_sign_off_of_their_text_and_waiting_changes_wait(
    client,
):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    OldArticle = old.get_model("articles", "Article")
    category = old.get_model("articles", "Category").objects.create(name="Sleep", slug="sleep")
    jane = old.get_model("articles", "Person").objects.create(
        name="Jane Doe", credentials="MD", slug="jane-doe"
    )
    common = {"category": category, "summary": "S.", "tldr": "A", "reviewer": jane}
    published = {"status": "published", "publish_at": timezone.now() - dt.timedelta(days=9)}
    with_change = OldArticle.objects.create(
        title="Dosing", slug="dosing", body="## Dose\n\n50 mg.\n",
        last_reviewed=dt.date(2026, 10, 1), **published, **common,
    )  # fmt: skip
    source = {"title": "A guideline", "authors": "", "publisher": "", "year": 2018, "url": "",
              "doi": "", "position": 0}  # fmt: skip
    old.get_model("articles", "Source").objects.create(article=with_change, **source)
    fields = {"title": "Dosing", "summary": "S.", "tldr": "A", "disclaimer": "",
              "body": "## Dose\n\n50 mg.\n"}  # fmt: skip
    _kept(old, with_change, fields, kind="published", comment="Published", sources=[source])
    waiting = {**fields, "body": "## Dose\n\n100 mg.\n"}
    _kept(old, with_change, waiting, kind="pending", comment="Edited", sources=[source])
    plain = OldArticle.objects.create(
        title="Sleep", slug="sleep", body="## Why\n\nBecause.\n",
        last_reviewed=dt.date(2026, 9, 1), **published, **common,
    )  # fmt: skip
    future = OldArticle.objects.create(
        title="Typed date", slug="typed", body="## Typed\n\nA date typed ahead.\n",
        last_reviewed=timezone.localdate() + dt.timedelta(days=200), **published, **common,
    )  # fmt: skip
    OldArticle.objects.create(title="Draft", slug="draft", status="draft", body="Notes.")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    dosing = Article.objects.get(slug="dosing")
    signed = dosing.sign_offs.get()
    assert (signed.reviewer.name, signed.reviewed_on, signed.via) == (
        "Jane Doe", dt.date(2026, 10, 1), SignOff.Via.CARRIED,
    )  # fmt: skip
    assert signed.digest == Content.of(dosing).digest == signed.version.digest
    assert (dosing.last_reviewed, dosing.status) == (dt.date(2026, 10, 1), "published")
    assert workflow.waiting(dosing) and dosing.stage == Article.Stage.DRAFT
    assert workflow.newest_content(dosing).body == "## Dose\n\n100 mg."
    assert [v.note for v in dosing.versions.order_by("pk")] == ["Published", "Edited"]

    sleep = Article.objects.get(slug="sleep")
    assert sleep.stage == Article.Stage.SIGNED and not workflow.waiting(sleep)
    assert sleep.sign_offs.get().digest == Content.of(sleep).digest
    typed = Article.objects.get(slug="typed")
    assert typed.last_reviewed == typed.sign_offs.get().reviewed_on == timezone.localdate()
    draft = Article.objects.get(slug="draft")
    assert draft.stage == Article.Stage.DRAFT and not draft.sign_offs.exists()
    assert draft.versions.count() == 1

    # (the schema before kept the rendered HTML; rows made here have none, so the text is read)
    assert Content.of(dosing).body == "## Dose\n\n50 mg."
    page = client.get("/learn/dosing/").content.decode()
    assert "100 mg." not in page and "Jane Doe, MD" in page
    assert plain.pk == sleep.pk and future.pk == typed.pk
