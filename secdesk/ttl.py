"""A tiny per-process cache with a time-to-live, for read-mostly configuration on hot paths (a business number and
its settings, a carrier account's token). Entries are shared between threads and must be treated as read-only."""

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from django.conf import settings


class TTLCache:
    def __init__(self, setting: str, max_entries: int = 10_000):
        self.setting = setting  # name of the setting holding the lifetime in seconds (0 disables the cache)
        self.max_entries = max_entries
        self._data: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        seconds = getattr(settings, self.setting)
        if seconds <= 0:
            return load()
        now = time.monotonic()
        hit = self._data.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        with self._lock:
            if len(self._data) >= self.max_entries:
                self._data.clear()
            self._data[key] = (now + seconds, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
