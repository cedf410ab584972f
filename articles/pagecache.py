"""The one page cache of the Learning Center: whole pages for anonymous visitors, in Django's
cache (Redis in production).

An entry is keyed by the page's path (and only the query parameters the view reads, such as a
listing's `page`), and carries the version it was rendered for. The version has two parts: a
content counter that any committed change to what the pages show moves on (signals.py), and the
site's own part, which the project composes (`settings.PAGE_CACHE_VERSION` names the function:
the deploy, the join form's consent wording). A page is served only while its version is
current, and never past the next scheduled article's publish time, so no visitor sees a stale
page. Visitors with a session (staff, previews) always get a fresh page. A cache that is down is
skipped, never an error page.
"""

import functools
import hashlib
import logging
import math
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.module_loading import import_string

from .models import Article

logger = logging.getLogger(__name__)

CONTENT_VERSION_KEY = "learn:content-version"


def content_changed() -> None:
    """Pages made from the content as it stands are stale once the change commits; moving the
    counter before then would let a page rendered from the old rows be kept as new."""
    transaction.on_commit(_new_content_version)


def _new_content_version() -> None:
    for attempt in range(3):  # a blip must not leave every page stale for PAGE_CACHE_SECONDS
        try:
            cache.set(CONTENT_VERSION_KEY, time.time_ns(), timeout=None)
            return
        except Exception:
            time.sleep(0.05 * (attempt + 1))
    logger.error(
        "page cache: could not move the content version on; pages may be up to "
        "PAGE_CACHE_SECONDS old",
        exc_info=True,
    )


@functools.cache
def _site_version_function() -> Callable[[], str]:
    return import_string(settings.PAGE_CACHE_VERSION)


def _key(request: HttpRequest, query: tuple[str, ...]) -> str:
    kept = "&".join(f"{name}={request.GET.get(name, '')}" for name in query)
    digest = hashlib.sha256(f"{request.path}?{kept}".encode()).hexdigest()[:32]
    return f"learn:page:{digest}"


def _lifetime() -> int:
    """How long a page may be kept: PAGE_CACHE_SECONDS, but not past the moment a scheduled
    article goes public (it changes listings and related reading with no save)."""
    seconds = settings.PAGE_CACHE_SECONDS
    upcoming = Article.objects.next_publication()
    if upcoming is not None:
        seconds = min(seconds, math.floor((upcoming - timezone.now()).total_seconds()))
    return max(seconds, 0)


def _public(response: HttpResponse, lifetime: int) -> HttpResponse:
    patch_cache_control(response, public=True, max_age=min(settings.PAGE_MAX_AGE, lifetime))
    return response


def cache_public_page(*, query: tuple[str, ...] = ()):
    """Decorate a view whose page is the same for every anonymous visitor. `query`: the query
    parameters it reads; any other parameter (utm_*, a cache-buster) makes no new entry."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in ("GET", "HEAD") or settings.PAGE_CACHE_SECONDS <= 0:
                return view(request, *args, **kwargs)
            if settings.SESSION_COOKIE_NAME in request.COOKIES:
                response = view(request, *args, **kwargs)
                patch_cache_control(response, private=True, no_store=True)
                return response
            key = _key(request, query)
            try:
                found = cache.get_many([CONTENT_VERSION_KEY, key])
                content = found.get(CONTENT_VERSION_KEY)
                if content is None:
                    content = time.time_ns()
                    if not cache.add(CONTENT_VERSION_KEY, content, timeout=None):
                        content = cache.get(CONTENT_VERSION_KEY, content)
                version = f"{content}:{_site_version_function()()}"
            except Exception:
                logger.warning("page cache: unavailable, rendering", exc_info=True)
                return view(request, *args, **kwargs)
            entry = found.get(key)
            if entry is not None and entry[0] == version:
                _, body, content_type, expires = entry
                response = HttpResponse(body, content_type=content_type)
                return _public(response, max(0, math.floor(expires - time.time())))
            # Before rendering: an article whose time comes during the render is in the next
            # page, and must end this one's life.
            lifetime = _lifetime()
            response = view(request, *args, **kwargs)
            if response.status_code != 200 or response.streaming:
                return response
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
            if response.cookies:
                return response
            if lifetime > 0:
                entry = (
                    version,
                    response.content,
                    response["Content-Type"],
                    time.time() + lifetime,
                )
                try:
                    cache.set(key, entry, lifetime)
                except Exception:
                    logger.warning("page cache: could not keep a page", exc_info=True)
            return _public(response, lifetime)

        return wrapped

    return decorator
