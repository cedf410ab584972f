"""From waitlist to patient: the states where the clinic may see people (`OpenState`), each
person's invitation and its lifecycle (`Invitation`), and the codes that let people in
(`AccessCode`)."""

import datetime as dt
import secrets

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models, transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Upper
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from django_fsm_log.models import StateLog

from .lifecycle import recorded
from .people import Subscriber, SubscriberQuerySet, USState


class InviteOrder(models.TextChoices):
    """Who an invitation wave invites first."""

    PLACE = "place", "Place on the list"
    REFERRALS = "referrals", "Referrals credited first, then place on the list"


class OpenStateQuerySet(models.QuerySet):
    def open_on(self, day: dt.date) -> "OpenStateQuerySet":
        return self.filter(opened_on__lte=day)

    def codes(self, day: dt.date | None = None) -> list[str]:
        """The states open on `day` (today in the site's zone)."""
        day = day or timezone.localdate()
        return list(self.open_on(day).values_list("state", flat=True))


class OpenState(models.Model):
    """A state whose patients the clinic's licensed clinicians can see, from `opened_on` on.
    Only people in an open state are ever invited."""

    state = models.CharField(max_length=2, choices=USState, primary_key=True)
    opened_on = models.DateField(
        "open from", help_text="The first day people in this state may be invited."
    )
    note = models.CharField(
        max_length=200, blank=True, help_text="For operators: the licence, the clinicians."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OpenStateQuerySet.as_manager()

    class Meta:
        ordering = ["state"]
        verbose_name = "open state"

    def __str__(self) -> str:
        return USState(self.state).label


def new_nonce() -> str:
    return secrets.token_hex(6)


# What an access code may be: anything else is no code.
ACCESS_CODE_SHAPE = r"[A-Za-z0-9][A-Za-z0-9-]{2,39}"


class AccessCode(models.Model):
    """A code many people may use (a partner clinic, an event): each use gives the person an
    invitation of their own, sent to their address, up to `limit` people until `expires_at`."""

    code = models.CharField(
        max_length=40,
        validators=[
            RegexValidator(
                rf"^{ACCESS_CODE_SHAPE}$",
                "Letters, digits and hyphens, 3 to 40 of them, starting with a letter or digit.",
            )
        ],
        help_text="What people type or follow: /start/CODE/. Not case-sensitive.",
    )
    label = models.CharField(max_length=120, help_text="For operators: who it is for.")
    limit = models.PositiveIntegerField(
        "people", validators=[MinValueValidator(1)], help_text="How many people it may let in."
    )
    used = models.PositiveIntegerField(default=0, editable=False)
    expires_at = models.DateTimeField("valid until")
    invitation_days = models.PositiveSmallIntegerField(
        "invitation lifetime (days)",
        default=14,
        validators=[MinValueValidator(1)],
        help_text="How long the personal invitation it sends stays valid.",
    )
    active = models.BooleanField(default=True, help_text="Untick to stop it at once.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(Upper("code"), name="access_code_unique_ci")]

    def __str__(self) -> str:
        return self.code

    def usable(self, now: dt.datetime | None = None) -> bool:
        return self.active and self.used < self.limit and (now or timezone.now()) < self.expires_at


class InvitationQuerySet(models.QuerySet):
    """Transitions of many invitations at once (a wave invites thousands, the sweep expires
    them): what each transition writes and logs, a chunk of rows per statement."""

    CHUNK = 2000

    def invite_many(
        self, people: list[int], *, now: dt.datetime, days: int, campaign, description: str
    ) -> int:
        """`Invitation.invite` by `campaign` for each of `people` (subscriber ids) who may be
        invited. Returns how many were."""
        status = Invitation.Status
        invited = 0
        for start in range(0, len(people), self.CHUNK):
            chunk = people[start : start + self.CHUNK]
            known = dict(self.filter(pk__in=chunk).values_list("pk", "status"))
            rows = [
                Invitation(
                    subscriber_id=pk,
                    status=status.INVITED,
                    campaign=campaign,
                    lifetime_days=days,
                    invited_at=now,
                )  # fmt: skip
                for pk in chunk
                if known.get(pk, status.WAITING) in (status.WAITING, status.EXPIRED)
            ]
            self.bulk_create([row for row in rows if row.pk not in known])
            self.bulk_update(
                [row for row in rows if row.pk in known],
                ["status", "campaign", "lifetime_days", "nonce", "invited_at", "expires_at",
                 "activated_at", "ended_at"],
            )  # fmt: skip
            sources = {row.pk: known.get(row.pk, status.WAITING) for row in rows}
            _log(sources, "invite", status.INVITED, now=now, description=description)
            invited += len(rows)
        return invited

    def expire_many(self, *, now: dt.datetime, description: str) -> int:
        """`Invitation.expire` for each invited row of this queryset. Returns how many."""
        status = Invitation.Status
        people = list(self.filter(status=status.INVITED).values_list("pk", flat=True))
        expired = 0
        for start in range(0, len(people), self.CHUNK):
            chunk = Invitation.objects.filter(
                pk__in=people[start : start + self.CHUNK], status=status.INVITED
            )
            with transaction.atomic():  # none of them is activated meanwhile
                moved = list(chunk.select_for_update().values_list("pk", flat=True))
                Invitation.objects.filter(pk__in=moved).update(status=status.EXPIRED, ended_at=now)
                sources = dict.fromkeys(moved, status.INVITED)
                _log(sources, "expire", status.EXPIRED, now=now, description=description)
            expired += len(moved)
        return expired


def _log(sources: dict[int, str], transition: str, target: str, *, now, description) -> None:
    """The log entries of a transition taken by the workers for many invitations:
    {subscriber id: the state each left}."""
    log_type = ContentType.objects.get_for_model(Invitation)
    StateLog.objects.bulk_create(
        StateLog(
            timestamp=now,
            source_state=source,
            state=target,
            transition=transition,
            content_type=log_type,
            object_id=pk,
            description=description,
        )  # fmt: skip
        for pk, source in sources.items()
    )


class Invitation(ConcurrentTransitionMixin, models.Model):
    """A person's way from the list to the clinic: waiting → invited → activated, or the
    invitation expired (and may come again) or was declined.

    Declared once here, like a campaign's lifecycle: these transitions are the only writers of
    `status`, each recorded with who took it and why (django-fsm-log). A wave invites many
    people at once through `invite_many`, which writes what `invite` writes for each."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        INVITED = "invited", "Invited"
        ACTIVATED = "activated", "Activated"
        EXPIRED = "expired", "Expired"
        DECLINED = "declined", "Declined"

    # One row a person: its history is in the transitions' log.
    subscriber = models.OneToOneField(
        Subscriber, on_delete=models.CASCADE, primary_key=True, related_name="invitation"
    )
    status = FSMField(max_length=10, choices=Status, default=Status.WAITING, protected=True)
    # The invitation wave (a campaign of kind "invitation") or the access code it came from.
    campaign = models.ForeignKey(
        "Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="invitations"
    )
    access_code = models.ForeignKey(
        AccessCode, on_delete=models.SET_NULL, null=True, blank=True, related_name="invitations"
    )
    # Part of the person's single-use code: a new invitation makes the old code dead.
    nonce = models.CharField(max_length=12, default=new_nonce, editable=False)
    lifetime_days = models.PositiveSmallIntegerField(default=14)
    invited_at = models.DateTimeField(null=True, blank=True)
    # From when the invitation email was sent, for `lifetime_days`; None until it is.
    expires_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(
        null=True, blank=True, help_text="When it expired or was declined."
    )

    objects = InvitationQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["campaign", "status"]),
            models.Index(fields=["status", "expires_at"]),
            models.Index(fields=["status", "invited_at"]),
        ]

    def __str__(self) -> str:
        return f"invitation of {self.subscriber}"

    @recorded
    @transition(field=status, source=[Status.WAITING, Status.EXPIRED], target=Status.INVITED)
    def invite(
        self, *, now: dt.datetime, days: int, campaign=None,
        access_code: AccessCode | None = None, expires_at: dt.datetime | None = None,
        by=None, description: str = "",
    ) -> None:  # fmt: skip
        """Invited by a wave (`campaign`) or through an access code; valid for `days` from
        when its email is sent (`expires_at`, once known)."""
        self.campaign, self.access_code, self.lifetime_days = campaign, access_code, days
        self.nonce, self.invited_at, self.expires_at = new_nonce(), now, expires_at
        self.activated_at = self.ended_at = None

    @recorded
    @transition(field=status, source=Status.INVITED, target=Status.ACTIVATED)
    def activate(self, *, now: dt.datetime, by=None, description: str = "") -> None:
        """The person used their code: the clinic takes it from here."""
        self.activated_at = now

    @recorded
    @transition(field=status, source=Status.INVITED, target=Status.EXPIRED)
    def expire(self, *, now: dt.datetime, by=None, description: str = "") -> None:
        """Its lifetime passed unused."""
        self.ended_at = now

    @recorded
    @transition(field=status, source=Status.INVITED, target=Status.DECLINED)
    def decline(self, *, now: dt.datetime, by=None, description: str = "") -> None:
        """The person said no thanks: no wave invites them again."""
        self.ended_at = now

    def expired(self, now: dt.datetime | None = None) -> bool:
        """Past its lifetime, whether or not the sweep has expired it yet."""
        if self.status == self.Status.EXPIRED:
            return True
        return self.expires_at is not None and (now or timezone.now()) >= self.expires_at


# --- whom a wave invites ----------------------------------------------------------------------
# "Place on the list" is the place each person sees (`Subscriber.position`): their number in
# the order of confirming, moved up by the referrals that counted. A wave's campaign is duck-typed
# here (its segment, capacity, order, lifetime): campaigns build on invitations.

# Whoever holds one of these is not invited again; an expired invitation may be renewed.
TAKEN = [Invitation.Status.INVITED, Invitation.Status.ACTIVATED, Invitation.Status.DECLINED]


def eligible(campaign, day: dt.date) -> SubscriberQuerySet:
    """The people the wave may invite on `day`, in no order."""
    states = OpenState.objects.codes(day)
    if campaign.audience_states:
        states = [state for state in states if state in campaign.audience_states]
    return (
        Subscriber.objects.mailable()
        .in_segment(
            interests=campaign.audience_interests, states=[], milestone=campaign.audience_milestone
        )  # fmt: skip
        .filter(state__in=states)
        .exclude(invitation__status__in=TAKEN)
    )


def picked(campaign, day: dt.date) -> tuple[str, list]:
    """SQL (and its parameters) selecting the ids of the people the wave invites on `day`, in
    its order: the place each person sees."""
    credited = (
        Subscriber.objects.filter(referred_by=OuterRef("pk"), referral_credited=True)
        .order_by()
        .values("referred_by")
        .annotate(n=Count("pk"))
        .values("n")
    )
    people = (
        eligible(campaign, day)
        .annotate(credited=Coalesce(Subquery(credited), 0))
        .values("id", "credited", "confirmed_number")
    )
    people_sql, people_params = people.query.sql_with_params()
    moved = f'e."confirmed_number" - {int(settings.REFERRAL_PLACES)} * e."credited"'
    place = f"CASE WHEN {moved} < 1 THEN 1 ELSE {moved} END"
    order = {
        InviteOrder.PLACE: f'{place}, e."confirmed_number"',
        InviteOrder.REFERRALS: f'e."credited" DESC, {place}, e."confirmed_number"',
    }[campaign.invite_order]
    sql = f'SELECT e."id" FROM ({people_sql}) e ORDER BY {order} LIMIT %s'
    return sql, [*people_params, campaign.invite_capacity or 0]


def wave_audience(campaign) -> SubscriberQuerySet:
    """Before it starts, whom the wave would invite today; once started, whom it invited and
    who has not yet used or let go of the invitation."""
    if campaign.status in ("draft", "scheduled"):
        day = timezone.localdate(max(campaign.send_at or timezone.now(), timezone.now()))
        return Subscriber.objects.filter(pk__in=RawSQL(*picked(campaign, day)))
    return Subscriber.objects.mailable().filter(
        invitation__campaign=campaign, invitation__status=Invitation.Status.INVITED
    )


def invite_wave(campaign, *, now: dt.datetime) -> int:
    """Invite the wave's people, in the caller's transaction (the dispatcher's start)."""
    picked_now = RawSQL(*picked(campaign, timezone.localdate(now)))
    people = list(Subscriber.objects.filter(pk__in=picked_now).values_list("pk", flat=True))
    return Invitation.objects.invite_many(
        people, now=now, days=campaign.invitation_days, campaign=campaign,
        description=f"Invited by the wave “{campaign.name}”.",
    )  # fmt: skip
