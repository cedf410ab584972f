"""The operators' waitlist dashboard: numbers computed in the database, a chart drawn as SVG."""

import datetime as dt

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from articles.models import Article

from .models import Subscriber

DAYS = 30


def signups_per_day(*, days: int = DAYS) -> list[dict]:
    today = timezone.localdate()
    start = today - dt.timedelta(days=days - 1)
    counts = {
        row["day"]: row
        for row in Subscriber.objects.filter(created_at__date__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(total=Count("id"), confirmed=Count("id", filter=Q(confirmed_at__isnull=False)))
    }
    return [
        {
            "day": day,
            "total": counts.get(day, {}).get("total", 0),
            "confirmed": counts.get(day, {}).get("confirmed", 0),
        }
        for day in (start + dt.timedelta(days=i) for i in range(days))
    ]


def chart(series: list[dict], *, width: int = 600, height: int = 160) -> list[dict]:
    """Bar geometry for the template's inline SVG."""
    peak = max([row["total"] for row in series] + [1])
    step = width / len(series)
    return [
        {
            **row,
            "x": round(i * step + 1, 1),
            "width": round(step - 2, 1),
            "height": round(row["total"] / peak * (height - 20), 1),
            "y": round(height - row["total"] / peak * (height - 20), 1),
        }
        for i, row in enumerate(series)
    ]


def dashboard_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("waitlist.view_dashboard"):
        raise PermissionDenied
    totals = Subscriber.objects.aggregate(
        signups=Count("id", filter=~Q(status=Subscriber.Status.ERASED)),
        confirmed=Count("id", filter=Q(status=Subscriber.Status.CONFIRMED)),
        ever_confirmed=Count("id", filter=Q(confirmed_at__isnull=False)),
        unsubscribed=Count("id", filter=Q(status=Subscriber.Status.UNSUBSCRIBED)),
        referred=Count("id", filter=Q(referred_by__isnull=False)),
        credited=Count("id", filter=Q(referral_credited=True)),
    )
    signups = totals["signups"]
    rate = round(100 * totals["ever_confirmed"] / signups, 1) if signups else None
    top_articles = (
        Article.objects.annotate(
            confirmed=Count("signups", filter=Q(signups__status=Subscriber.Status.CONFIRMED)),
            total=Count("signups"),
        )
        .filter(total__gt=0)
        .order_by("-confirmed", "-total")[:10]
    )
    top_referrers = (
        Subscriber.objects.annotate(
            credited=Count("referrals", filter=Q(referrals__referral_credited=True))
        )
        .filter(credited__gt=0)
        .order_by("-credited")[:10]
    )
    series = signups_per_day()
    context = {
        **admin.site.each_context(request),
        "title": "Waitlist dashboard",
        "totals": totals,
        "confirmation_rate": rate,
        "bars": chart(series),
        "series": series,
        "top_articles": top_articles,
        "top_referrers": top_referrers,
    }
    return TemplateResponse(request, "admin/waitlist/dashboard.html", context)
