"""The campaign console's own pages, wired into admin's URLs by `CampaignAdmin`: the preview as
an inbox shows it, the live progress, the confirmation of Schedule and Send now, and the steps
an operator takes. Each step is one call to `campaigns`; what the page offers is what the
lifecycle allows now (`lifecycle.offered`), and a step that was not taken says why."""

from django.conf import settings
from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from ..engine import paces
from ..engine.messages import Copy
from ..models import Campaign, Invitation, Provider
from . import actions, dispatch, emails, figures, lifecycle, waves
from .lifecycle import CampaignError

# How long a campaign's confirmation page stays good for its Send now or Schedule button.
CONFIRMATION_MAX_AGE = 30 * 60
CONFIRMED_STEPS = ("schedule", "send_now")
# In the order the page shows them.
STEPS = ("send_test", *CONFIRMED_STEPS, "unschedule", "pause", "resume", "retry_failed", "cancel")
TEST = {"name": "send_test", "label": "Send the test", "confirm": False}


def steps() -> list[dict]:
    """Every step the page can show: the test, then the lifecycle's labelled transitions."""
    found = {"send_test": TEST}
    for each in Campaign._meta.get_field("status").get_all_transitions(Campaign):
        if "label" in each.custom:
            found[each.name] = {
                "name": each.name,
                "label": each.custom["label"],
                "confirm": each.custom.get("confirm", False),
            }
    return [found[name] for name in STEPS]


def _campaign(request: HttpRequest, model_admin: ModelAdmin, pk: int) -> Campaign:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    return get_object_or_404(Campaign, pk=pk)


def _page(request: HttpRequest, model_admin: ModelAdmin, name: str, **context):
    context = {**model_admin.admin_site.each_context(request), "opts": Campaign._meta, **context}
    return TemplateResponse(request, f"admin/waitlist/campaign/{name}", context)


def status_label(campaign: Campaign) -> str:
    """Its status as the page shows it: a scheduled campaign whose time came is starting, and
    so is one whose messages are still being made."""
    due = campaign.send_at and campaign.send_at <= timezone.now()
    if campaign.status == Campaign.Status.SCHEDULED and due:
        return "Starting…"
    if campaign.status == Campaign.Status.SENDING and campaign.rows_from is not None:
        return f"Starting… {campaign.rows_made:,} messages made so far"
    return campaign.get_status_display()


def offered_steps(campaign: Campaign, user) -> list[dict]:
    """What the page offers `user` now: the test while it can still change, then the steps."""
    offered = lifecycle.offered(campaign, user)
    editable = campaign.status in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED)
    if editable and user.has_perm(Campaign.SEND_PERMISSION):
        offered.insert(0, TEST)
    return offered


def progress(request: HttpRequest, pk: int, *, model_admin: ModelAdmin) -> JsonResponse:
    """What the campaign page polls while it is live: status, the steps offered now, counts,
    rate and time left."""
    campaign = _campaign(request, model_admin, pk)
    figures.ask_for_count(campaign)
    response = JsonResponse(
        {
            **figures.progress(campaign),
            "counted": counted(campaign),
            "status": campaign.status,
            "status_label": status_label(campaign),
            "actions": [step["name"] for step in offered_steps(campaign, request.user)],
            "plan_html": render_to_string(
                "admin/waitlist/campaign/_plan.html", plan_context(campaign), request
            ),
            **(
                {
                    "invitations_html": render_to_string(
                        "admin/waitlist/campaign/_invitations.html",
                        {"campaign": campaign, "invitations": invitations(campaign)},
                        request,
                    )
                }
                if campaign.kind == Campaign.Kind.INVITATION
                else {}
            ),
        }
    )
    response["Cache-Control"] = "no-store"
    return response


def results(campaign: Campaign) -> list[dict]:
    """Its figures, labelled, in the order the page shows them."""
    kept = campaign.figures.get("results", {})
    return [{"label": label, "value": kept.get(name, 0)} for name, label in actions.RESULTS.items()]


def counted(campaign: Campaign) -> str:
    """When its figures were counted, as the page says it."""
    if campaign.counted_at is None:
        return "Not counted yet."
    return f"Counted at {timezone.localtime(campaign.counted_at):%H:%M:%S}."


def invitations(campaign: Campaign) -> list[dict]:
    """An invitation wave's figures: everyone it invited, and where their invitations stand."""
    counts = dict(
        Invitation.objects.filter(campaign=campaign)
        .values_list("status").annotate(n=Count("pk")).order_by()
    )  # fmt: skip
    status = Invitation.Status
    return [
        {"name": "total", "label": "Invited", "value": sum(counts.values())},
        {"name": "activated", "label": "Activated", "value": counts.get(status.ACTIVATED, 0)},
        {"name": "open", "label": "Still open", "value": counts.get(status.INVITED, 0)},
        {"name": "expired", "label": "Expired", "value": counts.get(status.EXPIRED, 0)},
        {"name": "declined", "label": "Declined", "value": counts.get(status.DECLINED, 0)},
    ]


