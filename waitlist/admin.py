import csv

from django.contrib import admin, messages
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import path

from . import services
from .dashboard import dashboard_view
from .models import ConsentRecord, OutboundEmail, Subscriber


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


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "state", "source_article", "created_at", "confirmed_at"]
    list_filter = ["status", "state", "placement", "referral_credited", "created_at"]
    search_fields = ["email", "referral_code", "utm_campaign"]
    list_select_related = ["source_article"]
    date_hierarchy = "created_at"
    inlines = [ConsentInline]
    actions = ["export_csv", "erase"]
    readonly_fields = [
        "email", "status", "source_article", "placement", "utm_source", "utm_medium",
        "utm_campaign", "utm_term", "utm_content", "referrer_url", "referral_code",
        "referred_by", "referral_credited", "signup_ip", "created_at", "confirmed_at",
        "unsubscribed_at",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["email", "status", "interests", "state"]}),
        (
            "Source",
            {
                "fields": [
                    "source_article",
                    "placement",
                    "referrer_url",
                    "utm_source",
                    "utm_medium",
                    "utm_campaign",
                    "utm_term",
                    "utm_content",
                ]  # fmt: skip
            },
        ),
        ("Referrals", {"fields": ["referral_code", "referred_by", "referral_credited"]}),
        ("Dates", {"fields": ["signup_ip", "created_at", "confirmed_at", "unsubscribed_at"]}),
    ]

    def has_add_permission(self, request):
        return False

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
            services.erase(subscriber_id=subscriber_id)
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
                    [
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
        return [path("dashboard/", dashboard, name="waitlist_dashboard"), *super().get_urls()]


@admin.register(ConsentRecord)
class ConsentRecordAdmin(admin.ModelAdmin):
    list_display = ["subscriber", "consent_version", "signed_up_at", "confirmed_at", "withdrawn_at"]
    list_filter = ["consent_version"]
    search_fields = ["subscriber__email"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ["pk", "kind", "subscriber", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["kind", "status"]
    readonly_fields = [f.name for f in OutboundEmail._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
