"""A whole-page cache for anonymous visitors of the Learning Center.

Two levels: each process keeps recent pages in memory, and Redis shares them between processes.
Every entry carries the content version it was rendered for; any edit to an article, category,
FAQ, source or glossary term makes a new version. The process that made the edit sees it at
once, every other process within VERSION_CHECK_SECONDS, so a visitor never sees an edit late by
more than that. PAGE_CACHE_SECONDS bounds how late a scheduled article appears in listings. A
cache that is down is skipped, never an error page.
"""

import functools
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

VERSION_KEY = "learn:content-version"
VERSION_CHECK_SECONDS = 1.0
LOCAL_ENTRIES = 256

_lock = threading.Lock()
_local: OrderedDict[str, tuple[int, bytes, str, float]] = OrderedDict()
_version: tuple[int, float] | None = None


def bump_content_version() -> None:
    global _version
    version = time.time_ns()
    with _lock:
        _version = (version, time.monotonic())
        _local.clear()
    try:
        cache.set(VERSION_KEY, version, timeout=None)
    except Exception:
        logger.warning("page cache: could not bump the content version", exc_info=True)


def content_version() -> int:
    global _version
    now = time.monotonic()
    known = _version
    if known and now - known[1] < VERSION_CHECK_SECONDS:
        return known[0]
    version = cache.get(VERSION_KEY)
    if version is None:
        version = time.time_ns()
        if not cache.add(VERSION_KEY, version, timeout=None):
            version = cache.get(VERSION_KEY, version)
    _version = (version, now)
    return version


def _key(request: HttpRequest) -> str:
    digest = hashlib.sha256(request.get_full_path().encode()).hexdigest()[:32]
    return f"learn:page:{request.method == 'HEAD'}:{digest}"


def _lookup(key: str, version: int) -> tuple[bytes, str] | None:
    now = time.monotonic()
    with _lock:
        entry = _local.get(key)
        if entry and entry[0] == version and entry[3] > now:
            _local.move_to_end(key)
            return entry[1], entry[2]
    shared = cache.get(key)
    if shared and shared[0] == version:
        _remember(key, shared)
        return shared[1], shared[2]
    return None


def _remember(key: str, entry: tuple[int, bytes, str]) -> None:
    with _lock:
        _local[key] = (*entry, time.monotonic() + settings.PAGE_CACHE_SECONDS)
        _local.move_to_end(key)
        while len(_local) > LOCAL_ENTRIES:
            _local.popitem(last=False)


def cache_public_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        cacheable = (
            settings.PAGE_CACHE_SECONDS > 0
            and request.method in ("GET", "HEAD")
            and settings.SESSION_COOKIE_NAME not in request.COOKIES
        )
        if not cacheable:
            return view(request, *args, **kwargs)
        key = _key(request)
        try:
            version = content_version()
            hit = _lookup(key, version)
        except Exception:
            logger.warning("page cache: unavailable, rendering", exc_info=True)
            return view(request, *args, **kwargs)
        if hit is not None:
            return HttpResponse(hit[0], content_type=hit[1])
        response = view(request, *args, **kwargs)
        if response.status_code == 200 and not response.streaming:
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
            if not response.cookies:
                entry = (version, response.content, response["Content-Type"])
                _remember(key, entry)
                try:
                    cache.set(key, entry, settings.PAGE_CACHE_SECONDS)
                except Exception:
                    logger.warning("page cache: could not store a page", exc_info=True)
        return response

    return wrapped