def plan_context(campaign: Campaign) -> dict:
    """What the sending plan's section shows: the waves, the next one's time, the domain's
    warm-up day, each provider's progress."""
    waiting = campaign.waves.filter(released_at__isnull=True).order_by("number").first()
    today = timezone.localdate()
    day = waves.warm_up_day(today)
    return {
        "plan": plan(campaign),
        "providers": providers(campaign),
        "next_wave": waiting,
        "warm_up": day is not None and {"day": day + 1, "of": waves.WARM_DAYS,
                                        "allowance": waves.allowance(day)},
    }  # fmt: skip


def plan(campaign: Campaign) -> list[dict]:
    """Its waves as the page lists them: who, when, and where each stands."""
    held = campaign.status == Campaign.Status.PAUSED and campaign.pause_reason.startswith(
        "Paused before wave"
    )
    rows = []
    for wave in campaign.waves.order_by("number"):
        if wave.released_at is not None:
            state = "Let go"
        elif held and rows and rows[-1]["released"]:
            state = "Held: see why above"
        elif wave.gated:
            state = "Waits for the canary's figures"
        else:
            state = "Waits for its time"
        rows.append({
            "number": wave.number + 1, "kind": wave.get_kind_display(), "people": wave.size,
            "leaves_at": wave.leaves_at, "state": state, "released": wave.released_at is not None,
        })  # fmt: skip
    return rows


def providers(campaign: Campaign) -> list[dict]:
    """Per mailbox provider, as last counted: sent, waiting, deferred, held (its domain refused
    our sender), bounced, complaints; and its pace now."""
    counts = campaign.figures.get("providers", {})
    rows = []
    for provider in Provider:
        if provider.value not in counts:
            continue
        pace = paces.pace_of(provider.value)
        rate = paces.current(pace)
        rows.append({
            **counts[provider.value], "label": provider.label,
            "pace": "no limit of its own" if rate is None else f"{rate:,} a minute",
            "slowed": rate is not None and (pace.per_minute is None or rate < pace.per_minute),
        })  # fmt: skip
    return rows


def _sample_copy(campaign: Campaign) -> Copy:
    """One recipient's copy, its personal links made for nobody (they lead to the page that
    says the link is not valid)."""
    return emails.campaign_copy(
        emails.campaign_template(campaign), campaign_id=campaign.pk, subscriber_id=0,
        email="you@example.com", token_key="preview",
    )  # fmt: skip


def inbox_preview(request: HttpRequest, pk: int, *, model_admin: ModelAdmin) -> HttpResponse:
    """The campaign as an inbox shows it: From, Subject, the preview line, then each part."""
    campaign = _campaign(request, model_admin, pk)
    copy = _sample_copy(campaign)
    return _page(
        request, model_admin, "preview.html", title=f"Preview: {campaign.subject}",
        campaign=campaign, template=copy.template, text=copy.text,
    )  # fmt: skip


def preview(request: HttpRequest, pk: int, kind: str, *, model_admin: ModelAdmin) -> HttpResponse:
    campaign = _campaign(request, model_admin, pk)
    copy = _sample_copy(campaign)
    if kind == "html":
        response = HttpResponse(copy.html)
        # The preview is an email: show it in a sandbox where nothing in it can run.
        response["Content-Security-Policy"] = (
            "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
            "frame-ancestors 'self'"
        )
        response["X-Frame-Options"] = "SAMEORIGIN"  # shown inside the inbox preview
        return response
    if kind == "text":
        return HttpResponse(copy.text, content_type="text/plain; charset=utf-8")
    raise Http404


def _confirmation(campaign: Campaign, step: str) -> str:
    """What the confirmation page vouches for: this step of this version of the campaign. Any
    save in between (text, audience, time) makes it stale."""
    return signing.dumps(
        [campaign.pk, step, campaign.updated_at.isoformat()], salt="waitlist.campaign-confirm"
    )


def _confirmed(request: HttpRequest, campaign: Campaign, step: str) -> bool:
    try:
        signed = signing.loads(
            request.POST.get("confirmation", ""),
            salt="waitlist.campaign-confirm",
            max_age=CONFIRMATION_MAX_AGE,
        )
    except signing.BadSignature:
        return False
    return signed == [campaign.pk, step, campaign.updated_at.isoformat()]


