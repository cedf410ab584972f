"""The data steps of migration 0007 (the review's sign-offs): the review each published
article carried becomes a sign-off of its current text, and the Medical reviewers group is made.
A module whose name starts with "_" is not a migration of its own."""

import hashlib
import json

import django.utils.timezone
from django.contrib.auth.management import create_permissions

TEXT_FIELDS = ("title", "summary", "tldr", "body", "disclaimer")
FAQ_FIELDS = ("question", "answer")
SOURCE_FIELDS = ("title", "authors", "publisher", "year", "url", "doi")


def _text(value):
    return (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def _data(fields, faqs, sources):
    """An article's text as articles.content.Content.as_data() has it, from plain values."""
    data = {name: _text(fields.get(name)) for name in TEXT_FIELDS}
    data["faqs"] = [{n: _text(f.get(n)) for n in FAQ_FIELDS} for f in faqs]
    data["sources"] = [
        {n: (s.get(n) if n == "year" else _text(s.get(n))) for n in SOURCE_FIELDS} for s in sources
    ]
    return data


def _digest(data):
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _ordered(rows):
    return sorted(rows, key=lambda row: (row.get("position") or 0, row.get("id") or 0))


def _from_revision(Version, revision_id, article_id):
    """The text of an article as a django-reversion revision kept it."""
    fields, faqs, sources = None, [], []
    for version in Version.objects.filter(revision_id=revision_id):
        for item in json.loads(version.serialized_data):
            values = {**item["fields"], "id": item["pk"]}
            if item["model"] == "articles.article" and item["pk"] == article_id:
                fields = values
            elif item["model"] == "articles.faq" and values.get("article") == article_id:
                faqs.append(values)
            elif item["model"] == "articles.source" and values.get("article") == article_id:
                sources.append(values)
    if fields is None:
        return None
    return _data(fields, _ordered(faqs), _ordered(sources))


def sign_off_what_was_reviewed(apps, schema_editor):
    """Every article's kept history becomes its versions; an article with a reviewer and a
    review date keeps them as a sign-off of the text its page shows now; a change that waited
    for review still waits."""
    Article = apps.get_model("articles", "Article")
    ArticleRevision = apps.get_model("articles", "ArticleRevision")
    ArticleVersion = apps.get_model("articles", "ArticleVersion")
    SignOff = apps.get_model("articles", "SignOff")
    Version = apps.get_model("reversion", "Version")
    today = django.utils.timezone.localdate()
    for article in Article.objects.all():
        kept = list(
            ArticleRevision.objects.filter(article=article)
            .select_related("revision")
            .order_by("revision_id")
        )
        waiting = []
        while kept and kept[-1].kind == "pending":
            waiting.insert(0, kept.pop())

        def add(data, *, article=article, by=None, at=None, note=""):
            return ArticleVersion.objects.create(
                article=article,
                data=data,
                digest=_digest(data),
                saved_by_id=by,
                saved_at=at or django.utils.timezone.now(),
                note=note[:300],
            )

        last = None
        for record in kept:
            data = _from_revision(Version, record.revision_id, article.pk)
            if data is not None:
                revision = record.revision
                last = add(
                    data, by=revision.user_id, at=revision.date_created, note=revision.comment
                )
        faqs = article.faqs.order_by("position", "id").values(*FAQ_FIELDS)
        sources = article.sources.order_by("position", "id").values(*SOURCE_FIELDS)
        current = _data({n: getattr(article, n) for n in TEXT_FIELDS}, faqs, sources)
        if last is None or last.digest != _digest(current):
            last = add(current, note="The text as it stood when sign-offs began to be kept.")
        reviewed = article.reviewer_id is not None and article.last_reviewed is not None
        if reviewed:
            on = min(article.last_reviewed, today)
            SignOff.objects.create(
                article=article,
                version=last,
                digest=last.digest,
                reviewer_id=article.reviewer_id,
                reviewed_on=on,
                via="carried",
            )
            article.last_reviewed = on
        changed = False
        for record in waiting:
            data = _from_revision(Version, record.revision_id, article.pk)
            if data is not None and data != last.data:
                revision = record.revision
                add(data, by=revision.user_id, at=revision.date_created, note=revision.comment)
                changed = True
        Article.objects.filter(pk=article.pk).update(
            stage="draft" if changed or not reviewed else "signed",
            last_reviewed=article.last_reviewed,
        )


def create_reviewers_group(apps, schema_editor):
    app_config = apps.get_app_config("articles")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    reviewers, _ = Group.objects.get_or_create(name="Medical reviewers")
    reviewers.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="articles",
            codename__in=["sign_off", "view_article", "view_person", "view_category"],
        )
    )


def forget_article_revisions(apps, schema_editor):
    """The permissions and content type of the model the versions replace."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="articles", model="articlerevision").delete()


def remove_reviewers_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Medical reviewers").delete()
