from django.contrib.auth.management import create_permissions
from django.contrib.postgres.indexes import GinIndex
from django.db import migrations

import articles.models

SEARCH_INDEX = GinIndex(articles.models.search_document(), name="article_search_idx")


class PostgresOnlyAddIndex(migrations.AddIndex):
    """The full-text index exists only on PostgreSQL; SQLite's search is a plain fallback."""

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            model = to_state.apps.get_model(app_label, self.model_name)
            schema_editor.add_index(model, self.index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            model = from_state.apps.get_model(app_label, self.model_name)
            schema_editor.remove_index(model, self.index)


def create_editors_group(apps, schema_editor):
    app_config = apps.get_app_config("articles")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    editors, _ = Group.objects.get_or_create(name="Editors")
    editors.permissions.set(Permission.objects.filter(content_type__app_label="articles"))


def remove_editors_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Editors").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("articles", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        PostgresOnlyAddIndex(model_name="article", index=SEARCH_INDEX),
        migrations.RunPython(create_editors_group, remove_editors_group),
    ]
