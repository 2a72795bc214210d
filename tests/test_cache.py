"""The Redis cache backend reuses one redis-py client per connection pool and still behaves like Django's."""

from django.core.cache import cache


def test_cache_round_trip_and_client_reuse():
    cache.delete("test-cache:key")
    assert cache.add("test-cache:key", "one", timeout=30)
    assert not cache.add("test-cache:key", "two", timeout=30)
    cache.set_many({"test-cache:key": "three", "test-cache:other": 4}, timeout=30)
    assert cache.get_many(["test-cache:key", "test-cache:other"]) == {"test-cache:key": "three", "test-cache:other": 4}
    cache.delete_many(["test-cache:key", "test-cache:other"])
    assert cache.get("test-cache:key") is None
    backend = cache._cache
    assert backend.get_client(write=True) is backend.get_client(write=True)
