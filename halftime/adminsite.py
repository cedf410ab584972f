from functools import wraps

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from waitlist.people.ratelimit import Limit, LimiterUnavailable, hit


class HalftimeAdminSite(admin.AdminSite):
    site_header = "Halftime Health"
    site_title = "Halftime Health admin"
    index_title = "Site administration"
    index_template = "admin/halftime_index.html"

    # With ADMIN_OTP_REQUIRED, signing in takes a code from the person's authenticator app, and
    # a session signed in by password alone counts as not signed in to admin.
    @property
    def login_form(self):
        if not settings.ADMIN_OTP_REQUIRED:
            return None
        from .twofactor import TwoFactorLoginForm  # needs the app registry

        return TwoFactorLoginForm

    @property
    def login_template(self):
        return "admin/login_otp.html" if settings.ADMIN_OTP_REQUIRED else None

    def has_permission(self, request: HttpRequest) -> bool:
        verified = not settings.ADMIN_OTP_REQUIRED or request.user.is_verified()
        return super().has_permission(request) and verified

    def admin_view(self, view, cacheable=False):
        """Every admin page refuses a NUL character in its query (a list's filters or search):
        PostgreSQL refuses one in text, so the page would fail as it asks for its rows."""
        guarded = super().admin_view(view, cacheable)

        @wraps(guarded)
        def inner(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if any("\x00" in key + "".join(values) for key, values in request.GET.lists()):
                raise SuspiciousOperation("A NUL character in an admin page's query.")
            return guarded(request, *args, **kwargs)

        return inner

    def index(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        # Operators learn here, not from a campaign stuck on "Scheduled", that nothing sends.
        from waitlist import heartbeats  # needs the app registry

        if request.user.has_perm("waitlist.view_campaign"):
            for warning in heartbeats.warnings():
                messages.warning(request, warning)
        return super().index(request, extra_context)

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        """At most ADMIN_LOGIN_ATTEMPTS tries per IP address and per username in 15 minutes."""
        if request.method == "POST":
            ip = request.META.get("REMOTE_ADDR") or "unknown"
            username = request.POST.get("username", "")[:1000]
            limit = settings.ADMIN_LOGIN_ATTEMPTS
            try:
                tripped = hit(
                    Limit("admin-login-ip", ip, limit, 900),
                    Limit("admin-login-user", username, limit, 900),
                )
            except LimiterUnavailable:
                # Closed while attempts cannot be counted: no unlimited password guessing.
                return self._refuse(request, "Sign-in is unavailable for a moment", 503, 60)
            if tripped:
                return self._refuse(request, "Too many attempts", 429, tripped.retry_after())
        return super().login(request, extra_context)

    def _refuse(self, request: HttpRequest, title: str, status: int, retry: int) -> HttpResponse:
        response = TemplateResponse(
            request,
            "admin/login_limited.html",
            {**self.each_context(request), "title": title, "unavailable": status == 503},
            status=status,
        )
        response["Retry-After"] = str(retry)
        return response


class HalftimeAdminConfig(AdminConfig):
    default_site = "halftime.adminsite.HalftimeAdminSite"
