"""Admin for people: subscribers, their consent records and emails, milestones, the
dashboard, the import and the form for another site."""

import csv
import datetime as dt
import io
from functools import partial

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import Lower
from django.http import (
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django_fsm import ConcurrentTransition
from django_fsm_log.models import StateLog

from ..engine import workers
from ..models import (
    UTM_FIELDS,
    ConsentRecord,
    Invitation,
    ListUpload,
    Milestone,
    OutboundEmail,
    Subscriber,
    email_hash,
)
from ..people import importing, milestones, privacy, referrals
from ..people.dashboard import RECOUNT_TASK, dashboard_view, spreadsheet_cell
from ..people.embed import embed_view
from ..people.forms import PLACEMENTS
from .datamap import datamap_view
from .paging import EstimatedCountPaginator


def invitation_history(invitation: Invitation) -> str:
    """Every transition of a person's invitation, oldest first, with why."""
    entries = StateLog.objects.for_(invitation).order_by("timestamp", "pk")
    rows = format_html_join(
        "", "<li>{}: {} → {}. {}</li>",
        ((date_format(timezone.localtime(entry.timestamp), "DATETIME_FORMAT"),
          entry.source_state, entry.state, entry.description or "") for entry in entries),
    )  # fmt: skip
    return format_html('<ol class="invitation-history">{}</ol>', rows)


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
        "purpose",
        "consent_version",
        "gpc",
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


class FixedChoicesFilter(admin.SimpleListFilter):
    """A filter offering the values there can be, not those in use: listing those would read
    every row of a list of millions."""

    values: tuple[str, ...] = ()

    def lookups(self, request, model_admin):
        return [(value, value) for value in self.values]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(**{self.parameter_name: self.value()})


class PlacementFilter(FixedChoicesFilter):
    title = parameter_name = "placement"
    values = tuple(sorted(PLACEMENTS | {importing.PLACEMENT}))


class ReferralOutcomeFilter(FixedChoicesFilter):
    """Whether a referral counted (`people.referrals`)."""

    title, parameter_name = "referral outcome", "referral_outcome"
    values = tuple(referrals.WORDS)


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
    file = forms.FileField(
        label="CSV file",
        help_text=f"With a header row; up to {filesizeformat(settings.LIST_UPLOAD_MAX_BYTES)} "
        "here (larger lists: manage.py import_subscribers).",
    )
    consent_source = forms.CharField(
        max_length=200, required=False, label="Where these people consented",
        help_text="For rows that do not say, as “Mailchimp form on the old site, 2026”.",
    )  # fmt: skip
    consent_wording = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}),
        label="The words they agreed to", help_text="For rows that do not say.",
    )  # fmt: skip

    def clean_file(self):
        upload, limit = self.cleaned_data["file"], settings.LIST_UPLOAD_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {filesizeformat(upload.size)}; files up to {filesizeformat(limit)} "
                "can be uploaded here. Import a larger one with manage.py import_subscribers, "
                "or split it."
            )
        return upload


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "state", "source_article", "created_at", "confirmed_at"]
    # Filters from fixed choices, and counts that never read the whole list: it grows to
    # millions (`halftime.paging`).
    list_filter = [
        "status", "state", PlacementFilter, ReferralOutcomeFilter, MilestoneFilter, "created_at",
    ]  # fmt: skip
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    search_fields = ["email"]
    search_help_text = (
        "A whole address finds that person at once; the start of an address (“jane.d”), or a "
        "referral code, searches the list."
    )
    list_select_related = ["source_article"]
    inlines = [ConsentInline]
    actions = ["export_csv", "erase"]
    # Interests are health data, kept only with the person's own consent: only they change them.
    readonly_fields = [
        "email", "status", "interests", "gpc", "email_service_told", "source_article",
        "placement", *UTM_FIELDS, "referrer_url",
        "referral_code", "referred_by", "referral_outcome", "credited_referrals", "rewards",
        "signup_ip",
        "created_at",
        "confirmed_at", "unsubscribed_at", "reminded_at", "erasure_reason", "invitation_status",
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
        ("Invitation", {"fields": ["invitation_status"]}),
        (
            "Dates",
            {
                "fields": [
                    "signup_ip", "created_at", "confirmed_at", "reminded_at", "unsubscribed_at",
                ]
            },
        ),
        ("Privacy", {"fields": ["gpc", "erasure_reason", "email_service_told"]}),
    ]  # fmt: skip

    def has_add_permission(self, request):
        return False

    def get_search_results(self, request, queryset, search_term):
        """A whole address: that person, by the address's indexed hash. Anything else: a
        referral code, or addresses that start with it."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if "@" in term and " " not in term:
            return queryset.filter(email_hash=email_hash(term)), False
        starts = queryset.alias(lower_email=Lower("email")).filter(
            lower_email__startswith=term.lower()
        )
        return starts | queryset.filter(referral_code=term), False

    @admin.display(description="status and history")
    def invitation_status(self, subscriber: Subscriber) -> str:
        invitation = Invitation.objects.filter(pk=subscriber.pk).first()
        if invitation is None:
            return "Waiting: not invited yet."
        return format_html(
            "<p>{}</p>{}", invitation.get_status_display(), invitation_history(invitation)
        )

    @admin.display(description="erasure told to the email service")
    def email_service_told(self, subscriber: Subscriber) -> str:
        told = subscriber.processor_erasures.order_by("-created_at")
        return format_html_join(
            "", "<p>{}: {} {}</p>",
            (
                (
                    row.processor or "SMTP",
                    row.get_status_display(),
                    f"{timezone.localtime(row.sent_at):%b %d, %Y %H:%M}: {row.answer}"
                    if row.sent_at else row.answer,
                )
                for row in told
            ),
        ) or "–"  # fmt: skip

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
        dashboard = partial(dashboard_view, recount_later=recount_dashboard_later)
        dashboard = self.admin_site.admin_view(dashboard)
        embed = self.admin_site.admin_view(embed_view)
        return [
            path("dashboard/", dashboard, name="waitlist_dashboard"),
            path("data-map/", self.admin_site.admin_view(datamap_view), name="waitlist_datamap"),
            path("embed/", embed, name="waitlist_embed"),
            path("import/", self.admin_site.admin_view(self.import_view), name="waitlist_import"),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Bring in a list kept elsewhere: a preview of what it brings, then the import, all or
        nothing, every bad line said."""
        if not request.user.has_perm("waitlist.import_subscribers"):
            raise PermissionDenied
        if request.method == "POST" and "upload" in request.POST:
            return self._import_previewed(request)
        form = ImportForm(request.POST or None, request.FILES or None)
        context = {"form": form, "problems": [], "report": None, "upload": None}
        if request.method == "POST" and form.is_valid():
            upload = _kept(request, form.cleaned_data)
            try:
                report = importing.preview(io.BytesIO(upload.data), _evidence(upload))
            except importing.ImportFailed as exc:
                upload.delete()
                context["report"], context["problems"] = exc.report, exc.problems
            else:
                upload.expected = report.summary()[:300]
                upload.save(update_fields=["expected"])
                context["report"], context["upload"] = report, upload
        return self._import_page(request, context)

    def _import_previewed(self, request: HttpRequest) -> HttpResponse:
        """Import (a worker does, the file may be large) or cancel what the preview showed."""
        key = request.POST["upload"]
        upload = ListUpload.objects.filter(
            pk=key if key.isdigit() else None, uploaded_by=request.user
        ).first()
        if upload is None or upload.status != ListUpload.Status.PREVIEWED:
            messages.warning(request, "That list was already imported or cancelled.")
            return redirect("admin:waitlist_import")
        if request.POST.get("action") != "import":
            upload.delete()
            messages.info(request, f"Cancelled: {upload.name} was not imported.")
            return redirect("admin:waitlist_import")
        try:
            with transaction.atomic():
                upload.start()
                upload.save()
        except ConcurrentTransition:  # a second click, or another tab, got there first
            messages.warning(request, "That list was already imported or cancelled.")
            return redirect("admin:waitlist_import")
        transaction.on_commit(lambda: workers.enqueue(importing.IMPORT_TASK))
        messages.success(request, f"Importing {upload.name}: {upload.expected}.")
        return redirect("admin:waitlist_import")

    def _import_page(self, request: HttpRequest, context: dict) -> HttpResponse:
        recent = list(
            ListUpload.objects.exclude(status=ListUpload.Status.PREVIEWED)
            .select_related("uploaded_by")
            .defer("data")[:10]
        )
        context = {
            **self.admin_site.each_context(request),
            **context,
            "opts": self.model._meta,
            "title": "Import a list",
            "fields": importing.FIELDS,
            "recent": recent,
            "importing": any(u.status == ListUpload.Status.IMPORTING for u in recent),
        }
        status = 400 if context["problems"] else 200
        return TemplateResponse(request, "admin/waitlist/import.html", context, status=status)


