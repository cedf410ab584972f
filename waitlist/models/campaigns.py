"""Launch updates: a campaign, its lifecycle, and one delivery row per person it goes to."""

import datetime as dt
import hashlib

import reversion
from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from articles.rendering import render_markdown

from .engine import Provider, Sendable, SendStatus
from .invites import InviteOrder, wave_audience
from .lifecycle import recorded
from .people import Milestone, Subscriber, SubscriberQuerySet


class CampaignQuerySet(models.QuerySet):
    def archived(self) -> "CampaignQuerySet":
        """The public archive: updates that went out (or are going out), newest first."""
        return self.filter(
            in_archive=True,
            status__in=[Campaign.Status.SENDING, Campaign.Status.PAUSED, Campaign.Status.SENT],
        ).order_by("-started_at", "-pk")


# What an operator writes; restoring a revision leaves the rest (status, test, progress) at its
# defaults: a restored campaign is a draft that wants a new test.
@reversion.register(
    fields=[
        "name", "subject", "preheader", "body", "body_html", "audience_interests",
        "audience_states", "audience_milestone", "send_at", "local_time",
        "quiet_hours_override", "in_archive", "invite_capacity", "invite_order",
        "invitation_days", "when_capped", "created_at", "updated_at",
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

    class Kind(models.TextChoices):
        UPDATE = "update", "Launch update"
        INVITATION = "invitation", "Invitation wave"
        JOURNEY = "journey", "Journey email"

    class WhenCapped(models.TextChoices):
        WAIT = "wait", "Wait for the person's next free slot"
        DROP = "drop", "Leave that person out"

    Order = InviteOrder

    # An invitation wave invites the first `invite_capacity` eligible people of its segment in
    # the open states when it starts (`invites.invite_wave`), and sends each their invitation.
    kind = models.CharField(max_length=10, choices=Kind, default=Kind.UPDATE, editable=False)
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
    invite_capacity = models.PositiveIntegerField(
        "people to invite",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="The wave invites at most this many: the first of its segment, in its order.",
    )
    invite_order = models.CharField(
        "order", max_length=10, choices=Order, default=Order.PLACE,
        help_text="Who is invited first.",
    )  # fmt: skip
    invitation_days = models.PositiveSmallIntegerField(
        "invitation lifetime (days)",
        default=14,
        validators=[MinValueValidator(1)],
        help_text="How long each invitation stays valid after its email is sent.",
    )
    when_capped = models.CharField(
        "over the frequency cap",
        max_length=4,
        choices=WhenCapped,
        default=WhenCapped.WAIT,
        help_text="For someone who already had as many emails this week as the cap allows "
        "(FREQUENCY_CAP_EMAILS in FREQUENCY_CAP_DAYS).",
    )
    # Why the workers paused it by themselves (too many failures, our sender refused); cleared
    # on resume.
    pause_reason = models.CharField(max_length=600, blank=True, editable=False)
    # While it starts, its rows are made a chunk at a time (`dispatch.make_rows`): the next
    # chunk is of the people numbered below this in the order of confirming. None once all
    # are made; nothing is sent before.
    rows_from = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    rows_made = models.PositiveIntegerField(default=0, editable=False)
    # Its figures as a worker last counted them (`waitlist/campaigns/figures.py`), and when.
    figures = models.JSONField(default=dict, blank=True, editable=False)
    counted_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Rows up to this place in the send order may go (`CampaignWave`); None: all of them.
    released_through = models.PositiveIntegerField(null=True, blank=True, editable=False)
    # Bounces and complaints are watched from here on: its start, or its last resume.
    watched_since = models.DateTimeField(null=True, blank=True, editable=False)
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
        """Who it goes to: the mailable people of its segment; for an invitation wave, whom it
        would invite now, and once started, whom it invited; for a journey's email, whom it
        was handed so far."""
        if self.kind == self.Kind.INVITATION:
            return wave_audience(self)
        if self.kind == self.Kind.JOURNEY:  # its journey hands it people as they come due
            return Subscriber.objects.filter(deliveries__campaign=self)
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
    def start(self, *, now: dt.datetime, rows_from: int, by=None, description: str = "") -> None:
        """The dispatcher's: its send time came. Its rows are made next, for the people
        numbered below `rows_from` (everyone confirmed by now)."""
        self.started_at = self.watched_since = now
        self.rows_from, self.rows_made = rows_from, 0

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
        self.watched_since = timezone.now()

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
    # The recipient's mailbox provider when the campaign started: whose pace it goes at.
    provider = models.CharField(max_length=10, choices=Provider, db_default=Provider.OTHER)
    # The recipient's place in the send order, 1 the most recently confirmed: the waves go out
    # by it (`CampaignWave`).
    position = models.PositiveIntegerField(null=True, blank=True)
    # Times it waited for the person's next free slot under the frequency cap.
    cap_waits = models.PositiveSmallIntegerField(db_default=0)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "subscriber"], name="one_delivery_per_person"
            ),
        ]
        # A lane's claim, the dispatcher's "anything due for this provider?", and counts by
        # status.
        indexes = [
            models.Index(fields=["campaign", "status", "provider"]),
            # The frequency cap: what a person was sent lately.
            models.Index(fields=["subscriber", "sent_at"], name="delivery_person_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} → {self.subscriber}"


class CampaignWave(models.Model):
    """Part of a campaign that leaves at a time of its own: its rows are those whose place in
    the send order is from `first` to `last`. The first wave of a large campaign is a canary;
    the next one leaves only if the canary's bounces and complaints stay under their limits
    (`gated`); a domain still warming up sends what each day allows, a wave a day."""

    class Kind(models.TextChoices):
        ALL = "all", "Everyone"
        CANARY = "canary", "Canary"
        REST = "rest", "After the canary"
        DAY = "day", "Warm-up day"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="waves")
    number = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=Kind)
    # Days after the campaign's start it leaves on (0: the first day).
    day = models.PositiveSmallIntegerField(default=0)
    first = models.PositiveIntegerField()
    last = models.PositiveIntegerField()
    leaves_at = models.DateTimeField()
    gated = models.BooleanField(default=False)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["campaign", "number"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "number"], name="one_wave_per_number")
        ]

    def __str__(self) -> str:
        return f"{self.campaign}: wave {self.number + 1}"

    @property
    def size(self) -> int:
        return self.last - self.first + 1


