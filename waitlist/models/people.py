"""People on the list: who they are, what they consented to, the milestones they reached, and
the transactional emails sent to them."""

import hashlib
import secrets

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from .engine import Sendable


class Interest(models.TextChoices):
    TESTOSTERONE = "testosterone", "Testosterone"
    PEPTIDES = "peptides", "Peptides"
    WEIGHT = "weight", "Weight"
    SLEEP = "sleep", "Sleep"


class USState(models.TextChoices):
    AL = "AL", "Alabama"
    AK = "AK", "Alaska"
    AZ = "AZ", "Arizona"
    AR = "AR", "Arkansas"
    CA = "CA", "California"
    CO = "CO", "Colorado"
    CT = "CT", "Connecticut"
    DE = "DE", "Delaware"
    DC = "DC", "District of Columbia"
    FL = "FL", "Florida"
    GA = "GA", "Georgia"
    HI = "HI", "Hawaii"
    ID = "ID", "Idaho"
    IL = "IL", "Illinois"
    IN = "IN", "Indiana"
    IA = "IA", "Iowa"
    KS = "KS", "Kansas"
    KY = "KY", "Kentucky"
    LA = "LA", "Louisiana"
    ME = "ME", "Maine"
    MD = "MD", "Maryland"
    MA = "MA", "Massachusetts"
    MI = "MI", "Michigan"
    MN = "MN", "Minnesota"
    MS = "MS", "Mississippi"
    MO = "MO", "Missouri"
    MT = "MT", "Montana"
    NE = "NE", "Nebraska"
    NV = "NV", "Nevada"
    NH = "NH", "New Hampshire"
    NJ = "NJ", "New Jersey"
    NM = "NM", "New Mexico"
    NY = "NY", "New York"
    NC = "NC", "North Carolina"
    ND = "ND", "North Dakota"
    OH = "OH", "Ohio"
    OK = "OK", "Oklahoma"
    OR = "OR", "Oregon"
    PA = "PA", "Pennsylvania"
    RI = "RI", "Rhode Island"
    SC = "SC", "South Carolina"
    SD = "SD", "South Dakota"
    TN = "TN", "Tennessee"
    TX = "TX", "Texas"
    UT = "UT", "Utah"
    VT = "VT", "Vermont"
    VA = "VA", "Virginia"
    WA = "WA", "Washington"
    WV = "WV", "West Virginia"
    WI = "WI", "Wisconsin"
    WY = "WY", "Wyoming"


