import csv
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html

from articles.editor import MarkdownPreviewMixin
from articles.history import HistoryAdmin
from articles.rendering import render_markdown

from . import campaigns, console, heartbeats, importing, lifecycle, milestones, privacy
from .dashboard import dashboard_view, spreadsheet_cell
from .embed import embed_view
from .models import (
    UTM_FIELDS,
    Campaign,
    ConsentRecord,
    Delivery,
    Interest,
    Milestone,
    OutboundEmail,
    Subscriber,
    USState,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ConsentInline(ReadOnlyInline):
    model = ConsentRecord
    fields = readonly_fields = [
        "consent_version",
        "signed_up_at",
        "signup_ip",
        "confirmed_at",
        "confirm_ip",
        "withdrawn_at",
    ]


class _Echo:
    def write(self, value: str) -> str:
        return value


CSV_COLUMNS = [
    "email", "status", "interests", "state", "source_article", "placement", "utm_source",
    "utm_medium", "utm_campaign", "created_at", "confirmed_at", "unsubscribed_at",
]  # fmt: skip


class MilestoneFilter(admin.SimpleListFilter):
    title = "milestone reached"
    parameter_name = "milestone"

    def lookups(self, request, model_admin):
        return [(str(milestone.pk), str(milestone)) for milestone in Milestone.objects.all()]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(milestones_reached__milestone_id=int(self.value()))
        return queryset


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8, with a header row.")


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "state", "source_article", "created_at", "confirmed_at"]
    list_filter = [
        "status", "state", "placement", "referral_outcome", MilestoneFilter, "created_at",
    ]  # fmt: skip
    search_fields = ["email", "referral_code", "utm_campaign"]
    list_select_related = ["source_article"]
    date_hierarchy = "created_at"
    inlines = [ConsentInline]
    actions = ["export_csv", "erase"]
    readonly_fields = [
        "email", "status", "source_article", "placement", *UTM_FIELDS, "referrer_url",
        "referral_code", "referred_by", "referral_outcome", "credited_referrals", "rewards",
        "signup_ip",
        "created_at",
        "confirmed_at", "unsubscribed_at", "reminded_at", "erasure_reason",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["email", "status", "interests", "state"]}),
        ("Source", {"fields": ["source_article", "placement", "referrer_url", *UTM_FIELDS]}),
        (
            "Referrals",
            {
                "fields": [
                    "referral_code", "referred_by", "referral_outcome", "credited_referrals",
                    "rewards",
                ]
            },
        ),
        (
            "Dates",
            {
                "fields": [
                    "signup_ip", "created_at", "confirmed_at", "reminded_at", "unsubscribed_at",
                    "erasure_reason",
                ]
            },
        ),
    ]  # fmt: skip

    def has_add_permission(self, request):
        return False

    @admin.display(description="Referrals that counted")
    def credited_referrals(self, subscriber: Subscriber) -> str:
        place = subscriber.position()
        count = subscriber.credited_referrals()
        return f"{count}, place {place} on the list" if place else str(count)

    @admin.display(description="Milestones reached")
    def rewards(self, subscriber: Subscriber) -> str:
        reached = subscriber.milestones_reached.select_related("milestone")
        return (
            "; ".join(
                f"{each.milestone} ({timezone.localtime(each.reached_at):%b %d, %Y})"
                for each in reached
            )
            or "–"
        )

    # Deleting would drop the consent records and the suppression hash; erasure keeps the hash.
    def has_delete_permission(self, request, obj=None):
        return False

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("waitlist.erase_subscribers")

    @admin.action(
        description="Erase selected subscribers (keeps only a hash)", permissions=["erase"]
    )
    def erase(self, request, queryset):
        ids = list(queryset.exclude(status=Subscriber.Status.ERASED).values_list("pk", flat=True))
        for subscriber_id in ids:
            privacy.erase(subscriber_id=subscriber_id)
        self.message_user(request, f"Erased {len(ids)} subscriber(s).", messages.SUCCESS)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("waitlist.export_subscribers")

    @admin.action(description="Export selected subscribers as CSV", permissions=["export"])
    def export_csv(self, request, queryset):
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow(CSV_COLUMNS)
            for s in queryset.select_related("source_article").iterator(chunk_size=2000):
                yield writer.writerow(
                    spreadsheet_cell(value)
                    for value in [
                        s.email or "",
                        s.status,
                        " ".join(s.interests),
                        s.state,
                        s.source_article.slug if s.source_article else "",
                        s.placement,
                        s.utm_source,
                        s.utm_medium,
                        s.utm_campaign,
                        s.created_at.isoformat(),
                        s.confirmed_at.isoformat() if s.confirmed_at else "",
                        s.unsubscribed_at.isoformat() if s.unsubscribed_at else "",
                    ]
                )

        response = StreamingHttpResponse(rows(), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="subscribers.csv"'
        return response

    def get_urls(self):
        dashboard = self.admin_site.admin_view(dashboard_view)
        embed = self.admin_site.admin_view(embed_view)
        return [
            path("dashboard/", dashboard, name="waitlist_dashboard"),
            path("embed/", embed, name="waitlist_embed"),
            path("import/", self.admin_site.admin_view(self.import_view), name="waitlist_import"),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Bring in a list kept elsewhere: all or nothing, every bad line said."""
        if not request.user.has_perm("waitlist.import_subscribers"):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        problems, report = [], None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                if upload.size > importing.MAX_BYTES:
                    raise importing.ImportFailed(["the file is over 20 MB"])
                report = importing.import_csv(upload.read())
            except importing.ImportFailed as exc:
                problems = exc.problems
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import a list",
            "form": form,
            "problems": problems,
            "report": report,
            "columns": importing.COLUMNS,
        }
        status = 400 if problems else 200
        return TemplateResponse(request, "admin/waitlist/import.html", context, status=status)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records of what happened: to look at, never to edit or delete by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdmin):
    list_display = ["subscriber", "consent_version", "signed_up_at", "confirmed_at", "withdrawn_at"]
    list_filter = ["consent_version"]
    search_fields = ["subscriber__email"]


@admin.register(OutboundEmail)
class OutboundEmailAdmin(ReadOnlyAdmin):
    list_display = ["pk", "kind", "subscriber", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["kind", "status"]


@admin.register(Milestone)
class MilestoneAdmin(admin.ModelAdmin):
    """Rewards for referrals. Saving one awards it to everyone who already has its count."""

    list_display = ["referrals", "reward", "people_reached", "created_at"]
    fields = ["referrals", "reward", "details"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(people=Count("reached"))

    @admin.display(description="people who reached it", ordering="people")
    def people_reached(self, milestone: Milestone) -> int:
        return milestone.people

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.base_fields[
            "referrals"
        ].help_text += (
            " Whoever already has this many reaches it when you save, and gets its email."
        )
        return form

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        reached = milestones.award_everyone_due(obj)
        if reached:
            self.message_user(
                request,
                f"{reached} {'person' if reached == 1 else 'people'} already had "
                f"{obj.referrals} confirmed referral{'s' if obj.referrals != 1 else ''}: they "
                "reached it now, and each gets its email.",
                messages.INFO,
            )


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
        ]  # fmt: skip


@admin.register(Campaign)
class CampaignAdmin(MarkdownPreviewMixin, HistoryAdmin):
    recover_deleted = False  # a deleted campaign's deliveries are gone with it
    markdown_fields = ["body"]
    change_list_template = "admin/change_list.html"
    form = CampaignForm
    list_display = ["name", "status", "send_at", "progress_bar", "started_at", "finished_at"]
    list_filter = ["status"]
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
                    "test_sent_at",
                    "started_at",
                    "finished_at",
                ]
            },
        ),
    ]

    @admin.display(description="progress")
    def progress_bar(self, campaign: Campaign) -> str:
        counts = campaigns.progress(campaign)
        if not counts["total"]:
            return "–"
        return format_html(
            '<progress max="100" value="{}"></progress> {}%', counts["percent"], counts["percent"]
        )

    def render_preview(self, source: str) -> str:
        return render_markdown(source, breaks=True).html

    def save_model(self, request, obj, form, change):
        # What was confirmed is what goes out: a scheduled campaign that changes is a draft
        # again, to be tested (if the recipients would see a change) and confirmed anew.
        if change and obj.status == Campaign.Status.SCHEDULED and form.has_changed():
            lifecycle.move(obj, "unschedule", by=request.user, why="Edited while scheduled.")
            self.message_user(
                request,
                "It was scheduled: changed, it is a draft again. Check it and schedule it anew.",
                messages.WARNING,
            )
        super().save_model(request, obj, form, change)

    @admin.display(description="audience")
    def audience_label(self, campaign: Campaign) -> str:
        return campaigns.audience_label(campaign)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
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
        if obj and obj.status not in EDITABLE:
            return False
        return super().has_change_permission(request, obj)

    def get_urls(self):
        def view(function):
            return self.admin_site.admin_view(partial(function, model_admin=self))

        return [
            path("<int:pk>/preview/", view(console.inbox_preview), name="campaign_inbox_preview"),
            path("<int:pk>/preview/<str:kind>/", view(console.preview), name="campaign_preview"),
            path("<int:pk>/progress/", view(console.progress), name="campaign_progress"),
            path("<int:pk>/do/<str:step>/", view(console.do), name="campaign_do"),
            path("<int:pk>/confirm/<str:step>/", view(console.confirm), name="campaign_confirm"),
            *super().get_urls(),
        ]

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
            paused = campaign.status == Campaign.Status.PAUSED and campaign.pause_reason
            if request.method == "GET" and paused:
                messages.error(request, campaign.pause_reason)
            extra.update(
                campaign=campaign,
                status_label=console.status_label(campaign),
                audience=campaigns.audience_size(campaign),
                audience_label=campaigns.audience_label(campaign),
                progress=campaigns.progress(campaign),
                results_first=campaign.status not in EDITABLE,
                results=console.results(campaign),
                steps=console.steps(),
                offered=[step["name"] for step in console.actions(campaign, request.user)],
                can_steer=request.user.has_perm(Campaign.SEND_PERMISSION),
                transitions=lifecycle.log(campaign),
            )
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def _warn_if_nothing_dispatches(self, request: HttpRequest) -> None:
        if request.method == "GET":
            for warning in heartbeats.warnings(tasks=["dispatch_campaigns"]):
                messages.warning(request, warning)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["subscriber", "campaign", "status", "attempts", "sent_at", "answer"]
    list_filter = ["status", "campaign"]
    search_fields = ["subscriber__email", "message_id"]
    list_select_related = ["subscriber", "campaign"]
