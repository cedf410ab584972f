import django.db.models.deletion
from django.contrib.auth.management import create_permissions
from django.db import migrations, models


def editors_write_updates(apps, schema_editor):
    """Editors write the Updates list; publishing a minor edit without review is a permission
    of its own, given to whom the company chooses."""
    app_config = apps.get_app_config("articles")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Permission = apps.get_model("auth", "Permission")
    granted = Permission.objects.filter(
        content_type__app_label="articles", content_type__model="articleupdate"
    )
    for editors in apps.get_model("auth", "Group").objects.filter(name="Editors"):
        editors.permissions.add(*granted)


class Migration(migrations.Migration):
    dependencies = [
        ("articles", "0005_people"),
        ("reversion", "0002_add_index_on_version_for_content_type_and_db"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="article",
            options={
                "ordering": ["-publish_at", "-id"],
                "permissions": [
                    (
                        "publish_minor_edit",
                        "Can publish a minor edit (typos, links) without a new review",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="ArticleUpdate",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("published_on", models.DateField()),
                ("note", models.CharField(max_length=300)),
                (
                    "article",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="updates",
                        to="articles.article",
                    ),
                ),
            ],
            options={
                "ordering": ["-published_on", "-id"],
            },
        ),
        migrations.CreateModel(
            name="ArticleRevision",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("draft", "Saved as a draft"),
                            ("published", "Published after medical review"),
                            ("review", "Medical review, text unchanged"),
                            ("details", "Details changed, text unchanged"),
                            ("minor", "Minor edit, published without review"),
                            ("pending", "Waiting for medical review"),
                        ],
                        max_length=10,
                    ),
                ),
                (
                    "reason",
                    models.CharField(
                        blank=True,
                        help_text="Why a minor edit went live without review.",
                        max_length=300,
                    ),
                ),
                (
                    "article",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="revisions",
                        to="articles.article",
                    ),
                ),
                (
                    "revision",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="article_revision",
                        to="reversion.revision",
                    ),
                ),
            ],
            options={
                "ordering": ["-revision_id"],
                "indexes": [
                    models.Index(
                        fields=["article", "-revision"], name="articles_ar_article_9b67be_idx"
                    )
                ],
            },
        ),
        migrations.RunPython(editors_write_updates, migrations.RunPython.noop),
    ]
