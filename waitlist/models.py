import datetime as dt
import hashlib
import secrets

import reversion
from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import connections, models, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description

from articles.rendering import render_markdown


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


class SendStatus(models.TextChoices):
    """Where one email stands: the outbox and campaign deliveries share these."""

    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


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
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    last_confirmation_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A hard bounce or a spam complaint: never mailed again, whatever the status says.
    suppressed_at = models.DateTimeField(null=True, blank=True)
    suppression_reason = models.CharField(max_length=40, blank=True)
    # The one reminder a signup that is not confirmed gets (waitlist/pending.py).
    reminded_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Why the person's data is gone: they asked, or they never confirmed.
    erasure_reason = models.CharField(max_length=60, blank=True, editable=False)

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
            models.CheckConstraint(
                condition=models.Q(status="erased") | models.Q(email__isnull=False),
                name="subscriber_has_email_unless_erased",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "confirmed_at"]),
            models.Index(fields=["canonical_email_hash"], name="subscriber_canonical_hash"),
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
        """Place on the list among confirmed people: max(1, rank − REFERRAL_PLACES × credited
        referrals), rank by when they confirmed; two people can share a place."""
        if self.status != self.Status.CONFIRMED or not self.confirmed_at:
            return None
        ahead = Subscriber.objects.filter(status=self.Status.CONFIRMED).filter(
            models.Q(confirmed_at__lt=self.confirmed_at)
            | models.Q(confirmed_at=self.confirmed_at, pk__lt=self.pk)
        )
        rank = ahead.count() + 1
        return max(1, rank - settings.REFERRAL_PLACES * self.credited_referrals())

    def credited_referrals(self) -> int:
        return self.referrals.filter(referral_credited=True).count()


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
    reached_at = models.DateTimeField()

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
    when they confirmed, and when they withdrew. Deleted only when the person is erased."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="consents")
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

    class Meta:
        ordering = ["-signed_up_at", "-id"]

    def __str__(self) -> str:
        return f"consent v{self.consent_version} of {self.subscriber}"


class SendableQuerySet(models.QuerySet):
    """The only ways an email's row changes status: claimed, marked sent, failed or skipped, and
    back to the queue (`requeue`)."""

    def queued(self) -> "SendableQuerySet":
        return self.filter(status=SendStatus.QUEUED)

    def claimed(self) -> "SendableQuerySet":
        return self.filter(status=SendStatus.SENDING)

    def failed(self) -> "SendableQuerySet":
        return self.filter(status=SendStatus.FAILED)

    def due(self, *, now: dt.datetime | None = None) -> "SendableQuerySet":
        """Queued, and not asked to wait past `now`."""
        now = now or timezone.now()
        return self.queued().filter(
            models.Q(not_before__isnull=True) | models.Q(not_before__lte=now)
        )

    def expired(self, lease: dt.timedelta) -> "SendableQuerySet":
        """Claimed longer than `lease` ago by a worker that never marked them: it died."""
        return self.claimed().filter(claimed_at__lt=timezone.now() - lease)

    def claim(self, *, limit: int | None = None) -> list[tuple[int, int]]:
        """Take the due rows (at most `limit`): (id, subscriber id) of each, by id. One
        statement; two workers never get the same row, and on PostgreSQL a worker passes over
        rows another is claiming instead of waiting for them."""
        now = timezone.now()
        with transaction.atomic(using=self.db):
            picked = self.due(now=now).select_for_update(skip_locked=True).values("pk")
            select, params = (picked[:limit] if limit else picked).query.sql_with_params()
            with connections[self.db].cursor() as cursor:
                cursor.execute(
                    f"UPDATE {self.model._meta.db_table}"
                    " SET status = %s, claimed_at = %s, attempts = attempts + 1"
                    f" WHERE status = %s AND id IN ({select}) RETURNING id, subscriber_id",
                    [SendStatus.SENDING, now, SendStatus.QUEUED, *params],
                )
                return sorted(cursor.fetchall())

    def renew(self) -> int:
        """Still being sent: the claim holds another lease."""
        return self.claimed().update(claimed_at=timezone.now())

    def mark_sent(self, sent: list[tuple[int, str, str]]) -> int:
        """(row, Message-ID, the email service's id or "") of each message accepted."""
        esp_ids = [When(pk=row, then=Value(esp_id)) for row, _, esp_id in sent if esp_id]
        return self.filter(pk__in=[row for row, _, _ in sent]).update(
            status=SendStatus.SENT,
            sent_at=timezone.now(),
            answer="accepted",
            message_id=Case(*[When(pk=row, then=Value(message_id)) for row, message_id, _ in sent]),
            esp_message_id=Case(*esp_ids, default=F("esp_message_id")),
        )

    def mark_failed(self, answer: str) -> int:
        return self.update(status=SendStatus.FAILED, answer=answer[:500])

    def skip(self, answer: str = "") -> int:
        """No longer to be sent (the person left, the campaign was cancelled…)."""
        return self.update(status=SendStatus.SKIPPED, answer=answer[:500])

    def requeue(
        self, *, answer: str | None = None, wait: dt.timedelta | None = None, refund: bool = False
    ) -> int:
        """Back to the queue: tried again once `wait` has passed (at once if None). `refund`
        gives back the attempt its claim took, when the failure was not the message's (the
        server was down, our sender was refused, the batch stopped)."""
        changes: dict = {"status": SendStatus.QUEUED, "not_before": wait and timezone.now() + wait}
        if answer is not None:
            changes["answer"] = answer[:500]
        if refund:
            changes["attempts"] = F("attempts") - 1
        return self.update(**changes)

    def retry(self) -> int:
        """Failed rows queued again with their attempts reset (an operator's Retry failed)."""
        return self.update(status=SendStatus.QUEUED, attempts=0, not_before=None)