def email_hash(email: str) -> str:
    """What stays of an address after erasure: enough to keep it suppressed, not to read it."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def new_referral_code() -> str:
    return secrets.token_urlsafe(6)


def new_token_key() -> str:
    return secrets.token_hex(8)


# The campaign parameters a signup records (as utm_source, utm_medium and so on).
UTM_KEYS = ("source", "medium", "campaign", "term", "content")
UTM_FIELDS = tuple(f"utm_{key}" for key in UTM_KEYS)


class SubscriberQuerySet(models.QuerySet):
    def mailable(self) -> "SubscriberQuerySet":
        """Who may get launch updates: confirmed, with an address, never suppressed."""
        return self.filter(
            status=Subscriber.Status.CONFIRMED, suppressed_at__isnull=True, email__isnull=False
        )

    def in_segment(
        self, *, interests: list[str], states: list[str], milestone: "Milestone | None" = None
    ) -> "SubscriberQuerySet":
        """Anyone with any of `interests` (none: everyone), in any of `states` (none: all), who
        reached `milestone` (none: whoever)."""
        people = self
        if milestone is not None:
            people = people.filter(milestones_reached__milestone=milestone)
        if interests:
            any_interest = models.Q()
            for interest in interests:
                # The JSON list's text holds each interest in quotes: "sleep" never matches
                # "sleeping".
                any_interest |= models.Q(interests__icontains=f'"{interest}"')
            people = people.filter(any_interest)
        if states:
            people = people.filter(state__in=states)
        return people


class Subscriber(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending confirmation"
        CONFIRMED = "confirmed", "Confirmed"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        ERASED = "erased", "Erased"

    # NULL, not "", once erased: many erased rows must not collide on the unique address.
    email = models.EmailField(max_length=254, null=True, blank=True)  # noqa: DJ001
    # Unique and indexed through Meta: a field's own unique=True or db_index=True would also
    # give PostgreSQL a second, pattern-matching index that no query uses and every signup pays.
    email_hash = models.CharField(max_length=64, editable=False)
    # The address with plus-tags (and, at Gmail, dots) removed: one person, one referral credit.
    canonical_email_hash = models.CharField(max_length=64, editable=False)
    status = models.CharField(max_length=12, choices=Status, default=Status.PENDING)
    interests = models.JSONField(default=list, blank=True)
    state = models.CharField("US state", max_length=2, choices=USState, blank=True)

    source_article = models.ForeignKey(
        "articles.Article",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="signups",
    )
    placement = models.CharField(max_length=20, blank=True)
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    utm_term = models.CharField(max_length=100, blank=True)
    utm_content = models.CharField(max_length=100, blank=True)
    referrer_url = models.CharField(max_length=500, blank=True)

    referral_code = models.CharField(max_length=16, default=new_referral_code)
    referred_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="referrals"
    )
    referral_credited = models.BooleanField(
        default=False, help_text="This person's confirmation counted for whoever referred them."
    )
    referral_outcome = models.CharField(
        max_length=80, blank=True, editable=False,
        help_text="Whether the confirmation counted for the referrer, and if not, why.",
    )  # fmt: skip
    signup_ip = models.GenericIPAddressField(null=True, blank=True)
    # Part of every signed link; a new key (on erasure) makes every old link dead.
    token_key = models.CharField(max_length=16, default=new_token_key, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # Their number in the order people confirmed, from 1: the place on the list before
    # referrals (`waitlist/people/places.py`). Confirming again after leaving takes a new one.
    confirmed_number = models.PositiveBigIntegerField(
        "number in the order of confirming", null=True, blank=True, editable=False
    )
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    last_confirmation_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A hard bounce or a spam complaint: never mailed again, whatever the status says.
    suppressed_at = models.DateTimeField(null=True, blank=True)
    suppression_reason = models.CharField(max_length=40, blank=True)
    # The one reminder a signup that is not confirmed gets (waitlist/pending.py).
    reminded_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The last time they did something (confirmed, changed their preferences, brought a friend):
    # a journey can follow silence.
    last_active_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Why the person's data is gone: they asked, or they never confirmed.
    erasure_reason = models.CharField(max_length=60, blank=True, editable=False)
    # Their browser sent Global Privacy Control (Sec-GPC: 1) with a signup or a change of
    # preferences: an opt-out of any sale or sharing, for good (`SubscriberQuerySet.shareable`).
    gpc = models.BooleanField(
        "Global Privacy Control", default=False, db_default=False, editable=False,
        help_text="Their browser asked that their data never be sold or shared.",
    )  # fmt: skip

    objects = SubscriberQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="subscriber_email_unique_ci"),
            models.UniqueConstraint(fields=["email_hash"], name="subscriber_email_hash_unique"),
            models.UniqueConstraint(
                fields=["referral_code"], name="subscriber_referral_code_unique"
            ),
            # A signed link names its subscriber by this key.
            models.UniqueConstraint(fields=["token_key"], name="subscriber_token_key_unique"),
            models.UniqueConstraint(
                fields=["confirmed_number"], name="subscriber_confirmed_number_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(status="erased") | models.Q(email__isnull=False),
                name="subscriber_has_email_unless_erased",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "confirmed_at"]),
            models.Index(fields=["status", "last_active_at"], name="subscriber_last_active"),
            models.Index(fields=["canonical_email_hash"], name="subscriber_canonical_hash"),
            # Admin's list of one state's people, newest first, and its count.
            models.Index(fields=["state", "id"], name="subscriber_state"),
            # The dashboard: signups and confirmations of the last days, and top referrers.
            models.Index(fields=["created_at"], name="subscriber_created"),
            models.Index(fields=["confirmed_at"], name="subscriber_confirmed"),
            models.Index(
                fields=["referred_by"],
                condition=models.Q(referral_credited=True),
                name="subscriber_credited_referrer",
            ),
            # The confirmed people still to be numbered: those of a confirming transaction.
            models.Index(
                fields=["id"],
                condition=models.Q(status="confirmed", confirmed_number__isnull=True),
                name="subscriber_to_number",
            ),
        ]
        permissions = [
            ("import_subscribers", "Can import a list of subscribers from CSV"),
            ("export_subscribers", "Can export subscribers as CSV"),
            ("erase_subscribers", "Can erase subscribers' personal data"),
            ("view_dashboard", "Can view the waitlist dashboard"),
        ]

    def __str__(self) -> str:
        return self.email or f"erased subscriber #{self.pk}"

    def position(self) -> int | None:
        """Place on the list: max(1, their number in the order of confirming −
        REFERRAL_PLACES × credited referrals); two people can share a place. Read from two
        indexes, whatever the list's size."""
        if self.status != self.Status.CONFIRMED or self.confirmed_number is None:
            return None
        credited = settings.REFERRAL_PLACES * self.credited_referrals()
        return max(1, self.confirmed_number - credited)

    def credited_referrals(self) -> int:
        return self.referrals.filter(referral_credited=True).count()


