"""The shared cache's hit counters, on the real Redis the rate limits use."""

from django.core.cache import cache


def ttl(key: str) -> int:
    return cache._cache.get_client(key).ttl(cache.make_key(key))


def test_hits_are_counted_per_key_in_one_command():
    assert cache.incr_many_with_expiry({"hits:a": 600, "hits:b": 3600}) == [1, 1]
    assert cache.incr_many_with_expiry({"hits:a": 600, "hits:b": 3600}) == [2, 2]
    assert cache.incr_many_with_expiry({"hits:b": 3600}) == [3]
    # Django's cache reads the same counters.
    assert (cache.get("hits:a"), cache.get("hits:b")) == (2, 3)


def test_a_counter_expires_a_window_after_its_first_hit_however_often_it_is_hit():
    cache.incr_many_with_expiry({"hits:window": 600})
    cache._cache.get_client("hits:window").expire(cache.make_key("hits:window"), 5)
    cache.incr_many_with_expiry({"hits:window": 600})
    assert 0 < ttl("hits:window") <= 5  # a later hit does not push the end of the window back


def test_the_counting_script_is_sent_again_when_redis_has_forgotten_it():
    cache.incr_many_with_expiry({"hits:again": 60})
    cache._cache.get_client("hits:again").script_flush()
    assert cache.incr_many_with_expiry({"hits:again": 60}) == [2]
