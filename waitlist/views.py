import json
import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import TemplateView

from articles.models import Article

from .invites import codes, start
from .models import Campaign, Subscriber, USState
from .people import consent, links, milestones, pacing, privacy, referrals, signup, tokens
from .people.forms import JoinForm, PreferencesForm, StateForm
from .people.networks import network
from .people.ratelimit import Limit, LimiterUnavailable, hit

CHECK_INBOX = (
    "Thanks! Check your inbox: we've sent a link to confirm your address. "
    "If it doesn't arrive in a few minutes, look in your spam folder."
)
SLOW_DOWN = "Too many attempts. Please wait {wait} and try again."
MAX_JSON_BYTES = 8 * 1024
JOINED_COOKIE = "joined"


def client_ip(request: HttpRequest) -> str | None:
    # Behind TRUSTED_PROXIES proxies, the visitor's address (halftime.middleware).
    return request.META.get("REMOTE_ADDR") or None


def gpc(request: HttpRequest) -> bool:
    """The browser sends Global Privacy Control: its person opts out of any sale or sharing."""
    return request.headers.get("Sec-GPC", "").strip() == "1"


def tripped(*limits: Limit) -> Limit | None:
    """The limit a signup is over. It is let through when the counters' store is down: no
    signup is lost to it."""
    try:
        return hit(*limits)
    except LimiterUnavailable:
        return None


def wants_json(request: HttpRequest) -> bool:
    return request.content_type == "application/json" or "application/json" in request.headers.get(
        "Accept", ""
    )


def _json_payload(request: HttpRequest) -> dict | None:
    if len(request.body) > MAX_JSON_BYTES:
        return None
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    # Lists for the multi-value field, text for the rest; anything else is simply invalid.
    return {k: v if k == "interests" else ("" if v is None else v) for k, v in data.items()}


