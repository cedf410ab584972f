"""Django's Redis cache, keeping one client per connection pool.

Django builds a new ``redis.Redis`` for every cache call, and redis-py spends longer setting one
up than a local Redis takes to answer: this backend builds each once. It also offers
``incr_many_with_expiry``: several counters in one round trip, for the rate limits.
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class ReusingRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ReusingClient

    def incr_many_with_expiry(self, timeouts: dict[str, int]) -> list[int]:
        """Count a hit on each key and (re)set it to expire that many seconds from now, all in
        one round trip. Returns the counts in the order of the keys."""
        keys = [self.make_and_validate_key(key) for key in timeouts]
        client = self._cache.get_client(keys[0], write=True)
        pipe = client.pipeline(transaction=False)
        for key, timeout in zip(keys, timeouts.values(), strict=True):
            pipe.incr(key)
            pipe.expire(key, timeout)
        return pipe.execute()[::2]
