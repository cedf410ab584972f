from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks


def _server(url: str) -> tuple[str, int] | None:
    """The Redis server a URL names (its databases share one memory and one eviction policy)."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return None
    return (parts.hostname or "localhost", parts.port or 6379)


@checks.register(checks.Tags.caches, deploy=True)
def the_cache_has_a_redis_of_its_own(app_configs, **kwargs) -> list[checks.CheckMessage]:
    cache = _server(settings.REDIS_CACHE_URL)
    sharing = [
        name
        for name, url in (
            ("the rate limits' counters", settings.REDIS_RATELIMIT_URL),
            ("the Celery broker", settings.CELERY_BROKER_URL),
        )
        if cache and _server(url) == cache
    ]
    if not sharing:
        return []
    return [
        checks.Warning(
            f"The cache shares a Redis server with {' and '.join(sharing)}: a full cache would "
            "evict their keys, or under noeviction refuse their writes.",
            hint="Give the cache a server of its own (REDIS_CACHE_URL, maxmemory-policy "
            "allkeys-lru) and keep noeviction where REDIS_RATELIMIT_URL and CELERY_BROKER_URL "
            "point; README, 'Production'.",
            id="halftime.W001",
        )
    ]


LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@checks.register(checks.Tags.security, deploy=True)
def a_public_server_does_not_trust_forwarded_addresses(
    app_configs, **kwargs
) -> list[checks.CheckMessage]:
    """TRUSTED_PROXIES believes X-Forwarded-For; a gunicorn anyone can reach directly lets them
    write their own address into it (past the rate limits, into the consent ledger)."""
    if (
        not settings.TRUSTED_PROXIES
        or settings.BIND in LOOPBACK
        or settings.BIND.startswith("unix:")
    ):
        return []
    return [
        checks.Warning(
            f"gunicorn listens on {settings.BIND} (BIND) while TRUSTED_PROXIES="
            f"{settings.TRUSTED_PROXIES} believes X-Forwarded-For: whoever reaches it directly, "
            "not through the proxy, chooses the address the rate limits and the consent "
            "ledger see.",
            hint="Bind to 127.0.0.1 with the proxy on the same machine. Behind a load balancer "
            "on another machine, let only it reach the port (a firewall, a private network), "
            "then list halftime.W002 in SILENCED_CHECKS; README, 'Production'.",
            id="halftime.W002",
        )
    ]


# Directives through which a page could hand a visitor's data to another site: a script (a
# "tag"), or a request made from the page.
SHARING_DIRECTIVES = ("default-src", "script-src", "script-src-elem", "connect-src")


@checks.register(checks.Tags.security)
def no_page_shares_data(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Visitors of a men's-health site say something about their health by being there, and some
    send Global Privacy Control: no page may load another site's script or send it requests. A
    tag added later must first change this check, knowingly."""
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    return [
        checks.Error(
            f"The Content-Security-Policy's {name} allows {', '.join(others)}: a page could load "
            "another site's script or send it what a visitor reads.",
            hint="Keep these directives to 'self' (and 'none').",
            id="halftime.E001",
        )
        for name in SHARING_DIRECTIVES
        if (others := [s for s in directives.get(name, []) if s not in ("'self'", "'none'")])
    ]