def _kept(request: HttpRequest, data: dict) -> ListUpload:
    """The upload, kept for its import. This person's earlier previews go, and anyone's preview
    or refused import from before yesterday (its problems may name addresses)."""
    previewed, failed = ListUpload.Status.PREVIEWED, ListUpload.Status.FAILED
    ListUpload.objects.filter(
        Q(status=previewed, uploaded_by=request.user)
        | Q(status__in=[previewed, failed], uploaded_at__lt=timezone.now() - dt.timedelta(days=1))
    ).delete()
    return ListUpload.objects.create(
        name=data["file"].name[:200],
        data=data["file"].read(),
        consent_source=data["consent_source"],
        consent_wording=data["consent_wording"],
        uploaded_by=request.user,
    )


def _evidence(upload: ListUpload) -> importing.Evidence:
    return importing.Evidence(upload.consent_source, upload.consent_wording)


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
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_display = ["subscriber", "purpose", "consent_version", "gpc", "signed_up_at",
                    "confirmed_at", "withdrawn_at"]  # fmt: skip
    # Filters from fixed choices: listing the versions in use would read every record.
    list_filter = ["purpose", "gpc"]
    list_select_related = ["subscriber"]
    search_fields = ["subscriber__email"]
    search_help_text = "A whole email address."

    def get_search_results(self, request, queryset, search_term):
        """By the address's indexed hash: a search over every record's address would read them
        all."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(subscriber__email_hash=email_hash(term)), False


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


def recount_dashboard_later() -> None:
    transaction.on_commit(lambda: workers.enqueue(RECOUNT_TASK))
