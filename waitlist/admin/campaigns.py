"""Admin for campaigns: the form, the console's pages (`actions.console`) and the delivery
log."""

import datetime as dt
from functools import partial

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import (
    HttpRequest,
    HttpResponseRedirect,
)
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from articles.editor import MarkdownPreviewMixin
from articles.history import HistoryAdmin
from articles.rendering import render_markdown

from .. import heartbeats
from ..campaigns import actions, console, digest, figures, lifecycle, waves
from ..engine import paces
from ..models import (
    Campaign,
    Delivery,
    Interest,
    MailDomain,
    Pace,
    USState,
    WarmUp,
)
from .people import ReadOnlyAdmin

# What is sending or sent is history: only the console's steps still act on it.
EDITABLE = (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED)


class CampaignForm(forms.ModelForm):
    audience_interests = forms.MultipleChoiceField(
        choices=Interest.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only people with any of these interests; none ticked: everyone.",
    )
    audience_states = forms.MultipleChoiceField(
        choices=USState.choices,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 10}),
        help_text="Only people in these states; none chosen: every state.",
    )

    class Meta:
        model = Campaign
        fields = [
            "name", "subject", "preheader", "body", "audience_interests", "audience_states",
            "audience_milestone", "send_at", "local_time", "quiet_hours_override", "in_archive",
            "invite_capacity", "invite_order", "invitation_days", "when_capped",
        ]  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "when_capped" in self.fields:  # left out of a form: it waits, the default
            self.fields["when_capped"].required = False
        if "invite_capacity" in self.fields:  # an invitation wave's form
            self.fields["invite_capacity"].required = True
            self.fields["audience_states"].help_text = (
                "Only people in these states; none chosen: every open state. A wave never "
                "invites anyone outside a state open on its day."
            )

    def clean_when_capped(self) -> str:
        return self.cleaned_data.get("when_capped") or Campaign.WhenCapped.WAIT


# The invitation an operator starts from: each person's link to accept is added below it.
INVITATION_SUBJECT = "You're invited: {site} is open in your state"
INVITATION_BODY = """## Your place has come up

We're now open in your state, and you're one of the first people on the list we're inviting.

**What happens next:** accept your invitation with the button below. Our care team then helps
you set up your patient account and book a first visit with a clinician licensed in your state.
"""


