import logging
from pathlib import Path

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django.views.generic import TemplateView

from articles.models import Article

logger = logging.getLogger(__name__)


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


@require_safe
def robots_txt(request: HttpRequest) -> HttpResponse:
    lines = [
        "User-agent: *",
        "Disallow: /learn/search/",
        f"Sitemap: {settings.SITE_URL}{reverse('sitemap')}",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain")


class HomeView(TemplateView):
    template_name = "home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["latest"] = Article.objects.published().for_listing()[:3]
        return context
