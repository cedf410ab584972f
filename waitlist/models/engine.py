"""The mail engine's rows: one email (or webhook) to one receiver (`Sendable`), how such rows
change status (`SendableQuerySet`), when each periodic task last finished (`Heartbeat`), who
runs each recipient domain's mailboxes (`MailDomain`) and how fast mail goes to them (`Pace`),
and the webhooks sent to other systems (`WebhookEndpoint`, `WebhookDelivery`)."""

import datetime as dt

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connections, models, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone


class SendStatus(models.TextChoices):
    """Where one email stands: the outbox and campaign deliveries share these."""

    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    # Not sent, waiting for an operator: a receiver refused our sender's authentication.
    HELD = "held", "Held"


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
        rows another is claiming instead of waiting for them. The rows are picked once, in a
        materialized `WITH`: as a plain `IN (…)` PostgreSQL may pick again for each row it
        updates, passing over those it has just claimed, and take more than `limit`."""
        now = timezone.now()
        with transaction.atomic(using=self.db):
            picked = self.due(now=now).select_for_update(skip_locked=True).values("pk")
            select, params = (picked[:limit] if limit else picked).query.sql_with_params()
            with connections[self.db].cursor() as cursor:
                cursor.execute(
                    f"WITH picked AS MATERIALIZED ({select})"
                    f" UPDATE {self.model._meta.db_table}"
                    " SET status = %s, claimed_at = %s, attempts = attempts + 1"
                    " WHERE status = %s AND id IN (SELECT pk FROM picked)"
                    " RETURNING id, subscriber_id",
                    [*params, SendStatus.SENDING, now, SendStatus.QUEUED],
                )
                return sorted(cursor.fetchall())

    def each_claimed(self, batch_size: int, *, order_by=("pk",), related=()):
        """Claim the due rows a batch at a time and yield each row (with its `related` rows),
        until a batch comes back short: for senders that handle rows one by one (webhooks,
        erasures)."""
        while True:
            claimed = self.claim(limit=batch_size)
            rows = self.model.objects.filter(pk__in=[row for row, _ in claimed])
            yield from rows.select_related(*related).order_by(*order_by)
            if len(claimed) < batch_size:
                return

    def renew(self) -> int:
        """Still being sent: the claim holds another lease."""
        return self.claimed().update(claimed_at=timezone.now())

    def mark_sent(self, sent: list[tuple[int, str, str]], *, answer: str = "accepted") -> int:
        """(row, Message-ID, the email service's id or "") of each message accepted."""
        esp_ids = [When(pk=row, then=Value(esp_id)) for row, _, esp_id in sent if esp_id]
        return self.filter(pk__in=[row for row, _, _ in sent]).update(
            status=SendStatus.SENT,
            sent_at=timezone.now(),
            answer=answer[:500],
            message_id=Case(*[When(pk=row, then=Value(message_id)) for row, message_id, _ in sent]),
            esp_message_id=Case(*esp_ids, default=F("esp_message_id")),
        )

    def mark_failed(self, answer: str) -> int:
        return self.update(status=SendStatus.FAILED, answer=answer[:500])

    def skip(self, answer: str = "") -> int:
        """No longer to be sent (the person left, the campaign was cancelled…)."""
        return self.update(status=SendStatus.SKIPPED, answer=answer[:500])

    def requeue(
        self, *, answer: str | None = None, wait: dt.timedelta | None = None, refund: bool = False,
        until: dt.datetime | None = None,
    ) -> int:  # fmt: skip
        """Back to the queue: tried again once `wait` has passed, or at `until` (at once if
        neither). `refund` gives back the attempt its claim took, when the failure was not the
        message's (the server was down, our sender was refused, the batch stopped)."""
        not_before = until or (wait and timezone.now() + wait)
        changes: dict = {"status": SendStatus.QUEUED, "not_before": not_before}
        if answer is not None:
            changes["answer"] = answer[:500]
        if refund:
            changes["attempts"] = F("attempts") - 1
        return self.update(**changes)

    def defer(self, *, answer: str, wait: dt.timedelta) -> int:
        """The server asked us to try later (it throttles, or the mailbox is busy): back to the
        queue after `wait`, the attempt given back and the deferral counted."""
        return self.update(
            status=SendStatus.QUEUED,
            not_before=timezone.now() + wait,
            answer=answer[:500],
            attempts=F("attempts") - 1,
            deferrals=F("deferrals") + 1,
        )

    def hold(self, answer: str) -> int:
        """Held back until an operator says (a receiver refused our sender): the attempt of a
        claimed row is given back."""
        return self.update(
            status=SendStatus.HELD,
            answer=answer[:500],
            attempts=Case(
                When(status=SendStatus.SENDING, then=F("attempts") - 1),
                default=F("attempts"),
                output_field=models.PositiveSmallIntegerField(),
            ),
        )

    def release_held(self) -> int:
        return self.filter(status=SendStatus.HELD).update(status=SendStatus.QUEUED, not_before=None)

    def retry(self) -> int:
        """Failed rows queued again with their attempts reset (an operator's Retry failed)."""
        return self.update(status=SendStatus.QUEUED, attempts=0, deferrals=0, not_before=None)


class Sendable(models.Model):
    """One email to one person, as the sender sees it: claimed, sent at most once, its outcome
    recorded. Database defaults, so rows can be made by one INSERT … SELECT naming few columns."""

    Status = SendStatus

    status = models.CharField(max_length=10, choices=Status, db_default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(db_default=0)
    # Times a server asked to try later (`defer`): they use no attempt.
    deferrals = models.PositiveSmallIntegerField(db_default=0)
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


class Heartbeat(models.Model):
    """When a periodic task last finished: proof that beat and a worker on its queue run."""

    task = models.CharField(max_length=50, primary_key=True)
    finished_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.task} at {self.finished_at:%Y-%m-%d %H:%M:%S}"


class Provider(models.TextChoices):
    """Who runs a recipient's mailbox, known from their domain's mail exchangers (MX)."""

    GOOGLE = "google", "Google"
    MICROSOFT = "microsoft", "Microsoft"
    YAHOO = "yahoo", "Yahoo and AOL"
    APPLE = "apple", "Apple"
    OTHER = "other", "Other"


class Pace(models.Model):
    """How fast campaign mail goes to one provider's mailboxes, across every worker. A new
    sending domain is throttled by each provider on its own terms: each gets its own rate and
    number of sessions, and the campaign's throughput is their sum."""

    provider = models.CharField(max_length=10, choices=Provider, primary_key=True)
    per_minute = models.PositiveIntegerField(
        "messages a minute",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="At most this many a minute, shared by every worker; empty: no limit of its "
        "own (the site's overall rate still holds).",
    )
    sessions = models.PositiveSmallIntegerField(
        "sessions at once",
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text="How many workers send to this provider at the same time.",
    )

    class Meta:
        ordering = ["provider"]
        verbose_name = "mailbox provider pace"

    def __str__(self) -> str:
        return Provider(self.provider).label


class MailDomain(models.Model):
    """A recipient domain's provider, looked up in DNS off the request path and kept for its
    records' lifetime (`expires_at`); looked up again after that."""

    domain = models.CharField(max_length=253, primary_key=True)
    provider = models.CharField(max_length=10, choices=Provider, default=Provider.OTHER)
    exchangers = models.CharField(
        max_length=500, blank=True, help_text="Its mail exchangers, the preferred first."
    )
    looked_up_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class WebhookEndpoint(models.Model):
    """A receiver of the clinic's (or any system's) webhooks: which events it wants, and the
    secret its deliveries are signed with (`engine.hooks`)."""

    class Event(models.TextChoices):
        SUBSCRIBER_CONFIRMED = "subscriber.confirmed", "A person confirmed their address"
        INVITATION_SENT = "invitation.sent", "An invitation's email was sent"
        INVITATION_ACTIVATED = "invitation.activated", "A person accepted their invitation"
        SUBSCRIBER_UNSUBSCRIBED = "subscriber.unsubscribed", "A person unsubscribed"
        SUBSCRIBER_ERASED = "subscriber.erased", "A person's data was erased"

    url = models.URLField(
        "URL", max_length=500, help_text="Where events are POSTed. Must be https in production."
    )
    secret = models.CharField(
        max_length=200,
        help_text="Shared with the receiver, who checks each delivery's signature with it.",
    )
    events = models.JSONField(default=list, help_text="The events it receives.")
    active = models.BooleanField(default=True, help_text="Untick to stop new deliveries.")
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["url"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.description or self.url


class WebhookDelivery(Sendable):
    """One event to one endpoint: written in the transaction of what happened, delivered by a
    worker, retried with backoff until the receiver answers 2xx. Its event id is the same on
    every attempt and every replay, so a receiver can tell a repeat."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    subscriber = models.ForeignKey(
        "Subscriber", on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    event_id = models.CharField(max_length=40)
    event = models.CharField(max_length=40, choices=WebhookEndpoint.Event)
    body = models.TextField(help_text="The JSON sent, byte for byte.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="one_event_per_endpoint")
        ]
        indexes = [models.Index(fields=["status", "not_before"])]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id} → {self.endpoint}"
