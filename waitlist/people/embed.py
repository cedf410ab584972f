"""The waitlist form for a site hosted elsewhere (a marketing site, a landing-page builder):
a plain HTML form that posts here, and a script that joins through the JSON API instead, which
answers only the origins in WAITLIST_ALLOWED_ORIGINS. Both reach the same view, limits and
consent record as the site's own form; the embedding page is the signup's source."""

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse

from . import consent


def snippet(*, with_script: bool) -> str:
    context = {
        "SITE_URL": settings.SITE_URL,
        "SITE_NAME": settings.SITE_NAME,
        "consent_text": consent.current_text(),
    }
    parts = ["waitlist/embed/form.html"] + (["waitlist/embed/script.html"] if with_script else [])
    return "".join(render_to_string(part, context) for part in parts)


def embed_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("waitlist.view_subscriber"):
        raise PermissionDenied
    context = {
        **admin.site.each_context(request),
        "title": "The waitlist form on another site",
        "plain": snippet(with_script=False),
        "enhanced": snippet(with_script=True),
        "origins": settings.WAITLIST_ALLOWED_ORIGINS,
    }
    return TemplateResponse(request, "admin/waitlist/embed.html", context)
