"""A time floor for failed sign-ins, so that no failure answers faster than a real verification.

A dummy verification of "the table's typical hash" is not enough on its own: a table mixes costs
(md5-crypt at 7 ms beside PBKDF2 at 0.7 s), some rows hold no usable hash at all (``!``-prefixed
social-login accounts), and an ambiguous login or a throttled account may be answered without
touching the hash of the account it names. Each of those answers at its own speed, and the speed
tells an attacker which logins exist.

So, Authelia-style, every process keeps a bounded rolling sample of how long attempts that
verified a *real* stored hash took (start of the attempt to the end of the verification), and
every failed attempt, whatever the reason, is held until at least the largest recent sample
plus a little random jitter has passed since it started. Successes are never delayed. The largest
sample (not a mean) is the floor because the attacker's probes of an expensive account are
themselves samples: the floor rises to meet them. Samples older than ``max_age`` drop out, so an
outlier under load is forgotten, and ``ceiling`` bounds the floor whatever happens.

The wait is a sleep after the verification (no CPU, no verification slot held); this module
imports nothing of the bridge's infrastructure and takes its clock and sleep as arguments, so the
unit tests drive it with a fake clock.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable

_RANDOM = random.SystemRandom()


class FailureFloor:
    """The minimum duration of a failed sign-in, learnt from real verifications."""

    def __init__(
        self,
        *,
        window: int = 256,
        max_age: float = 600.0,
        ceiling: float = 2.0,
        jitter: float = 0.005,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        random_fraction: Callable[[], float] = _RANDOM.random,
    ) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=window)
        self._max_age = max_age
        self._ceiling = ceiling
        self._jitter = jitter
        self._clock = clock
        self._sleep = sleep
        self._random = random_fraction
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._clock()

    def observe(self, started: float) -> None:
        """An attempt that began at ``started`` has just finished verifying a real stored hash."""
        now = self._clock()
        with self._lock:
            self._samples.append((now, now - started))

    def floor(self) -> float:
        """The largest recent verification duration (0 before any), at most ``ceiling``."""
        oldest = self._clock() - self._max_age
        with self._lock:
            recent = [duration for at, duration in self._samples if at >= oldest]
        return min(self._ceiling, max(recent, default=0.0))

    def hold(self, started: float) -> float:
        """Sleep until the floor plus jitter has passed since ``started`` (a failed attempt);
        the seconds slept."""
        until = started + self.floor() + self._jitter * self._random()
        remaining = until - self._clock()
        if remaining <= 0:
            return 0.0
        self._sleep(remaining)
        return remaining