class Sendable(models.Model):
    """One email to one person, as the sender sees it: claimed, sent at most once, its outcome
    recorded. Database defaults, so rows can be made by one INSERT … SELECT naming few columns."""

    Status = SendStatus

    status = models.CharField(max_length=10, choices=Status, db_default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(db_default=0)
    # Not to be tried again before this (after the server asked to try later, or was down).
    not_before = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=200, blank=True, db_default="")
    esp_message_id = models.CharField(
        "email service's id",
        max_length=200,
        blank=True,
        db_default="",
        help_text="When sent through an ESP.",
    )
    answer = models.CharField(
        max_length=500, blank=True, db_default="", help_text="The mail server's answer."
    )

    objects = SendableQuerySet.as_manager()

    class Meta:
        abstract = True


class OutboundEmail(Sendable):
    """The outbox: a transactional email is a row before any task is enqueued."""

    class Kind(models.TextChoices):
        CONFIRMATION = "confirmation", "Confirmation"
        WELCOME = "welcome", "Welcome (after confirming)"
        LINKS = "links", "Your links (a confirmed address entered again)"
        REMINDER = "reminder", "Reminder to confirm"
        RECONFIRM = "reconfirm", "Confirm again (an imported address without consent proof)"
        MILESTONE = "milestone", "Referral milestone reached"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="emails")
    consent = models.ForeignKey(
        ConsentRecord, on_delete=models.SET_NULL, null=True, blank=True, related_name="emails"
    )
    # The milestone a MILESTONE email announces (gone if an operator deleted it: not sent).
    milestone = models.ForeignKey(
        Milestone, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Kind)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"


class CampaignQuerySet(models.QuerySet):
    def archived(self) -> "CampaignQuerySet":
        """The public archive: updates that went out (or are going out), newest first."""
        return self.filter(
            in_archive=True,
            status__in=[Campaign.Status.SENDING, Campaign.Status.PAUSED, Campaign.Status.SENT],
        ).order_by("-started_at", "-pk")


def recorded(transition_method):
    """A transition whose `by` (a person; None for the workers) and `description` (why) go
    into its log entry (django-fsm-log)."""
    return fsm_log_by(fsm_log_description(transition_method))


