"""The data map in admin: every place personal or health data is kept (`people.datamap`), for
staff who may see the dashboard."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from ..people import datamap


def datamap_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("waitlist.view_dashboard"):
        raise PermissionDenied
    sections = [
        {"name": "tables", "caption": "In the database", "places": datamap.TABLES, "tables": True},
        {"name": "elsewhere", "caption": "Outside the database", "places": datamap.ELSEWHERE},
    ]
    context = {**admin.site.each_context(request), "title": "Data map", "sections": sections}
    return TemplateResponse(request, "admin/waitlist/datamap.html", context)
