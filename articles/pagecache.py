"""A whole-page cache for anonymous visitors of the Learning Center.

Every key carries a content version; any edit to an article, category, FAQ, source or glossary
term bumps the version, so an edit shows at once. The timeout bounds how late a scheduled article
appears on listing pages. A cache that is down is skipped, never an error page.
"""

import functools
import hashlib
import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

VERSION_KEY = "learn:content-version"


def bump_content_version() -> None:
    try:
        cache.set(VERSION_KEY, time.time_ns(), timeout=None)
    except Exception:
        logger.warning("page cache: could not bump the content version", exc_info=True)


def _page_key(request: HttpRequest) -> str | None:
    version = cache.get(VERSION_KEY)
    if version is None:
        version = time.time_ns()
        if not cache.add(VERSION_KEY, version, timeout=None):
            version = cache.get(VERSION_KEY)
    path = hashlib.sha256(request.get_full_path().encode()).hexdigest()[:32]
    return f"learn:page:{version}:{request.method == 'HEAD'}:{path}"


def cache_public_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        cacheable = (
            settings.PAGE_CACHE_SECONDS > 0
            and request.method in ("GET", "HEAD")
            and settings.SESSION_COOKIE_NAME not in request.COOKIES
        )
        key = None
        if cacheable:
            try:
                key = _page_key(request)
                hit = cache.get(key)
            except Exception:
                logger.warning("page cache: unavailable, rendering", exc_info=True)
                key = hit = None
            if hit is not None:
                content, content_type = hit
                return HttpResponse(content, content_type=content_type)
        response = view(request, *args, **kwargs)
        if key and response.status_code == 200 and not response.streaming:
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
            if not response.cookies and not response.has_header("Vary"):
                try:
                    cache.set(
                        key,
                        (response.content, response["Content-Type"]),
                        settings.PAGE_CACHE_SECONDS,
                    )
                except Exception:
                    logger.warning("page cache: could not store a page", exc_info=True)
        return response

    return wrapped