def allow_listed_origin(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Let a page on a listed origin read the answer (CORS); every other origin's browser
    refuses it."""
    origin = request.headers.get("Origin")
    if origin and origin in settings.WAITLIST_ALLOWED_ORIGINS:
        response["Access-Control-Allow-Origin"] = origin
    patch_vary_headers(response, ["Origin"])
    return response


def _inviter(code: str) -> str:
    """Whose link this is, as the page names them: the first letter of their address ("B.")."""
    if not code or not code.isascii() or not code.isprintable():
        return ""
    email = (
        Subscriber.objects.filter(referral_code=code, status=Subscriber.Status.CONFIRMED)
        .values_list("email", flat=True)
        .first()
    )
    return f"{email[0].upper()}." if email else ""


@method_decorator(csrf_exempt, name="dispatch")
class JoinView(View):
    """POST a signup; the answer is the same for every address (no enumeration).

    No CSRF token: the form sits on cached public pages, and a forged signup only starts a double
    opt-in that the mailbox owner must confirm.
    """

    def get(self, request: HttpRequest) -> HttpResponse:
        initial = {"ref": request.GET.get("ref", "")[:16], "placement": "page"}
        initial.update({k: v[:100] for k, v in request.GET.items() if k.startswith("utm_")})
        context = {"form": JoinForm(initial=initial), "inviter": _inviter(initial["ref"])}
        return render(request, "waitlist/join.html", context)

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().dispatch(request, *args, **kwargs)
        return allow_listed_origin(request, response)

    def options(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        """A browser's preflight before a cross-origin JSON join: answered for a listed origin
        (WAITLIST_ALLOWED_ORIGINS) only, so no other site's page can read our answers."""
        if request.headers.get("Origin") not in settings.WAITLIST_ALLOWED_ORIGINS:
            return HttpResponse(status=403)
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "POST"
        response["Access-Control-Allow-Headers"] = "Content-Type, Accept"
        response["Access-Control-Max-Age"] = "600"
        return response

    def post(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        as_json = wants_json(request)
        if request.content_type == "application/json":
            data = _json_payload(request)
            if data is None:
                return JsonResponse({"errors": {"__all__": ["Send a JSON object."]}}, status=400)
            form = JoinForm(data)
        else:
            form = JoinForm(request.POST)
        ip = client_ip(request)
        # One counter per connection: an IPv6 visitor's whole /64.
        per_ip = Limit("join-ip", network(ip) or "unknown", settings.WAITLIST_IP_LIMIT, 600)
        if not form.is_valid():
            if over := tripped(per_ip):
                return self.too_many(request, form, as_json, over)
            if as_json:
                answer = {"errors": form.errors.get_json_data()}
                if form.suggestion:
                    answer |= {"suggestion": form.suggestion, "checked": form.typed_email}
                return JsonResponse(answer, status=400)
            return render(request, "waitlist/join.html", {"form": form}, status=400)
        email = form.cleaned_data["email"]
        # Per mailbox: the spellings Gmail delivers alike (dots, plus tags) count as one.
        per_address = Limit(
            "join-email", signup.canonical_email(email), settings.WAITLIST_EMAIL_LIMIT, 3600
        )
        if over := tripped(per_ip, *([] if form.is_bot else [per_address])):
            return self.too_many(request, form, as_json, over)
        if form.is_bot:
            return self.accepted(as_json, email, None)
        article_id = form.cleaned_data["article"]
        if article_id and not Article.objects.filter(pk=article_id).exists():
            article_id = None
        joined = signup.subscribe(
            email=email,
            interests=form.cleaned_data["interests"],
            state=form.cleaned_data["state"],
            source=signup.SignupSource(
                article_id=article_id,
                placement=form.cleaned_data["placement"],
                utm=form.utm(),
                referrer_url=form.cleaned_data["referrer"]
                or request.headers.get("Referer", "")[:500],
                referral_code=form.cleaned_data["ref"],
            ),
            ip=ip,
            user_agent=request.headers.get("User-Agent", ""),
            interests_consent=form.cleaned_data["interests_consent"],
            gpc=gpc(request),
        )
        if form.cleaned_data["code"]:
            access_code = codes.find(form.cleaned_data["code"])
            if not codes.refusal(access_code):
                codes.claim(access_code, joined.subscriber)
        if joined.signed_up:
            pacing.joins.signed_up(started)
        else:
            pacing.joins.hold(started)
        return self.accepted(as_json, email, article_id)

    def accepted(self, as_json: bool, email: str, article_id: int | None) -> HttpResponse:
        if as_json:
            return JsonResponse(
                {"status": "ok", "message": CHECK_INBOX, "next": reverse("waitlist:check_inbox")},
                status=202,
            )
        response = redirect("waitlist:check_inbox")
        # The next page names the address and leads back to the article; nothing in its URL.
        response.set_signed_cookie(
            JOINED_COOKIE, json.dumps({"email": email, "article": article_id}),
            salt=JOINED_COOKIE, max_age=3600, path=reverse("waitlist:check_inbox"),
            secure=self.request.is_secure(), httponly=True, samesite="Lax",
        )  # fmt: skip
        return response

    def too_many(self, request, form, as_json: bool, limit: Limit) -> HttpResponse:
        message = SLOW_DOWN.format(wait=limit.wait_words())
        if as_json:
            response = JsonResponse({"errors": {"__all__": [message]}}, status=429)
        else:
            context = {"form": form, "slow_down": message}
            response = render(request, "waitlist/join.html", context, status=429)
        response["Retry-After"] = str(limit.retry_after())
        return response


class CheckInboxView(View):
    """What happens next, for the address just entered (read from the signed cookie the join
    set), with a way back to the article the person joined from."""

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            joined = json.loads(request.get_signed_cookie(JOINED_COOKIE, salt=JOINED_COOKIE))
        except (KeyError, ValueError, signing.BadSignature):
            joined = {}
        article = (
            Article.objects.published().filter(pk=joined.get("article")).first()
            if isinstance(joined.get("article"), int)
            else None
        )
        context = {"email": joined.get("email", ""), "article": article}
        response = render(request, "waitlist/check_inbox.html", context)
        patch_cache_control(response, private=True, no_store=True)
        return response


class ConfirmView(View):
    """GET only shows a button (mail scanners follow links); POST confirms."""

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            data = links.subscriber_for(tokens.CONFIRM, token)
        except tokens.BadToken as exc:
            return render(request, "waitlist/bad_link.html", {"expired": exc.expired}, status=400)
        subscriber = Subscriber.objects.get(pk=data.subscriber_id)
        if subscriber.status == Subscriber.Status.CONFIRMED:  # a link used before
            preferences = tokens.make_token(tokens.PREFERENCES, key=subscriber.token_key)
            return redirect(reverse("waitlist:welcome", args=[preferences]) + "?already=1")
        return render(request, "waitlist/confirm.html", {"token": token})

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            subscriber = signup.confirm(token=token, ip=client_ip(request))
        except tokens.BadToken as exc:
            return render(request, "waitlist/bad_link.html", {"expired": exc.expired}, status=400)
        preferences = tokens.make_token(tokens.PREFERENCES, key=subscriber.token_key)
        return redirect("waitlist:welcome", token=preferences)


def _subscriber(purpose: str, token: str) -> Subscriber:
    try:
        data = links.subscriber_for(purpose, token)
    except tokens.BadToken as exc:
        raise Http404("This link is not valid.") from exc
    return Subscriber.objects.get(pk=data.subscriber_id)


class WelcomeView(View):
    """The person's page: their place, their link, the friends who joined through it (and
    whether each counted), and their state if they have not told us yet."""

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        subscriber = self.on_the_list(token)
        return self.page(request, subscriber, token, StateForm())

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        subscriber = self.on_the_list(token)
        form = StateForm(request.POST)
        if not form.is_valid():
            return self.page(request, subscriber, token, form, status=400)
        links.set_state(subscriber_id=subscriber.pk, state=form.cleaned_data["state"])
        return redirect(reverse("waitlist:welcome", args=[token]) + "?state=saved")

    def on_the_list(self, token: str) -> Subscriber:
        subscriber = _subscriber(tokens.PREFERENCES, token)
        if subscriber.status != Subscriber.Status.CONFIRMED:
            raise Http404("Not on the list.")
        return subscriber

    def page(self, request, subscriber, token, form, status=200) -> HttpResponse:
        referral_url = links.referral_url(subscriber.referral_code)
        context = {
            "subscriber": subscriber,
            "state_name": USState(subscriber.state).label if subscriber.state else "",
            "state_saved": request.GET.get("state") == "saved" and subscriber.state,
            "already": "already" in request.GET,
            "form": form,
            "position": subscriber.position(),
            "referral_url": referral_url,
            "referrals": subscriber.credited_referrals(),
            "friends": referrals.friends(subscriber),
            "milestones": milestones.progress(subscriber),
            "places": settings.REFERRAL_PLACES,
            "share_text": f"I joined the {settings.SITE_NAME} waitlist. Join through my link:",
            "token": token,
        }
        return render(request, "waitlist/welcome.html", context, status=status)


class PreferencesView(View):
    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        subscriber = _subscriber(tokens.PREFERENCES, token)
        form = PreferencesForm(
            initial={
                "interests": subscriber.interests,
                "interests_consent": consent.given(subscriber, consent.Purpose.INTERESTS),
                "state": subscriber.state,
            }
        )
        return self.page(request, subscriber, form, token)

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        subscriber = _subscriber(tokens.PREFERENCES, token)
        form = PreferencesForm(request.POST)
        if not form.is_valid():
            return self.page(request, subscriber, form, token, status=400)
        links.update_preferences(
            subscriber_id=subscriber.pk,
            interests=form.cleaned_data["interests"],
            interests_consent=form.cleaned_data["interests_consent"],
            state=form.cleaned_data["state"],
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
            gpc=gpc(request),
        )
        return redirect(reverse("waitlist:preferences", args=[token]) + "?saved=1")

    def page(self, request, subscriber, form, token, status=200) -> HttpResponse:
        context = {
            "form": form,
            "subscriber": subscriber,
            "token": token,
            "saved": request.GET.get("saved") == "1",
            "unsubscribe_token": tokens.make_token(tokens.UNSUBSCRIBE, key=subscriber.token_key),
        }
        return render(request, "waitlist/preferences.html", context, status=status)


class ExportView(View):
    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        subscriber = _subscriber(tokens.PREFERENCES, token)
        data = privacy.export_data(subscriber_id=subscriber.pk)
        response = JsonResponse(data, json_dumps_params={"indent": 2})
        response["Content-Disposition"] = 'attachment; filename="halftime-waitlist-data.json"'
        response["Cache-Control"] = "no-store"
        return response


class EraseView(View):
    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        subscriber = _subscriber(tokens.PREFERENCES, token)
        if request.POST.get("confirm") != "yes":
            return redirect(reverse("waitlist:preferences", args=[token]) + "?erase=confirm")
        privacy.erase(subscriber_id=subscriber.pk)
        return render(request, "waitlist/erased.html")


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(View):
    """GET shows a button. POST unsubscribes: the page's button or a mail provider's RFC 8058
    one-click POST, which carries no cookie and no CSRF token and must get a 200, not a
    redirect. Repeating it is harmless."""

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            data = links.subscriber_for(tokens.UNSUBSCRIBE, token)
        except tokens.BadToken:
            return render(request, "waitlist/bad_link.html", {"unsubscribe": True}, status=400)
        email = Subscriber.objects.values_list("email", flat=True).get(pk=data.subscriber_id)
        return render(request, "waitlist/unsubscribe.html", {"token": token, "email": email})

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            data = links.subscriber_for(tokens.UNSUBSCRIBE, token)
        except tokens.BadToken:
            return render(request, "waitlist/bad_link.html", {"unsubscribe": True}, status=400)
        subscriber = links.unsubscribe(subscriber_id=data.subscriber_id)
        return render(request, "waitlist/unsubscribed.html", {"email": subscriber.email})


class UpdatesView(TemplateView):
    """The public archive of launch updates: the same for everyone, nothing personal."""

    template_name = "waitlist/updates.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "updates": Campaign.objects.archived()}


class UpdateView(View):
    """One update's web version, as it went out, without anyone's links. Staff who may see
    campaigns can read one before it goes out (the test's "view in your browser" link), in a
    session admin itself would let in (with its second factor where one is required)."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        shown = Campaign.objects.archived()
        if admin.site.has_permission(request) and request.user.has_perm("waitlist.view_campaign"):
            shown = Campaign.objects.all()
        update = shown.filter(pk=pk).first()
        if update is None:
            raise Http404("No such update.")
        return render(request, "waitlist/update.html", {"update": update})


def _masked(email: str) -> str:
    """The address as the start page shows it: enough for its owner to know it, no more."""
    name, _, domain = email.partition("@")
    return f"{name[:1]}•••@{domain}"


@method_decorator(never_cache, name="dispatch")
class StartView(View):
    """A person's invitation link. GET says what happens next (mail scanners follow links);
    POST accepts it, and hands the person to the clinic (CLINIC_SIGNUP_URL) or says what
    happens next, or declines it."""

    def get(self, request: HttpRequest, code: str) -> HttpResponse:
        if ":" not in code:  # not a person's signed link: an access code
            return self.access_code(request, code)
        try:
            invitation = start.look_up(code)
        except start.CodeRefused as refused:
            return self.refused(request, refused)
        subscriber = invitation.subscriber
        context = {
            "code": code,
            "invitation": invitation,
            "masked_email": _masked(subscriber.email or ""),
            "state_name": USState(subscriber.state).label if subscriber.state else "your state",
            "clinic_url": settings.CLINIC_SIGNUP_URL,
        }
        return render(request, "waitlist/start.html", context)

    def post(self, request: HttpRequest, code: str) -> HttpResponse:
        try:
            if request.POST.get("action") == "decline":
                start.decline(code)
                return render(request, "waitlist/started.html", {"declined": True})
            activated = start.activate(code)
        except start.CodeRefused as refused:
            return self.refused(request, refused)
        if settings.CLINIC_SIGNUP_URL:
            url = settings.CLINIC_SIGNUP_URL
            if activated.event_id:
                url += ("&" if "?" in url else "?") + urlencode({"ref": activated.event_id})
            return redirect(url)
        email = activated.invitation.subscriber.email or ""
        return render(request, "waitlist/started.html", {"masked_email": _masked(email)})

    def access_code(self, request: HttpRequest, code: str) -> HttpResponse:
        """A code many may use: the join form, carrying it."""
        access_code = codes.find(code)
        if refusal := codes.refusal(access_code):
            context = {"reason": refusal, "access_code": access_code, "typed": True}
            status = 400 if refusal == "unknown" else 410
            return render(request, "waitlist/code_refused.html", context, status=status)
        form = JoinForm(initial={"placement": "code", "code": access_code.code},
                        auto_id="code-%s")  # fmt: skip
        context = {"form": form, "access_code": access_code}
        return render(request, "waitlist/start_code.html", context)

    def refused(self, request: HttpRequest, refused: "start.CodeRefused") -> HttpResponse:
        context = {"reason": refused.reason, "invitation": refused.invitation}
        status = 400 if refused.reason == "unknown" else 410
        return render(request, "waitlist/code_refused.html", context, status=status)
