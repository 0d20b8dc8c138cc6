"""Brute-force protection for LoginRequest: throttling with back-off, never a hard lockout.

Every attempt first reserves a slot in fixed windows, atomically in the shared store (INCR), so
parallel attempts cannot slip past a limit: a request sees the count including itself.

- Per account (the login as typed, normalised; unknown logins are counted too): 5 attempts a
  minute, 20 in 15 minutes, 100 an hour. The growing windows are the back-off; the hour window
  is the NIST 800-63B ceiling of 100 failures.
- Per shopper IP, only when DR passes it in a configured extended attribute (DR's own address is
  every shopper's, so it is never used): 30 a minute, 300 an hour.
- A global ceiling on attempts per minute across the whole deployment.
A successful sign-in clears the account's windows. A throttled attempt is answered exactly like a
wrong password (same body; the caller still pays a dummy verification for the same timing).
When the attack stops, the windows expire and the real user gets back in.

If the shared store is down, counting falls back to this process's memory (documented policy:
sign-in stays available, limits are then per process).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sso_bridge.store import InMemoryStore, KeyValueStore, StoreUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    seconds: int
    limit: int


@dataclass(frozen=True)
class ThrottlePolicy:
    account: tuple[Window, ...] = (Window(60, 5), Window(900, 20), Window(3600, 100))
    ip: tuple[Window, ...] = (Window(60, 30), Window(3600, 300))
    global_per_minute: int = 6000


def _digest(value: str) -> str:
    # Logins are personal data: key names hold a digest, never the login itself.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class LoginThrottle:
    def __init__(self, *, store: KeyValueStore, policy: ThrottlePolicy | None = None) -> None:
        self._store = store
        self._fallback = InMemoryStore()
        self._policy = policy or ThrottlePolicy()

    def _keys(self, login: str, ip: str | None) -> list[tuple[str, Window, str]]:
        account = _digest(login.strip().lower())
        keys = [(f"thr:acct:{account}:{w.seconds}", w, "account") for w in self._policy.account]
        if ip:
            keys += [(f"thr:ip:{_digest(ip)}:{w.seconds}", w, "ip") for w in self._policy.ip]
        keys.append(("thr:global:60", Window(60, self._policy.global_per_minute), "global"))
        return keys

    def reserve(self, login: str, ip: str | None) -> str | None:
        """Count this attempt; the scope that throttles it ("account", "ip", "global") or None."""
        throttled: str | None = None
        for key, window, scope in self._keys(login, ip):
            count = self._increment(key, window.seconds)
            if count > window.limit and throttled is None:
                throttled = scope
        return throttled

    def succeeded(self, login: str) -> None:
        """The real user got in: clear the account's windows."""
        account = _digest(login.strip().lower())
        for window in self._policy.account:
            key = f"thr:acct:{account}:{window.seconds}"
            try:
                self._store.delete(key)
            except StoreUnavailable:
                self._fallback.delete(key)

    def _increment(self, key: str, seconds: int) -> int:
        try:
            return self._store.increment(key, seconds)
        except StoreUnavailable:
            log.warning("login throttle: shared store unavailable, counting in-process")
            return self._fallback.increment(key, seconds)