class Counter(models.Model):
    """A number kept in one row, taken from under its lock: whoever changes it holds the row
    until their transaction ends, so what they took is theirs alone and nothing is skipped."""

    name = models.CharField(max_length=40, primary_key=True)
    value = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.value}"


class DashboardFigures(models.Model):
    """The dashboard's figures as last counted (`waitlist/people/dashboard.py`): the page reads
    this one row, whatever the list's size; a periodic job counts them again. Its tables name
    people by their id only: an erased address is never kept here."""

    counted_at = models.DateTimeField()
    seconds = models.FloatField(help_text="How long counting took.")
    figures = models.JSONField(encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name_plural = "dashboard figures"

    def __str__(self) -> str:
        return f"Dashboard figures counted at {self.counted_at:%Y-%m-%d %H:%M}"


class Milestone(models.Model):
    """A reward operators promise for confirmed referrals ("3 referrals: early access"). Reaching
    one is recorded and announced by email once; a campaign can go to the people who did."""

    referrals = models.PositiveSmallIntegerField(
        "confirmed referrals",
        validators=[MinValueValidator(1)],
        help_text="How many friends must join through the person's link and confirm.",
    )
    reward = models.CharField(
        max_length=80, help_text="What the person gets, as they read it: “Early access”."
    )
    details = models.TextField(
        max_length=500,
        blank=True,
        help_text="One or two sentences for the email and the referral page: what happens next.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["referrals"]
        constraints = [
            models.UniqueConstraint(fields=["referrals"], name="one_milestone_per_count"),
        ]

    def __str__(self) -> str:
        return f"{self.referrals} referral{'s' if self.referrals != 1 else ''}: {self.reward}"


class MilestoneReached(models.Model):
    """A person who reached a milestone, and when: the reward is theirs from then on."""

    subscriber = models.ForeignKey(
        "Subscriber", on_delete=models.CASCADE, related_name="milestones_reached"
    )
    milestone = models.ForeignKey(Milestone, on_delete=models.CASCADE, related_name="reached")
    reached_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name_plural = "milestones reached"
        ordering = ["reached_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "milestone"], name="one_reaching_per_milestone"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscriber} reached {self.milestone}"


class ConsentRecord(models.Model):
    """Proof of one act of consent: what the person was shown, when and from where they agreed,
    when they confirmed, and when they withdrew. Each purpose is consented to on its own: to the
    list (launch updates by email), and to the use of their interests, which are health data
    (`people.consent`)."""

    class Purpose(models.TextChoices):
        LIST = "list", "Launch updates by email"
        INTERESTS = "interests", "Interests used to choose updates (health data)"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="consents")
    # Python's default as well as the database's: a bulk insert stays one array per column.
    purpose = models.CharField(
        max_length=10, choices=Purpose, default=Purpose.LIST, db_default=Purpose.LIST
    )
    consent_version = models.CharField(max_length=20)
    consent_text = models.TextField()
    # Where consent was given, when it was given elsewhere (an imported list); blank: here.
    source = models.CharField(max_length=200, blank=True)
    signed_up_at = models.DateTimeField(default=timezone.now)
    signup_ip = models.GenericIPAddressField(null=True, blank=True)
    signup_user_agent = models.CharField(max_length=400, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirm_ip = models.GenericIPAddressField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    # The browser sent Global Privacy Control (Sec-GPC: 1) when consent was given.
    gpc = models.BooleanField("Global Privacy Control", default=False, db_default=False)

    class Meta:
        ordering = ["-signed_up_at", "-id"]
        # The ordering's own index: admin's list reads its first page, not every record.
        indexes = [models.Index(fields=["signed_up_at", "id"], name="consent_signed_up")]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()}: v{self.consent_version} of {self.subscriber}"


class OutboundEmail(Sendable):
    """The outbox: a transactional email is a row before any task is enqueued."""

    class Kind(models.TextChoices):
        CONFIRMATION = "confirmation", "Confirmation"
        WELCOME = "welcome", "Welcome (after confirming)"
        LINKS = "links", "Your links (a confirmed address entered again)"
        REMINDER = "reminder", "Reminder to confirm"
        RECONFIRM = "reconfirm", "Confirm again (an imported address without consent proof)"
        MILESTONE = "milestone", "Referral milestone reached"
        MOVED_UP = "moved_up", "Moved up (a referral counted)"
        INVITATION = "invitation", "Invitation (through an access code)"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="emails")
    consent = models.ForeignKey(
        ConsentRecord, on_delete=models.SET_NULL, null=True, blank=True, related_name="emails"
    )
    # The milestone a MILESTONE email announces (gone if an operator deleted it: not sent).
    milestone = models.ForeignKey(
        Milestone, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Kind)
    # The wording it was sent with (the version current when it was last rendered).
    wording = models.ForeignKey(
        "EmailWording", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"


class ListUpload(ConcurrentTransitionMixin, models.Model):
    """A list uploaded in admin: kept between its preview and its import (which a worker runs,
    on whichever server), its addresses dropped once imported; what it brought stays."""

    class Status(models.TextChoices):
        PREVIEWED = "previewed", "Previewed"
        IMPORTING = "importing", "Importing"
        IMPORTED = "imported", "Imported"
        FAILED = "failed", "Not imported"

    name = models.CharField(max_length=200)
    data = models.BinaryField()
    consent_source = models.CharField(max_length=200, blank=True)
    consent_wording = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    uploaded_at = models.DateTimeField(default=timezone.now)
    status = FSMField(max_length=10, choices=Status, default=Status.PREVIEWED, protected=True)
    expected = models.CharField(max_length=300, blank=True, help_text="What the preview said.")
    result = models.TextField(blank=True, help_text="What the import did, or why it did not.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at", "-pk"]

    def __str__(self) -> str:
        return self.name

    @transition(field=status, source=Status.PREVIEWED, target=Status.IMPORTING)
    def start(self) -> None:
        """The operator saw the preview and asked for the import."""

    @transition(field=status, source=Status.IMPORTING, target=Status.IMPORTED)
    def finish(self, summary: str) -> None:
        self.result, self.data, self.finished_at = summary, b"", timezone.now()

    @transition(field=status, source=Status.IMPORTING, target=Status.FAILED)
    def fail(self, problems: list[str]) -> None:
        self.result, self.data, self.finished_at = "\n".join(problems), b"", timezone.now()


class EmailWording(models.Model):
    """One version of what a transactional email says (its subject and Markdown wording),
    written by an operator in admin: each save is a new version, and every email sent records
    the version it used (`OutboundEmail.wording`), as part of the consent evidence."""

    kind = models.CharField(max_length=20, choices=OutboundEmail.Kind)
    version = models.PositiveIntegerField()
    subject = models.CharField(max_length=200)
    body = models.TextField(
        "wording", help_text="Markdown: # headings, **bold**, lists, links. {placeholders} below."
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )  # fmt: skip

    class Meta:
        ordering = ["kind", "-version"]
        verbose_name = "system email"
        constraints = [
            models.UniqueConstraint(fields=["kind", "version"], name="one_wording_per_version")
        ]

    def __str__(self) -> str:
        return f"{OutboundEmail.Kind(self.kind).label}, version {self.version}"