def confirm(request: HttpRequest, pk: int, step: str, *, model_admin: ModelAdmin) -> HttpResponse:
    """The second step of Schedule and Send now: who, how many, when, how long."""
    if step not in CONFIRMED_STEPS:
        raise Http404
    if not request.user.has_perm(Campaign.SEND_PERMISSION):
        raise PermissionDenied
    campaign = get_object_or_404(Campaign, pk=pk)
    now = timezone.now()
    when = now if step == "send_now" else campaign.send_at
    check = actions.preflight(campaign, when=when)
    problems, notes = list(check.problems), list(check.notes)
    passed = False
    if campaign.status != Campaign.Status.DRAFT:
        problems.insert(0, lifecycle.refusal(campaign, step))
    if when is None:
        problems.append("Set a send time first (and save), or send now.")
    elif step == "schedule" and dispatch.starts_at(campaign) <= now:
        if campaign.local_time:
            problems.append("This time has passed in the first time zone: set a later one.")
        else:
            passed = True  # the page asks: send it now?
    elif when - now > actions.FAR_AHEAD:
        notes.append(
            f"That is {(when - now).days} days from now, more than "
            f"{actions.FAR_AHEAD.days}: check the date."
        )
    if step == "send_now" and campaign.local_time:
        problems.append(actions.LOCAL_TIME_NOT_NOW)
    return _page(
        request, model_admin, "confirm.html",
        title="Confirm sending now" if step == "send_now" else "Confirm the schedule",
        campaign=campaign, step=step, when=when, passed=passed,
        from_email=settings.DEFAULT_FROM_EMAIL, audience_label=actions.audience_label(campaign),
        check=check, minutes=max(1, round(check.estimated_seconds / 60)),
        problems=problems,
        notes=notes, confirmation=_confirmation(campaign, step),
    )  # fmt: skip


def do(request: HttpRequest, pk: int, step: str, *, model_admin: ModelAdmin) -> HttpResponse:
    """Take one step; the campaign's page says what happened, or why nothing did."""
    if request.method != "POST" or step not in STEPS:
        raise Http404
    if not request.user.has_perm(Campaign.SEND_PERMISSION):
        raise PermissionDenied
    campaign = get_object_or_404(Campaign, pk=pk)
    back = reverse("admin:waitlist_campaign_change", args=[pk])
    if step in CONFIRMED_STEPS and not _confirmed(request, campaign, step):
        # Only the confirmation page's own form sends: one POST from anywhere else cannot.
        messages.warning(request, "Check the audience and the time, then confirm on this page.")
        return HttpResponseRedirect(reverse("admin:campaign_confirm", args=[pk, step]))
    try:
        done = _take(request, campaign, step)
    except CampaignError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return HttpResponseRedirect(back)


def _take(request: HttpRequest, campaign: Campaign, step: str) -> str:
    """What was done, in words; CampaignError says why not."""
    by = request.user
    if step == "send_test":
        to = request.POST.get("to", "").strip() or by.email
        if not to:
            raise CampaignError("Type the address the test should go to.")
        try:
            validate_email(to)
        except ValidationError as exc:
            raise CampaignError(f"{to!r} is not an email address.") from exc
        if campaign.status not in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED):
            raise CampaignError(f"{lifecycle.ENDED.get(campaign.status, 'It has gone out.')} "
                                "A test is for what can still change.")  # fmt: skip
        actions.send_test(campaign, to=to)
        return f"Test sent to {to}."
    override = request.POST.get("override", "")
    if step == "schedule":
        check = actions.schedule(campaign, by=by, override=override)
        minutes = max(1, round(check.estimated_seconds / 60))
        return (
            f"Scheduled for {timezone.localtime(campaign.send_at):%b %d, %H:%M}: "
            f"{check.audience} people, about {minutes} minute(s) at the configured rate."
        )
    if step == "send_now":
        check = actions.send_now(campaign, by=by, override=override)
        return f"Sending now to {check.audience} people."
    if step == "unschedule":
        actions.unschedule(campaign, by=by, why="Taken back to draft.")
        return "Back to draft: nothing was sent."
    if step == "pause":
        actions.pause(campaign, by=by)
        return "Paused: nothing more goes out until you resume."
    if step == "resume":
        actions.resume(campaign, by=by)
        return "Resumed."
    if step == "cancel":
        return f"Cancelled; {actions.cancel(campaign, by=by)} unsent message(s) skipped."
    retried = actions.retry_failed(campaign, by=by)
    when = "when you resume" if campaign.status == Campaign.Status.PAUSED else "now"
    return f"{retried} failed message(s) queued again: they go out {when}."
