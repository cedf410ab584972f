"""Admin for journeys: the trigger, the steps (each step's email is a campaign of kind
"journey", written on its own page with the same live preview and test as any campaign), the
switch, and what each step sent, skipped and held under the frequency cap."""

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from ..campaigns import journeys
from ..campaigns.lifecycle import CampaignError
from ..models import Campaign, Journey, JourneyStep, SendStatus

SWITCH_PERMISSION = "waitlist.switch_journey"


class StepForm(forms.ModelForm):
    delay_days = forms.IntegerField(
        label="days after the trigger", min_value=0, max_value=365,
        help_text="0: at once (out of quiet hours in the person's zone).",
    )  # fmt: skip
    subject = forms.CharField(max_length=150, help_text="Its email's subject.")

    class Meta:
        model = JourneyStep
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["delay_days"].initial = self.instance.delay.days
            self.fields["subject"].initial = self.instance.campaign.subject

    def save(self, commit=True):
        step = super().save(commit=False)
        step.delay = dt.timedelta(days=self.cleaned_data["delay_days"])
        if step.pk:
            Campaign.objects.filter(pk=step.campaign_id).update(
                subject=self.cleaned_data["subject"]
            )
        else:
            journey = step.journey
            step.campaign = Campaign.objects.create(
                kind=Campaign.Kind.JOURNEY, in_archive=False,
                name=f"{journey.name}, day {self.cleaned_data['delay_days']}",
                subject=self.cleaned_data["subject"],
                body="## Write this email\n\nOpen it to write it, preview it and send a test.",
            )  # fmt: skip
        if commit:
            step.save()
        return step


class StepInline(admin.TabularInline):
    model = JourneyStep
    form = StepForm
    extra = 0
    fields = ["delay_days", "subject", "email", "figures"]
    readonly_fields = ["email", "figures"]
    can_delete = False  # what a step sent stays with its campaign; switch the journey off

    @admin.display(description="email")
    def email(self, step: JourneyStep) -> str:
        if not step.pk:
            return "Write it once the step is saved."
        url = reverse("admin:waitlist_campaign_change", args=[step.campaign_id])
        return format_html('<a href="{}">Write, preview and test it</a> ({})', url,
                           step.campaign.get_status_display().lower())  # fmt: skip

    @admin.display(description="sent · waited for the cap · skipped")
    def figures(self, step: JourneyStep) -> str:
        if not step.pk:
            return "–"
        counts = step.campaign.deliveries.aggregate(
            sent=Count("pk", filter=Q(status=SendStatus.SENT)),
            waited=Count("pk", filter=Q(cap_waits__gt=0)),
            skipped=Count("pk", filter=Q(status=SendStatus.SKIPPED)),
        )
        return f"{counts['sent']} · {counts['waited']} · {counts['skipped']}"


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    list_display = ["name", "trigger", "active", "steps_count"]
    fields = ["name", "trigger", "state"]
    readonly_fields = ["state"]
    inlines = [StepInline]
    change_form_template = "admin/waitlist/journey/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(step_count=Count("steps"))

    def changelist_view(self, request, extra_context=None):
        journeys.ensure_welcome()
        return super().changelist_view(request, extra_context)

    @admin.display(description="steps", ordering="step_count")
    def steps_count(self, journey: Journey) -> int:
        return journey.step_count

    @admin.display(description="switched on")
    def state(self, journey: Journey) -> str:
        if journey.active:
            return f"Yes, since {journey.switched_on_at:%Y-%m-%d %H:%M} (triggers from then on)"
        return "No: nothing goes out"

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.active:
            return False  # switch it off first: its emails would go on without it
        return super().has_delete_permission(request, obj)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/switch/", view(require_POST(self.switch_view)), name="journey_switch"),
            *super().get_urls(),
        ]

    def switch_view(self, request, pk: int):
        if not request.user.has_perm(SWITCH_PERMISSION):
            raise PermissionDenied
        journey = get_object_or_404(Journey, pk=pk)
        back = HttpResponseRedirect(reverse("admin:waitlist_journey_change", args=[pk]))
        wanted = request.POST.get("to") == "on"
        if wanted == journey.active:
            messages.info(request, f"It is already switched {'on' if wanted else 'off'}.")
            return back
        if wanted and not journey.steps.exists():
            messages.error(request, "Add a step first: a journey without steps sends nothing.")
            return back
        try:
            with transaction.atomic():
                (journeys.switch_on if wanted else journeys.switch_off)(journey, by=request.user)
        except CampaignError as exc:
            messages.error(request, str(exc))
            return back
        messages.success(
            request,
            "Switched on: people who meet its trigger from now on get its emails."
            if wanted
            else "Switched off: nothing more goes out; emails waiting were paused.",
        )
        return back

    def render_change_form(self, request, context, *args, **kwargs):
        context["can_switch"] = request.user.has_perm(SWITCH_PERMISSION)
        return super().render_change_form(request, context, *args, **kwargs)
