from django.contrib.auth.management import create_permissions
from django.db import migrations

OPERATOR_PERMISSIONS = [
    "view_subscriber", "change_subscriber", "view_consentrecord", "view_outboundemail",
    "view_dashboard", "view_campaign", "add_campaign", "change_campaign", "delete_campaign",
    "send_campaign", "view_delivery",
]  # fmt: skip


def create_operators_group(apps, schema_editor):
    app_config = apps.get_app_config("waitlist")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    operators, _ = Group.objects.get_or_create(name="Operators")
    operators.permissions.set(
        Permission.objects.filter(
            content_type__app_label="waitlist", codename__in=OPERATOR_PERMISSIONS
        )
    )


def remove_operators_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Operators").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("waitlist", "0003_campaigns"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_operators_group, remove_operators_group)]