class WarmUp(models.Model):
    """The sending domain's warm-up: from its first day, each day may send what the plan
    allows (`campaigns.waves.allowance`). One row; no first day means the domain is warm."""

    first_day = models.DateField(
        "first day of sending",
        null=True,
        blank=True,
        help_text="The day this domain first sent (or will send) bulk mail. Empty: the domain "
        "is already warm, and a campaign goes to everyone on its first day.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "warm-up plan"

    def __str__(self) -> str:
        return "Warm-up plan"

    @classmethod
    def current(cls) -> "WarmUp":
        """The plan (unsaved, and warm, until an operator saves one)."""
        return cls.objects.order_by("pk").first() or cls()


class LearningDigest(models.Model):
    """A launch update drafted from the Learning Center's news: the articles signed off or
    published in (covers_from, covers_until]. The next digest starts where this one ended; a
    deleted draft takes its digest with it, so the next one covers its articles again."""

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="digest")
    covers_from = models.DateTimeField(null=True, blank=True)
    covers_until = models.DateTimeField()
    articles = models.ManyToManyField("articles.Article", related_name="+")

    class Meta:
        ordering = ["-covers_until", "-pk"]

    def __str__(self) -> str:
        return f"Learning Center digest until {self.covers_until:%Y-%m-%d %H:%M}"


class Journey(models.Model):
    """Emails that follow each person: after a trigger (they confirmed, reached a milestone…)
    each step waits its delay and sends its email, once a person, through the campaigns' ledger
    (each step's email is a campaign of kind "journey"). `waitlist.campaigns.journeys` runs
    them; switched off, its steps pause."""

    class Trigger(models.TextChoices):
        CONFIRMED = "confirmed", "They confirmed their address"
        MILESTONE = "milestone", "They reached a referral milestone"
        STATE_OPENED = "state_opened", "Their state opened"
        INVITED = "invited", "They were invited"
        EXPIRING = "expiring", "Their invitation expires in 48 hours"
        INACTIVE = "inactive", "Nothing from them (the step's delay is how long)"

    name = models.CharField(max_length=120)
    trigger = models.CharField(max_length=20, choices=Trigger)
    active = models.BooleanField(
        "switched on", default=False, editable=False,
        help_text="Only triggers from the moment it was switched on count.",
    )  # fmt: skip
    switched_on_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [("switch_journey", "Can switch a journey on and off")]

    def __str__(self) -> str:
        return self.name


class JourneyStep(models.Model):
    """One email of a journey: `delay` after the trigger, to the people of its campaign's
    segment. `scheduled_through`: the moment up to which the people due were handed to the
    engine."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="steps")
    delay = models.DurationField(help_text="After the trigger: 0 for at once, 3 days, …")
    campaign = models.OneToOneField(
        Campaign, on_delete=models.PROTECT, related_name="journey_step", editable=False
    )
    scheduled_through = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["journey", "delay", "pk"]

    def __str__(self) -> str:
        return f"{self.journey}: {self.campaign.subject}"
