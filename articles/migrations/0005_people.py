import django.db.models.deletion
from django.contrib.auth.management import create_permissions
from django.db import migrations, models
from django.utils.text import slugify


def bylines_to_people(apps, schema_editor):
    """Each distinct "Name, credentials" string becomes one person (matched by name, ignoring
    case); every article points at its author and reviewer."""
    Article = apps.get_model("articles", "Article")
    Person = apps.get_model("articles", "Person")
    people = {}

    def person(byline):
        name, _, credentials = byline.partition(",")
        name, credentials = name.strip(), credentials.strip()
        if not name:
            return None
        if name.casefold() not in people:
            base = slugify(name) or "person"
            slug, n = base, 2
            while Person.objects.filter(slug=slug).exists():
                slug, n = f"{base}-{n}", n + 1
            people[name.casefold()] = Person.objects.create(
                name=name, credentials=credentials, slug=slug
            )
        return people[name.casefold()]

    for article in Article.objects.order_by("id"):
        article.author = person(article.author_name)
        article.reviewer = person(article.reviewer_name)
        article.save(update_fields=["author", "reviewer"])


def people_to_bylines(apps, schema_editor):
    Article = apps.get_model("articles", "Article")
    for article in Article.objects.select_related("author", "reviewer"):
        for field in ("author", "reviewer"):
            person = getattr(article, field)
            byline = ""
            if person is not None:
                byline = (
                    f"{person.name}, {person.credentials}" if person.credentials else person.name
                )
            setattr(article, f"{field}_name", byline)
        article.save(update_fields=["author_name", "reviewer_name"])


def editors_manage_people(apps, schema_editor):
    app_config = apps.get_app_config("articles")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    people = Permission.objects.filter(
        content_type__app_label="articles", content_type__model="person"
    )
    for editors in Group.objects.filter(name="Editors"):
        editors.permissions.add(*people)


class Migration(migrations.Migration):
    dependencies = [
        ("articles", "0004_no_stored_pages"),
    ]

    operations = [
        migrations.CreateModel(
            name="Person",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=120)),
                (
                    "slug",
                    models.SlugField(help_text="The page's address.", max_length=120, unique=True),
                ),
                (
                    "credentials",
                    models.CharField(
                        blank=True,
                        help_text='Letters after the name, e.g. "MD" or "MD, FACS".',
                        max_length=80,
                    ),
                ),
                (
                    "role",
                    models.CharField(
                        blank=True,
                        help_text='e.g. "Board-certified urologist", "Health writer".',
                        max_length=120,
                    ),
                ),
                (
                    "bio",
                    models.TextField(blank=True, help_text="A few sentences, in the third person."),
                ),
                (
                    "photo_url",
                    models.URLField(
                        blank=True,
                        help_text="The https address of a square photo.",
                        max_length=500,
                        verbose_name="photo",
                    ),
                ),
                (
                    "links",
                    models.TextField(
                        blank=True,
                        help_text="One address per line: a practice profile, a university page, LinkedIn.",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "people",
                "ordering": ["name"],
            },
        ),
        migrations.RemoveConstraint(
            model_name="article",
            name="article_reviewed_before_publishing",
        ),
        migrations.RenameField(model_name="article", old_name="author", new_name="author_name"),
        migrations.RenameField(model_name="article", old_name="reviewer", new_name="reviewer_name"),
        migrations.AddField(
            model_name="article",
            name="author",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="articles_written",
                to="articles.person",
            ),
        ),
        migrations.AddField(
            model_name="article",
            name="reviewer",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="articles_reviewed",
                to="articles.person",
                verbose_name="medical reviewer",
            ),
        ),
        migrations.AddField(
            model_name="article",
            name="content_updated_at",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="When what the public page says last changed (its visible Updated date).",
                null=True,
                verbose_name="content updated",
            ),
        ),
        migrations.RunPython(bylines_to_people, people_to_bylines),
        migrations.RunPython(editors_manage_people, migrations.RunPython.noop),
        migrations.RemoveField(model_name="article", name="author_name"),
        migrations.RemoveField(model_name="article", name="reviewer_name"),
        migrations.AddConstraint(
            model_name="article",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("status", "draft"),
                    models.Q(
                        ("reviewer__isnull", False),
                        ("last_reviewed__isnull", False),
                        ("publish_at__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="article_reviewed_before_publishing",
                violation_error_message="A published article needs a reviewer, a last-reviewed date and a publish date.",
            ),
        ),
    ]
