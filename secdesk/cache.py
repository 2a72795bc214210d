"""Django's Redis cache backend, reusing its redis-py client.

Django builds a new `redis.Redis` for every cache call, and redis-py's constructor is not cheap (it rebuilds its
table of response callbacks: about a millisecond of CPU, several times per missed call through the live inbox
doorbell). A client is only a thin handle over its connection pool and is thread-safe, so one per pool does.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
