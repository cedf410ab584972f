"""What articles draw on: topics, the people who write and review them, the glossary."""

import reversion
from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.text import slugify

from ..rendering import split_lines


class Category(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("articles:topic", args=[self.slug])


class Person(models.Model):
    """An author or a medical reviewer, with a public page listing what they wrote or reviewed."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True, help_text="The page's address.")
    credentials = models.CharField(
        max_length=80, blank=True, help_text='Letters after the name, e.g. "MD" or "MD, FACS".'
    )
    role = models.CharField(
        max_length=120, blank=True, help_text='e.g. "Board-certified urologist", "Health writer".'
    )
    bio = models.TextField(blank=True, help_text="A few sentences, in the third person.")
    photo_url = models.URLField(
        "photo", max_length=500, blank=True, help_text="The https address of a square photo."
    )
    links = models.TextField(
        blank=True,
        help_text="One address per line: a practice profile, a university page, LinkedIn.",
    )
    funding = models.TextField(
        "employment and funding",
        blank=True,
        help_text='Who pays them, in a sentence a reader understands: e.g. "A staff physician at '
        "Halftime Health.\" Shown in each article's disclosures.",
    )
    conflicts = models.TextField(
        "conflicts of interest",
        blank=True,
        help_text="Payments, shares or roles with companies whose products or services the "
        'articles discuss; write "None" when there are none. An article is published only once '
        "its author's and its reviewer's are written.",
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="person",
        verbose_name="account",
        help_text="A medical reviewer's staff account: their sign-offs carry this page's name "
        "and credentials.",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return f"{self.name}, {self.credentials}" if self.credentials else self.name

    def get_absolute_url(self) -> str:
        return reverse("articles:person", args=[self.slug])

    @property
    def link_list(self) -> list[str]:
        return [
            line for line in split_lines(self.links) if line.startswith(("https://", "http://"))
        ]

    @classmethod
    def for_byline(cls, byline: str) -> "Person":
        """The person a "Name, credentials" string names (by name, ignoring case), made if new."""
        name, _, credentials = byline.partition(",")
        name, credentials = name.strip(), credentials.strip()
        person = cls.objects.filter(name__iexact=name).first()
        if person is None:
            person = cls.objects.create(
                name=name, credentials=credentials, slug=free_slug(cls, slugify(name) or "person")
            )
        return person


def free_slug(model, base: str) -> str:
    """`base`, or `base-2`, `base-3`… whichever no row of `model` has yet."""
    slug, n = base, 2
    while model.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@reversion.register()
class GlossaryTerm(models.Model):
    term = models.CharField(max_length=80)
    slug = models.SlugField(max_length=80, unique=True)
    definition = models.TextField(help_text="Plain English, one or two sentences.")
    aliases = models.CharField(
        max_length=200, blank=True, help_text="Other spellings that mean the same, comma-separated."
    )

    class Meta:
        ordering = [Lower("term")]
        constraints = [
            models.UniqueConstraint(Lower("term"), name="glossary_term_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.term

    def get_absolute_url(self) -> str:
        return reverse("articles:glossary") + f"#{self.slug}"

    @property
    def spellings(self) -> list[str]:
        return [self.term, *(a.strip() for a in self.aliases.split(",") if a.strip())]
