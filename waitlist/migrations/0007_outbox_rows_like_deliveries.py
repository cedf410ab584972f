from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("waitlist", "0006_heartbeat"),
    ]

    operations = [
        migrations.RenameField("outboundemail", "last_error", "answer"),
        migrations.AlterField(
            model_name="outboundemail",
            name="answer",
            field=models.CharField(
                blank=True, db_default="", help_text="The mail server's answer.", max_length=500
            ),
        ),
        migrations.AddField(
            model_name="outboundemail",
            name="esp_message_id",
            field=models.CharField(
                blank=True,
                db_default="",
                help_text="When sent through an ESP.",
                max_length=200,
                verbose_name="email service's id",
            ),
        ),
        migrations.AddField(
            model_name="outboundemail",
            name="not_before",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="outboundemail",
            name="attempts",
            field=models.PositiveSmallIntegerField(db_default=0),
        ),
        migrations.AlterField(
            model_name="outboundemail",
            name="message_id",
            field=models.CharField(blank=True, db_default="", max_length=200),
        ),
        migrations.AlterField(
            model_name="outboundemail",
            name="status",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("sending", "Sending"),
                    ("sent", "Sent"),
                    ("failed", "Failed"),
                    ("skipped", "Skipped"),
                ],
                db_default="queued",
                max_length=10,
            ),
        ),
    ]