# What an operator writes; restoring a revision leaves the rest (status, test, progress) at its
# defaults: a restored campaign is a draft that wants a new test.
@reversion.register(
    fields=[
        "name", "subject", "preheader", "body", "body_html", "audience_interests",
        "audience_states", "audience_milestone", "send_at", "local_time",
        "quiet_hours_override", "in_archive", "created_at", "updated_at",
    ]
)  # fmt: skip
class Campaign(ConcurrentTransitionMixin, models.Model):
    """A launch update: written and scheduled by an operator, sent by the workers.

    Its status is a state machine (django-fsm-2): the transitions below are the only way it
    changes, each is recorded with who or what took it and why (django-fsm-log), and a
    transition saved over a row that moved meanwhile is refused (ConcurrentTransitionMixin).
    `waitlist.campaigns.move` runs them."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        PAUSED = "paused", "Paused"
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled"

    name = models.CharField(max_length=120, help_text="For operators only; never shown.")
    subject = models.CharField(max_length=150)
    preheader = models.CharField(
        max_length=150, blank=True, help_text="The preview line inboxes show after the subject."
    )
    body = models.TextField(help_text="Markdown: ## headings, lists, links, **bold**.")
    body_html = models.TextField(editable=False, default="")
    audience_interests = models.JSONField(
        default=list, blank=True, help_text="Only people with any of these interests; none: all."
    )
    audience_states = models.JSONField(
        default=list, blank=True, help_text="Only people in these states; none: every state."
    )
    audience_milestone = models.ForeignKey(
        Milestone,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        help_text="Only people who reached this referral milestone; none: anyone.",
    )
    status = FSMField(max_length=10, choices=Status, default=Status.DRAFT, protected=True)
    send_at = models.DateTimeField(null=True, blank=True)
    local_time = models.BooleanField(
        "at this time in each recipient's time zone",
        default=False,
        help_text="09:00 reaches New York at 09:00 Eastern and California at 09:00 Pacific, on "
        "the send time's date; people who gave no state get the site's time zone.",
    )
    quiet_hours_override = models.BooleanField(
        "send in quiet hours",
        default=False,
        help_text="Let a local-time campaign leave between 21:00 and 08:00 in its recipients' "
        "zones (refused otherwise).",
    )
    in_archive = models.BooleanField(
        "in the public archive",
        default=True,
        help_text="Shown at /updates/ once it goes out, and linked from the email as “view in "
        "your browser”. Untick for an update meant for its audience alone.",
    )
    # Why the workers paused it by themselves (too many failures, our sender refused); cleared
    # on resume.
    pause_reason = models.CharField(max_length=600, blank=True, editable=False)
    test_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    # What the last test showed (Campaign.seen_version): a test stays valid until this changes.
    tested_version = models.CharField(max_length=64, blank=True, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "send_at"])]
        permissions = [("send_campaign", "Can test, schedule, pause, resume and cancel sending")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.body_html = render_markdown(self.body, breaks=True).html
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("waitlist:update", args=[self.pk])

    def seen_version(self) -> str:
        """A digest of what a recipient sees (sender, subject, preheader, body): a change to the
        schedule or the audience leaves it as it is."""
        seen = [settings.DEFAULT_FROM_EMAIL, self.subject, self.preheader, self.body]
        return hashlib.sha256("\x00".join(seen).encode()).hexdigest()

    def audience(self) -> SubscriberQuerySet:
        """Who it goes to: the mailable people of its segment."""
        return Subscriber.objects.mailable().in_segment(
            interests=self.audience_interests,
            states=self.audience_states,
            milestone=self.audience_milestone,
        )

    def has_failed_deliveries(self) -> bool:
        """Failed messages to people who may still be mailed: what Retry failed would send."""
        failed = self.deliveries.filter(status=SendStatus.FAILED)
        return failed.filter(subscriber__suppressed_at__isnull=True).exists()

    # The lifecycle. Schedule and Send now have their conditions checked by the preflight on
    # the confirmation page (`campaigns.preflight`), which says what is missing rather than
    # hiding the button.
    SEND_PERMISSION = "waitlist.send_campaign"

    @recorded
    @transition(
        field=status, source=Status.DRAFT, target=Status.SCHEDULED,
        permission=SEND_PERMISSION, custom={"label": "Schedule for the send time", "confirm": True},
    )  # fmt: skip
    def schedule(self, *, by=None, description: str = "") -> None:
        """Leave at its send time."""

    @recorded
    @transition(
        field=status, source=Status.DRAFT, target=Status.SCHEDULED,
        permission=SEND_PERMISSION, custom={"label": "Send now", "confirm": True},
    )  # fmt: skip
    def send_now(self, *, now: dt.datetime, by=None, description: str = "") -> None:
        """Leave at once: the dispatcher is asked to start it as soon as this commits."""
        self.send_at = now

    @recorded
    @transition(
        field=status, source=Status.SCHEDULED, target=Status.DRAFT,
        permission=SEND_PERMISSION, custom={"label": "Back to draft"},
    )  # fmt: skip
    def unschedule(self, *, by=None, description: str = "") -> None:
        """A draft again (an operator asked, or edited it)."""

    @recorded
    @transition(field=status, source=Status.SCHEDULED, target=Status.SENDING)
    def start(self, *, now: dt.datetime, by=None, description: str = "") -> None:
        """The dispatcher's: its send time came."""
        self.started_at = now

    @recorded
    @transition(
        field=status, source=Status.SENDING, target=Status.PAUSED,
        permission=SEND_PERMISSION, custom={"label": "Pause"},
    )  # fmt: skip
    def pause(self, *, reason: str = "", by=None, description: str = "") -> None:
        """Workers stop within a few messages and put their claimed rows back. `reason`: why
        the workers paused it by themselves, shown until it resumes."""
        self.pause_reason = reason

    @recorded
    @transition(
        field=status, source=Status.PAUSED, target=Status.SENDING,
        permission=SEND_PERMISSION, custom={"label": "Resume"},
    )  # fmt: skip
    def resume(self, *, by=None, description: str = "") -> None:
        self.pause_reason = ""

    @recorded
    @transition(field=status, source=Status.SENDING, target=Status.SENT)
    def finish(self, *, now: dt.datetime, by=None, description: str = "") -> None:
        """The workers': nothing is left to send."""
        self.finished_at = now

    @recorded
    @transition(
        field=status, source=[Status.SCHEDULED, Status.SENDING, Status.PAUSED],
        target=Status.CANCELLED, permission=SEND_PERMISSION,
        custom={"label": "Cancel the campaign"},
    )  # fmt: skip
    def cancel(self, *, now: dt.datetime, by=None, description: str = "") -> None:
        """Nothing more goes out."""
        self.finished_at = now

    @recorded
    @transition(
        field=status, source=[Status.SENDING, Status.PAUSED, Status.SENT],
        target=RETURN_VALUE(Status.SENDING, Status.PAUSED), permission=SEND_PERMISSION,
        conditions=[has_failed_deliveries], custom={"label": "Retry failed"},
    )  # fmt: skip
    def retry_failed(self, *, by=None, description: str = "") -> str:
        """Its failed messages are sent again: a sent campaign sends again, a paused one sends
        them when it resumes."""
        if self.status == self.Status.SENT:
            self.finished_at = None
            return self.Status.SENDING
        return self.status


class Delivery(Sendable):
    """One campaign to one person: created once, sent at most once, its outcome recorded."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="deliveries")

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "subscriber"], name="one_delivery_per_person"
            ),
        ]
        indexes = [models.Index(fields=["campaign", "status"])]

    def __str__(self) -> str:
        return f"{self.campaign} → {self.subscriber}"


class Heartbeat(models.Model):
    """When a periodic task last finished: proof that beat and a worker on its queue run."""

    task = models.CharField(max_length=50, primary_key=True)
    finished_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.task} at {self.finished_at:%Y-%m-%d %H:%M:%S}"
