import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from articles.content import Content
from articles.models import (
    FAQ,
    Article,
    ArticleVersion,
    Category,
    GlossaryTerm,
    Person,
    SignOff,
    Source,
)
from waitlist.models import Campaign, ConsentRecord, Subscriber, email_hash
from waitlist.people import consent, places
from waitlist.people.signup import canonical_email


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class StaffFactory(UserFactory):
    is_staff = True


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ["slug"]

    name = "Men's Health"
    slug = factory.LazyAttribute(lambda c: c.name.lower().replace("'", "").replace(" ", "-"))


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person
        django_get_or_create = ["slug"]

    name = "Jane Doe"
    credentials = "MD"
    conflicts = "None"
    slug = factory.LazyAttribute(lambda p: p.name.lower().replace(" ", "-"))


class ArticleFactory(factory.django.DjangoModelFactory):
    """A published, reviewed article with one source; `draft=True` for a bare draft."""

    class Meta:
        model = Article
        skip_postgeneration_save = True

    class Params:
        draft = factory.Trait(
            status=Article.Status.DRAFT,
            reviewer=None,
            last_reviewed=None,
            publish_at=None,
            with_source=False,
            stage=Article.Stage.DRAFT,
        )

    title = factory.Sequence(lambda n: f"Article {n}")
    slug = factory.Sequence(lambda n: f"article-{n}")
    category = factory.SubFactory(CategoryFactory)
    summary = "A short summary of the article."
    tldr = "First point\nSecond point"
    mentions_services = False
    ai_used = False
    body = "## What it is\n\nA paragraph about the subject.\n"
    author = factory.SubFactory(PersonFactory, name="Sam Writer", credentials="")
    reviewer = factory.SubFactory(PersonFactory)
    last_reviewed = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=10))
    next_review_due = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=300))
    status = Article.Status.PUBLISHED
    stage = Article.Stage.SIGNED
    publish_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))

    @factory.post_generation
    def with_source(article, create, extracted, **kwargs):  # noqa: N805
        """One source unless False; then its text kept as a version and, when it has a review
        line, signed off as it is."""
        if create:
            if extracted is not False:
                SourceFactory(article=article)
            sign(article)


def sign(article: Article) -> None:
    """Keep the article's text as it now stands as its newest version, signed off by its
    reviewer when it has one (a test that built FAQ or sources after the factory calls it)."""
    text = Content.of(article)
    version = ArticleVersion.objects.create(
        article=article, data=text.as_data(), digest=text.digest, note="Test fixture"
    )
    if article.reviewer_id and article.last_reviewed:
        SignOff.objects.create(
            article=article,
            version=version,
            digest=version.digest,
            reviewer=article.reviewer,
            reviewed_on=article.last_reviewed,
            via=SignOff.Via.CARRIED,
        )


class FAQFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FAQ

    article = factory.SubFactory(ArticleFactory)
    question = factory.Sequence(lambda n: f"Question {n}?")
    answer = "An answer."


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Source

    article = factory.SubFactory(ArticleFactory)
    title = "Testosterone Therapy in Men With Hypogonadism"
    authors = "Bhasin S, et al."
    publisher = "J Clin Endocrinol Metab"
    year = 2018
    doi = "10.1210/jc.2018-00229"


class GlossaryTermFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GlossaryTerm

    term = factory.Sequence(lambda n: f"term {n}")
    slug = factory.LazyAttribute(lambda t: t.term.lower().replace(" ", "-"))
    definition = "A plain-English definition."


class SubscriberFactory(factory.django.DjangoModelFactory):
    """A confirmed subscriber with a confirmed consent record."""

    class Meta:
        model = Subscriber
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    email_hash = factory.LazyAttribute(lambda s: email_hash(s.email))
    canonical_email_hash = factory.LazyAttribute(lambda s: email_hash(canonical_email(s.email)))
    status = Subscriber.Status.CONFIRMED
    confirmed_at = factory.LazyFunction(timezone.now)
    interests = factory.LazyFunction(list)  # kept only with their own consent
    state = "TX"

    @factory.post_generation
    def consent(subscriber, create, extracted, **kwargs):  # noqa: N805
        if create and extracted is not False:
            # Interests are kept only with their own consent.
            purposes = [consent.Purpose.LIST] + (
                [consent.Purpose.INTERESTS] if subscriber.interests else []
            )
            for purpose in purposes:
                ConsentRecord.objects.create(
                    subscriber=subscriber,
                    purpose=purpose,
                    consent_version=consent.current_version(purpose),
                    consent_text=consent.current_text(purpose),
                    confirmed_at=subscriber.confirmed_at,
                )

    @factory.post_generation
    def number(subscriber, create, extracted, **kwargs):  # noqa: N805
        """A confirmed person takes the next place, as confirming gives it."""
        if create and subscriber.status == Subscriber.Status.CONFIRMED:
            places.number_new([subscriber.pk])
            subscriber.refresh_from_db(fields=["confirmed_number"])


class CampaignFactory(factory.django.DjangoModelFactory):
    """A launch update to everyone on the list: a draft unless `status` says otherwise (set as
    a row found in that state, as a test's starting point)."""

    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Launch update {n}")
    subject = "We're live in your state"
    preheader = "Book your first visit"
    body = "## We're live\n\nYou can now book a visit."
