import functools
import logging
from email.utils import parseaddr
from pathlib import Path

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django.views.generic import TemplateView

from articles import cards
from articles.models import Article
from waitlist.models import Subscriber

from . import healthdata, icons

logger = logging.getLogger(__name__)

# Icons and the site's card change only with a deploy.
IMAGE_MAX_AGE = 86400


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """The process is up and answering. It touches nothing else, so it is also the bare baseline."""
    return HttpResponse("ok", content_type="text/plain")


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        logger.warning("readyz: database unreachable", exc_info=True)
        return False


def _store_ok(alias: str) -> bool:
    try:
        caches[alias].get("readyz")
        return True
    except Exception:
        logger.warning("readyz: the %s store is unreachable", alias, exc_info=True)
        return False


def _broker_ok() -> bool:
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]).is_dir()
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        return bool(client.ping())
    except Exception:
        logger.warning("readyz: the broker is unreachable", exc_info=True)
        return False


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Each store by its role. Without the cache the site serves, only slower: it is reported
    but does not make the process unready."""
    checks = {
        "database": _database_ok(),
        "broker": _broker_ok(),
        "ratelimit": _store_ok("ratelimit"),
        "cache": _store_ok("default"),
    }
    ready = all(ok for role, ok in checks.items() if role != "cache")
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


def _image(body: bytes, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    patch_cache_control(response, public=True, max_age=IMAGE_MAX_AGE)
    return response


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    return _image(icons.ico(), "image/x-icon")


@require_safe
def icon(request: HttpRequest, size: int) -> HttpResponse:
    if size not in icons.SIZES:
        raise Http404("No icon of that size.")
    return _image(icons.png(size), "image/png")


@require_safe
def manifest(request: HttpRequest) -> JsonResponse:
    """What a phone needs to put the site on its home screen."""
    return JsonResponse(
        {
            "name": settings.SITE_NAME,
            "short_name": settings.SITE_NAME.split()[0],
            "start_url": "/",
            "display": "browser",
            "theme_color": "#0b5563",
            "background_color": "#ffffff",
            "icons": [
                {"src": reverse("icon", args=[n]), "sizes": f"{n}x{n}", "type": "image/png"}
                for n in (192, 512)
            ],
        },
        content_type="application/manifest+json",
    )


@functools.cache
def _site_card() -> bytes:
    return cards.card(
        title="Men’s health, explained plainly.", kicker="Launching soon", footer=settings.SITE_NAME
    )


@require_safe
def share_image(request: HttpRequest) -> HttpResponse:
    """The site's og:image; each article has its own (articles.views.share_image)."""
    return _image(_site_card(), "image/png")


@require_safe
def robots_txt(request: HttpRequest) -> HttpResponse:
    lines = [
        "User-agent: *",
        "Disallow: /learn/search/",
        f"Sitemap: {settings.SITE_URL}{reverse('sitemap')}",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain")


class PrivacyView(TemplateView):
    template_name = "privacy.html"
    extra_context = {
        "reminder_hours": settings.CONFIRM_REMINDER_HOURS,
        "expiry_days": settings.PENDING_EXPIRY_DAYS,
    }


class HealthDataPolicyView(TemplateView):
    """The Consumer Health Data Privacy Policy: the current version, or an earlier one by its
    label. How long data is kept is read from the settings that enforce it."""

    template_name = "health_data/policy.html"

    def get_context_data(self, **kwargs):
        label = kwargs.pop("version", healthdata.CURRENT)
        if label not in healthdata.VERSIONS:
            raise Http404("No such version of the policy.")
        return super().get_context_data(
            label=label,
            policy=healthdata.VERSIONS[label],
            current=label == healthdata.CURRENT,
            replaced_on=healthdata.replaced_on(label),
            history=healthdata.history(),
            expiry_days=settings.PENDING_EXPIRY_DAYS,
            outbox_days=settings.RETENTION_OUTBOX_DAYS,
            webhook_days=settings.RETENTION_WEBHOOK_DAYS,
            unsubscribed_days=settings.RETENTION_UNSUBSCRIBED_DAYS,
            contact_email=parseaddr(settings.DEFAULT_FROM_EMAIL)[1],
            postal_address=settings.POSTAL_ADDRESS,
            **kwargs,
        )


@require_safe
def gpc(request: HttpRequest) -> JsonResponse:
    """The Global Privacy Control support resource (https://privacycg.github.io/gpc-spec/):
    the site honours the signal."""
    return JsonResponse({"gpc": True, "lastUpdate": healthdata.GPC_LAST_UPDATE.isoformat()})


class HomeView(TemplateView):
    template_name = "home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["latest"] = Article.objects.published().for_listing()[:3]
        context["waiting"] = people_waiting()
        return context


def people_waiting() -> int | None:
    """How many have confirmed, rounded down to a hundred (a figure that stays true on a page
    cached for minutes); None below WAITLIST_COUNT_FROM."""
    shown_from = settings.WAITLIST_COUNT_FROM
    if shown_from <= 0:
        return None

    def count() -> int:
        return Subscriber.objects.filter(status=Subscriber.Status.CONFIRMED).count()

    try:
        confirmed = caches["default"].get_or_set("home:people-waiting", count, timeout=60)
    except Exception:
        logger.warning("home: the cache is unavailable; counting", exc_info=True)
        confirmed = count()
    return confirmed // 100 * 100 if confirmed >= max(shown_from, 100) else None
