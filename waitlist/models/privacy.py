"""Health privacy: the condition words that never leave the site outside a message's body
(`DiscreetWord`), and each erasure passed on to the email service (`ProcessorErasure`)."""

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from .engine import Sendable


class DiscreetWord(models.Model):
    """A word that would tell what someone's health is about: it may appear in a message's body,
    never in its sender's name, subject, preheader, headers or link paths, in what the email
    service or a webhook receiver is sent, or in a campaign's name (`engine.discreet`)."""

    word = models.CharField(
        max_length=60,
        help_text="A word or phrase (“hair loss”). Written all in capitals (“ED”, “TRT”) it "
        "matches only in capitals; otherwise in any case. Hyphens, dots and spaces match each "
        "other, so “hair loss” also finds /hair-loss/ in a link.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = [Lower("word")]
        verbose_name = "discreet word"
        constraints = [models.UniqueConstraint(Lower("word"), name="discreet_word_unique_ci")]

    def __str__(self) -> str:
        return self.word


class ProcessorErasure(Sendable):
    """An erasure told to the email service, which keeps addresses in lists of its own: a row
    written in the erasure's transaction, sent by a worker to the service's suppression API and
    retried until it answers (`engine.processors`). The address is kept only until then. Over
    SMTP there is no such list: the row says so and carries no address."""

    subscriber = models.ForeignKey(
        "Subscriber", on_delete=models.CASCADE, related_name="processor_erasures"
    )
    processor = models.CharField(
        max_length=30, blank=True, help_text="The email service (EMAIL_ESP); blank: SMTP."
    )
    # NULL once the service confirmed, or when there is no one to tell.
    email = models.EmailField(max_length=254, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "erasure told to the email service"
        verbose_name_plural = "erasures told to the email service"
        indexes = [models.Index(fields=["status", "not_before"], name="erasure_status_due")]

    def __str__(self) -> str:
        return f"Erasure of subscriber #{self.subscriber_id} at {self.processor or 'SMTP'}"
