"""Admin for people: subscribers, their consent records and emails, milestones, the
dashboard, the import and the form for another site."""

import csv
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import (
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from ..campaigns import actions
from ..models import (
    UTM_FIELDS,
    ConsentRecord,
    Milestone,
    OutboundEmail,
    Subscriber,
)
from ..people import importing, milestones, privacy
from ..people.dashboard import dashboard_view, spreadsheet_cell
from ..people.embed import embed_view


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
        # The campaigns' results join the people's figures on one page.
        dashboard = partial(dashboard_view, more_tables=[actions.results_table])
        dashboard = self.admin_site.admin_view(dashboard)
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
