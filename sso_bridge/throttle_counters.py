"""Throttle counters (settled failures per window, attempts in flight): Redis, or this process.

The decisions are in `sso_bridge.rum.throttle`; this module only makes each step atomic. In Redis
one Lua script per step reads and updates every key of one subject at once (the keys share a
``{digest}`` hash tag, so the script touches one slot under Redis Cluster), so parallel attempts
in any number of processes see each other's reservations.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis

from sso_bridge.rum.throttle import Admission, Subject
from sso_bridge.store import StoreUnavailable

_ADMIT = """
local p = tonumber(redis.call('get', KEYS[1]) or '0')
local room = true
for i = 2, #KEYS do
  local f = tonumber(redis.call('get', KEYS[i]) or '0')
  local limit = tonumber(ARGV[i + 2])
  if f >= limit then return 'throttled' end
  if f + p >= limit then room = false end
end
if not room then
  if ARGV[1] ~= '1' then return 'wait' end
  if p >= tonumber(ARGV[2]) then return 'busy' end
end
redis.call('incr', KEYS[1])
redis.call('pexpire', KEYS[1], ARGV[3])
return 'reserved'
"""

_SETTLE = """
local p = tonumber(redis.call('get', KEYS[1]) or '0')
if p > 1 then redis.call('decr', KEYS[1]) else redis.call('del', KEYS[1]) end
if ARGV[1] == 'fail' then
  for i = 2, #KEYS do
    local n = redis.call('incr', KEYS[i])
    if n == 1 then redis.call('pexpire', KEYS[i], ARGV[i]) end
  end
elseif ARGV[1] == 'clear' then
  for i = 2, #KEYS do redis.call('del', KEYS[i]) end
end
return 1
"""

_INCREMENT = """
local n = redis.call('incr', KEYS[1])
if n == 1 then redis.call('pexpire', KEYS[1], ARGV[1]) end
return n
"""

_GLOBAL_KEY = "thr:global:failures:60"
_GLOBAL_WINDOW = 60.0


def _in_flight_key(subject: Subject) -> str:
    return f"thr:{{{subject.digest}}}:p"


def _failure_keys(subject: Subject) -> list[str]:
    return [f"thr:{{{subject.digest}}}:f:{window.seconds}" for window in subject.windows]


def _mode(failed: bool, clear: bool) -> str:
    return "fail" if failed else "clear" if clear else "none"


class RedisThrottleCounters:
    def __init__(self, *, client: Any, prefix: str = "") -> None:
        self._client = client
        self._prefix = prefix
        self._admit = client.register_script(_ADMIT)
        self._settle = client.register_script(_SETTLE)
        self._increment = client.register_script(_INCREMENT)

    def _keys(self, subject: Subject) -> list[str]:
        return [self._prefix + key for key in (_in_flight_key(subject), *_failure_keys(subject))]

    def admit(self, subject: Subject, *, force: bool, max_in_flight: int, ttl: float) -> Admission:
        args = [
            "1" if force else "0",
            max_in_flight,
            max(1, int(ttl * 1000)),
            *(w.limit for w in subject.windows),
        ]
        try:
            verdict = self._admit(keys=self._keys(subject), args=args)
        except redis.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return Admission(verdict.decode() if isinstance(verdict, bytes) else str(verdict))

    def settle(self, subject: Subject, *, failed: bool, clear: bool) -> None:
        args = [_mode(failed, clear), *(w.seconds * 1000 for w in subject.windows)]
        try:
            self._settle(keys=self._keys(subject), args=args)
        except redis.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    def release(self, subject: Subject) -> None:
        self.settle(subject, failed=False, clear=False)

    def count_global_failure(self) -> int:
        try:
            return int(
                self._increment(
                    keys=[self._prefix + _GLOBAL_KEY], args=[int(_GLOBAL_WINDOW * 1000)]
                )
            )
        except redis.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    def global_failures(self) -> int:
        try:
            value = self._client.get(self._prefix + _GLOBAL_KEY)
        except redis.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return int(value or 0)


class InMemoryThrottleCounters:
    """The same steps inside one process (no Redis configured, or Redis down)."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def _get(self, key: str, now: float) -> int:
        found = self._values.get(key)
        if found is None or found[1] <= now:
            self._values.pop(key, None)
            return 0
        return found[0]

    def _add(self, key: str, delta: int, ttl: float, now: float, *, refresh: bool) -> int:
        found = self._values.get(key)
        live = found is not None and found[1] > now
        value = (found[0] if found and live else 0) + delta
        expiry = found[1] if found and live and not refresh else now + ttl
        if value <= 0:
            self._values.pop(key, None)
            return 0
        self._values[key] = (value, expiry)
        return value

    def admit(self, subject: Subject, *, force: bool, max_in_flight: int, ttl: float) -> Admission:
        with self._lock:
            now = time.monotonic()
            in_flight_key = _in_flight_key(subject)
            in_flight = self._get(in_flight_key, now)
            room = True
            for key, window in zip(_failure_keys(subject), subject.windows, strict=True):
                failures = self._get(key, now)
                if failures >= window.limit:
                    return Admission.THROTTLED
                if failures + in_flight >= window.limit:
                    room = False
            if not room:
                if not force:
                    return Admission.WAIT
                if in_flight >= max_in_flight:
                    return Admission.BUSY
            self._add(in_flight_key, 1, ttl, now, refresh=True)
            return Admission.RESERVED

    def settle(self, subject: Subject, *, failed: bool, clear: bool) -> None:
        with self._lock:
            now = time.monotonic()
            self._add(_in_flight_key(subject), -1, 0.0, now, refresh=False)
            for key, window in zip(_failure_keys(subject), subject.windows, strict=True):
                if failed:
                    self._add(key, 1, window.seconds, now, refresh=False)
                elif clear:
                    self._values.pop(key, None)

    def release(self, subject: Subject) -> None:
        self.settle(subject, failed=False, clear=False)

    def count_global_failure(self) -> int:
        with self._lock:
            return self._add(_GLOBAL_KEY, 1, _GLOBAL_WINDOW, time.monotonic(), refresh=False)

    def global_failures(self) -> int:
        with self._lock:
            return self._get(_GLOBAL_KEY, time.monotonic())
