"""ActivityCheck: is the user still active in the merchant directory? Asked at most once a bound.

The cache-hit token path may not query the directory per request (hot-paths.md), yet a user
deactivated in the merchant table must stop getting tokens within a documented bound
(``ACTIVE_RECHECK_SECONDS``). So each process remembers, per user key, when the directory last
said "active" and asks again once that is older than the bound; a mint asks every time
(``active_now``). A directory that cannot be read raises ``DirectoryUnavailable``: the bound is a
promise, so an unknown answer is never taken for "active".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from sso_bridge.directory.base import DirectoryUser


class KeyLookup(Protocol):
    """The one UserDirectory method this needs."""

    def find_by_key(self, key: str) -> DirectoryUser | None: ...


class ActivityCheck:
    _LIMIT = 100_000  # user keys remembered per process (a few MiB at most)

    def __init__(
        self,
        *,
        directory: KeyLookup,
        recheck_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._recheck = recheck_seconds
        self._clock = clock
        self._checked: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def recheck_seconds(self) -> float:
        return self._recheck

    def is_active(self, user_key: str) -> bool:
        """Active as of at most ``recheck_seconds`` ago (the cache-hit path: a dict lookup)."""
        checked = self._checked.get(user_key)
        if checked is not None and self._clock() - checked < self._recheck:
            return True
        return self.active_now(user_key)

    def active_now(self, user_key: str) -> bool:
        """Asks the directory now (before every mint)."""
        user = self._directory.find_by_key(user_key)
        if user is None or not user.active:
            self._checked.pop(user_key, None)
            return False
        self.saw_active(user_key)
        return True

    def saw_active(self, user_key: str) -> None:
        """The caller just read the user from the directory, active."""
        now = self._clock()
        with self._lock:
            if len(self._checked) >= self._LIMIT:
                self._checked.clear()
            self._checked[user_key] = now
