"""Admin for the way from waitlist to patient: the open states, each person's invitation, and
the webhooks that tell the clinic's systems. Invitation waves are campaigns of their own kind
(`admin.campaigns`)."""

import secrets

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.urls import reverse

from ..engine import discreet, hooks
from ..engine.messages import absolute
from ..models import AccessCode, Invitation, OpenState, Subscriber, WebhookDelivery, WebhookEndpoint
from .people import ReadOnlyAdmin, invitation_history


@admin.register(OpenState)
class OpenStateAdmin(admin.ModelAdmin):
    list_display = ["__str__", "opened_on", "waiting", "note"]
    fields = ["state", "opened_on", "note"]
    ordering = ["state"]

    def get_readonly_fields(self, request, obj=None):
        return ["state"] if obj else []

    @admin.display(description="confirmed people there")
    def waiting(self, open_state: OpenState) -> int:
        return Subscriber.objects.mailable().filter(state=open_state.state).count()


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    """Each person's invitation; its transitions are in the person's history below."""

    list_display = ["subscriber", "status", "campaign", "invited_at", "expires_at", "activated_at"]
    list_filter = ["status", "campaign"]
    list_select_related = ["subscriber", "campaign"]
    search_fields = ["subscriber__email"]
    fields = [
        "subscriber", "status", "campaign", "access_code", "invited_at", "lifetime_days",
        "expires_at", "activated_at", "ended_at", "history",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="history")
    def history(self, invitation: Invitation) -> str:
        return invitation_history(invitation)


class EndpointForm(forms.ModelForm):
    url = forms.URLField(
        label="URL", max_length=500, assume_scheme="https",
        help_text="Where events are POSTed: https (plain http only while DEBUG is on).",
    )  # fmt: skip
    events = forms.MultipleChoiceField(
        choices=WebhookEndpoint.Event.choices, widget=forms.CheckboxSelectMultiple
    )

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url.startswith("https://") and not settings.DEBUG:
            raise forms.ValidationError(
                "Use an https URL: a webhook carries people's addresses, never in the clear."
            )
        return url

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "events", "secret", "active", "description"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["url", "description", "active", "delivered", "failing"]

    def get_changeform_initial_data(self, request):
        return {
            "secret": f"whsec_{secrets.token_urlsafe(32)}",
            "events": WebhookEndpoint.Event.values,
            **super().get_changeform_initial_data(request),
        }

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                sent=Count("deliveries", filter=Q(deliveries__status="sent")),
                not_sent=Count("deliveries", filter=Q(deliveries__status="failed")),
            )
        )

    @admin.display(description="delivered", ordering="sent")
    def delivered(self, endpoint) -> int:
        return endpoint.sent

    @admin.display(description="failed", ordering="not_sent")
    def failing(self, endpoint) -> int:
        return endpoint.not_sent


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The delivery log: every event sent to each endpoint, its last answer, and Replay."""

    list_display = ["event", "event_id", "endpoint", "status", "attempts", "answer", "created_at",
                    "sent_at"]  # fmt: skip
    list_filter = ["status", "event", "endpoint"]
    list_select_related = ["endpoint"]
    search_fields = ["event_id"]
    fields = ["event", "event_id", "endpoint", "status", "attempts", "answer", "created_at",
              "sent_at", "not_before", "body"]  # fmt: skip
    readonly_fields = fields
    actions = ["replay"]

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("waitlist.change_webhookendpoint")

    @admin.action(description="Send again (the same event id)", permissions=["replay"])
    def replay(self, request, queryset):
        count = hooks.replay(queryset)
        self.message_user(
            request,
            f"{count} deliver{'y' if count == 1 else 'ies'} will be sent again, with the same "
            "event id: a receiver that has it already can tell.",
            messages.SUCCESS,
        )


class AccessCodeForm(forms.ModelForm):
    class Meta:
        model = AccessCode
        fields = ["code", "label", "limit", "expires_at", "invitation_days", "active"]

    def clean_code(self) -> str:
        """The code is in the page's address and in what the clinic's systems are sent."""
        code = self.cleaned_data["code"]
        if problems := discreet.findings({"the code": code}):
            raise forms.ValidationError(problems)
        return code


@admin.register(AccessCode)
class AccessCodeAdmin(admin.ModelAdmin):
    """Codes many people may use: each use invites one person, up to the limit."""

    form = AccessCodeForm
    list_display = ["code", "label", "used", "limit", "expires_at", "active", "link"]
    list_filter = ["active"]
    search_fields = ["code", "label"]
    fields = ["code", "label", "limit", "used", "expires_at", "invitation_days", "active", "link"]
    readonly_fields = ["used", "link"]

    @admin.display(description="page to share")
    def link(self, access_code: AccessCode) -> str:
        if not access_code.pk:
            return "–"
        return absolute(reverse("waitlist:start", args=[access_code.code]))
