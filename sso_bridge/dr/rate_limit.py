"""A DR call-rate limit shared by every process and replica, counted in Redis.

Time is cut into 100 ms windows, each admitting ``rate / 10`` calls (at least one), so no
one-second span sees much more than ``rate`` calls across the whole deployment. Below 10 calls/s a
window lasts ``1 / rate`` seconds and admits one call (100 ms windows would admit 10/s). When Redis
does not answer, each process falls back to its own even pacing at the same rate.
"""

from __future__ import annotations

import time

from sso_bridge.dr.client import TokenBucket
from sso_bridge.store import KeyValueStore, StoreUnavailable

WINDOW = 0.1


class SharedRateLimiter:
    def __init__(self, *, store: KeyValueStore, rate: float, name: str = "dr") -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        self._store = store
        self._window = max(WINDOW, 1.0 / rate)
        self._per_window = max(1, int(rate * self._window))
        self._name = name
        self._fallback = TokenBucket(rate)

    def acquire(self, deadline: float) -> bool:
        while True:
            now = time.time()
            window = int(now / self._window)
            try:
                count = self._store.increment(f"rate:{self._name}:{window}", self._window * 20)
            except StoreUnavailable:
                return self._fallback.acquire(deadline)
            if count <= self._per_window:
                return True
            wait = (window + 1) * self._window - now
            if time.monotonic() + wait > deadline:
                return False
            time.sleep(wait)
