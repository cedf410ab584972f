"""Django's Redis cache, keeping one client per connection pool.

Django builds a new ``redis.Redis`` for every cache call, and redis-py spends longer setting one
up than a local Redis takes to answer: this backend builds each once. It also offers
``incr_many_with_expiry``: several counters in one command, for the rate limits.
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

# Counts a hit on each key; a key's first hit starts its expiry (ARGV holds the seconds, key by
# key). One command where a pipeline would send an INCR and an EXPIRE per key.
COUNT_HITS = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then
    redis.call('EXPIRE', key, ARGV[i])
  end
end
return counts
"""


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
        self._scripts = {}

    def incr_many_with_expiry(self, timeouts: dict[str, int]) -> list[int]:
        """Count a hit on each key (made of a name and hex digits: nothing to validate); a key
        new to Redis expires that many seconds later. Returns the counts in the keys' order."""
        keys = [self.make_key(key) for key in timeouts]
        client = self._cache.get_client(keys[0], write=True)
        script = self._scripts.get(id(client))
        if script is None:
            # redis-py sends the script's digest (EVALSHA), and the source once if Redis lacks it.
            script = self._scripts[id(client)] = client.register_script(COUNT_HITS)
        return script(keys=keys, args=list(timeouts.values()))