@admin.register(Campaign)
class CampaignAdmin(MarkdownPreviewMixin, HistoryAdmin):
    recover_deleted = False  # a deleted campaign's deliveries are gone with it
    markdown_fields = ["body"]
    change_list_template = "admin/waitlist/campaign/change_list.html"
    form = CampaignForm
    list_display = [
        "name", "kind", "status", "send_at", "progress_bar", "started_at", "finished_at",
    ]  # fmt: skip
    list_filter = ["kind", "status"]
    search_fields = ["name", "subject"]
    readonly_fields = ["status", "test_sent_at", "started_at", "finished_at"]
    change_form_template = "admin/waitlist/campaign/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "status"]}),
        ("Message", {"fields": ["subject", "preheader", "body", "in_archive"]}),
        ("Audience", {"fields": ["audience_interests", "audience_states", "audience_milestone"]}),
        (
            "Schedule",
            {
                "fields": [
                    "send_at",
                    "local_time",
                    "quiet_hours_override",
                    "when_capped",
                    "test_sent_at",
                    "started_at",
                    "finished_at",
                ]
            },
        ),
    ]

    def view_on_site(self, campaign: Campaign) -> str | None:
        """Its page in the public archive, for an update in it; an invitation or a journey's
        email has none."""
        return campaign.get_absolute_url() if campaign.in_archive else None

    @admin.display(description="progress")
    def progress_bar(self, campaign: Campaign) -> str:
        if campaign.status == Campaign.Status.SENDING:
            figures.ask_for_count(campaign)
        counts = figures.progress(campaign)
        if not counts["total"]:
            return "–"
        return format_html(
            '<progress max="100" value="{}"></progress> {}%', counts["percent"], counts["percent"]
        )

    def render_preview(self, source: str) -> str:
        return render_markdown(source, breaks=True).html

    def save_model(self, request, obj, form, change):
        if not change:
            obj.kind = self.kind(request)
            if obj.kind == Campaign.Kind.INVITATION:
                obj.in_archive = False  # an invitation is for its person alone
        # What was confirmed is what goes out: a scheduled campaign that changes is a draft
        # again, to be tested (if the recipients would see a change) and confirmed anew.
        if (
            change
            and obj.status == Campaign.Status.SCHEDULED
            and form.has_changed()
            and not self._follows_people(obj)
        ):
            lifecycle.move(obj, "unschedule", by=request.user, why="Edited while scheduled.")
            self.message_user(
                request,
                "It was scheduled: changed, it is a draft again. Check it and schedule it anew.",
                messages.WARNING,
            )
        super().save_model(request, obj, form, change)

    @admin.display(description="audience")
    def audience_label(self, campaign: Campaign) -> str:
        return actions.audience_label(campaign)

    def kind(self, request, obj=None) -> str:
        """An invitation wave or a launch update: the row's, or for a new one, the add link's."""
        if obj is not None:
            return obj.kind
        asked = request.GET.get("kind")
        return asked if asked in Campaign.Kind.values else Campaign.Kind.UPDATE

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        if self.kind(request) == Campaign.Kind.INVITATION:
            initial.setdefault("subject", INVITATION_SUBJECT.format(site=settings.SITE_NAME))
            initial.setdefault("body", INVITATION_BODY)
        return initial

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self.kind(request, obj) == Campaign.Kind.INVITATION:
            fieldsets = [
                (
                    name,
                    {
                        **options,
                        "fields": [
                            f for f in options["fields"] if f not in ("in_archive", "when_capped")
                        ],
                    },
                )
                for name, options in fieldsets
            ]
            fieldsets.insert(3, ("Invitations", {
                "fields": ["invite_capacity", "invite_order", "invitation_days"],
                "description": "When it starts, the wave invites the first people of its "
                "segment who live in an open state and have no invitation open, used or "
                "declined, and sends each their own link to accept.",
            }))  # fmt: skip
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        # Read only: the audience in words, not the lists it is stored as.
        return [
            (name, {**options, "fields": ["audience_label"]} if name == "Audience" else options)
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "audience_label"]

    def revision_view(self, request, object_id, version_id, extra_context=None):
        # Only a campaign that can still be edited takes an earlier version: restoring one
        # leaves it a draft that wants a new test (see Campaign's registration).
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None or not self.has_change_permission(request, campaign):
            raise PermissionDenied
        return super().revision_view(request, object_id, version_id, extra_context)

    def has_change_permission(self, request, obj=None):
        # What is sending or sent is history: only its controls below still act on it.
        if obj and obj.status not in EDITABLE and not self._follows_people(obj):
            return False
        return super().has_change_permission(request, obj)

    @staticmethod
    def _follows_people(campaign: Campaign) -> bool:
        """A journey's email, edited while its journey runs: the next people due get the new
        version (its revisions keep the old ones)."""
        return campaign.kind == Campaign.Kind.JOURNEY and campaign.status != "cancelled"

    def get_urls(self):
        def view(function):
            return self.admin_site.admin_view(partial(function, model_admin=self))

        return [
            path("<int:pk>/preview/", view(console.inbox_preview), name="campaign_inbox_preview"),
            path("<int:pk>/preview/<str:kind>/", view(console.preview), name="campaign_preview"),
            path("<int:pk>/progress/", view(console.progress), name="campaign_progress"),
            path("<int:pk>/do/<str:step>/", view(console.do), name="campaign_do"),
            path("<int:pk>/confirm/<str:step>/", view(console.confirm), name="campaign_confirm"),
            path(
                "digest/",
                self.admin_site.admin_view(require_POST(self.draft_digest)),
                name="campaign_digest",
            ),
            *super().get_urls(),
        ]

    def draft_digest(self, request):
        """A draft launch update of what is new in the Learning Center (`campaigns.digest`)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        try:
            campaign = digest.draft()
        except digest.NothingNew as exc:
            messages.info(request, str(exc))
            return redirect("admin:waitlist_campaign_changelist")
        messages.success(
            request,
            f"Drafted “{campaign.name}” with {campaign.digest.articles.count()} article(s). "
            "Edit it, send yourself a test, then send it: it is never sent by itself.",
        )
        return redirect("admin:waitlist_campaign_change", campaign.pk)

    def changelist_view(self, request, extra_context=None):
        self._warn_if_nothing_dispatches(request)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._warn_if_nothing_dispatches(request)
        campaign = self.get_object(request, object_id)
        if (
            campaign is not None
            and request.method == "POST"
            and not self.has_change_permission(request, campaign)
        ):
            # It moved on while the form was open (it started sending): nothing is saved.
            messages.error(
                request,
                f"It is {campaign.get_status_display().lower()} now, so it can no longer be "
                "edited: your changes were not saved.",
            )
            return HttpResponseRedirect(request.path)
        extra = dict(extra_context or {})
        if campaign is not None:
            if request.method == "GET":
                figures.ask_for_count(campaign)
            started = campaign.status not in EDITABLE
            progress = figures.progress(campaign)
            paused = campaign.status == Campaign.Status.PAUSED and campaign.pause_reason
            if request.method == "GET" and paused:
                messages.error(request, campaign.pause_reason)
            extra.update(
                campaign=campaign,
                status_label=console.status_label(campaign),
                # Once it started, whom its messages were made for; before, the segment now.
                audience=progress["total"] if started else actions.audience_size(campaign),
                audience_label=actions.audience_label(campaign),
                progress=progress,
                counted=console.counted(campaign),
                results_first=started,
                results=console.results(campaign),
                steps=console.steps(),
                offered=[step["name"] for step in console.offered_steps(campaign, request.user)],
                can_steer=request.user.has_perm(Campaign.SEND_PERMISSION),
                transitions=lifecycle.log(campaign),
                invitations=campaign.kind == Campaign.Kind.INVITATION
                and console.invitations(campaign),
                **console.plan_context(campaign),
            )
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def _warn_if_nothing_dispatches(self, request: HttpRequest) -> None:
        if request.method == "GET":
            for warning in heartbeats.warnings(tasks=["dispatch_campaigns"]):
                messages.warning(request, warning)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "subscriber", "campaign", "provider", "status", "attempts", "deferrals", "sent_at",
        "answer",
    ]  # fmt: skip
    list_filter = ["status", "provider", "campaign"]
    search_fields = ["subscriber__email", "message_id"]
    list_select_related = ["subscriber", "campaign"]


@admin.register(Pace)
class PaceAdmin(admin.ModelAdmin):
    """One row per provider, edited in the list; the providers themselves are fixed."""

    list_display = ["provider", "per_minute", "sessions", "pace_now", "sent_in_the_last_minute"]
    list_editable = ["per_minute", "sessions"]
    list_display_links = None
    fields = ["per_minute", "sessions"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="pace now")
    def pace_now(self, pace: Pace) -> str:
        rate = paces.current(pace)
        if rate is None:
            return "no limit of its own"
        slowed = pace.per_minute is None or rate < pace.per_minute
        return f"{rate:,} a minute" + (" (slowed: it asked us to wait)" if slowed else "")

    @admin.display(description="sent in the last minute")
    def sent_in_the_last_minute(self, pace: Pace) -> str:
        return f"{paces.sent_last_minute(pace.provider):,}"


@admin.register(MailDomain)
class MailDomainAdmin(ReadOnlyAdmin):
    list_display = ["domain", "provider", "exchangers", "looked_up_at", "expires_at"]
    list_filter = ["provider"]
    search_fields = ["domain"]


@admin.register(WarmUp)
class WarmUpAdmin(admin.ModelAdmin):
    """One plan for the sending domain: its first day, and what each day may send."""

    fields = ["first_day", "today", "the_plan"]
    readonly_fields = ["today", "the_plan"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        plan = WarmUp.current()
        if plan.pk is None:
            plan.save()
        return HttpResponseRedirect(reverse("admin:waitlist_warmup_change", args=[plan.pk]))

    @admin.display(description="today")
    def today(self, plan: WarmUp) -> str:
        day = waves.warm_up_day(timezone.localdate()) if plan.first_day else None
        if day is None:
            return "Warm: a campaign goes to everyone on its first day."
        return (
            f"Day {day + 1} of {waves.WARM_DAYS}: up to {waves.allowance(day):,} campaign "
            f"messages today ({waves.sent_on(timezone.localdate()):,} sent so far)."
        )

    @admin.display(description="the plan")
    def the_plan(self, plan: WarmUp) -> str:
        if plan.first_day is None:
            return "Enter the first day of sending to see the plan."
        today = timezone.localdate()
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    day + 1,
                    date_format(on, "D M j") + (" (today)" if on == today else ""),
                    f"{waves.allowance(day):,}",
                )
                for day in range(waves.WARM_DAYS)
                for on in [plan.first_day + dt.timedelta(days=day)]
            ),
        )
        return format_html(
            '<table class="warm-up-plan"><thead><tr><th scope="col">Day</th>'
            '<th scope="col">Date</th><th scope="col">Messages at most</th></tr></thead>'
            "<tbody>{}</tbody></table><p>From day {} on: no limit.</p>",
            rows, waves.WARM_DAYS + 1,
        )  # fmt: skip
