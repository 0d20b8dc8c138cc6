"""A cap on concurrent password verifications in one process.

Hashing is CPU-bound (tens of milliseconds each). Without a cap, a login flood occupies every
worker thread and the token path starves; with it, logins beyond the cap wait briefly and then
get a fast 503 (DR tells the shopper to retry) while other requests keep flowing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class VerificationBusy(Exception):
    """Too many verifications in progress: the caller should answer 503 with Retry-After."""


class VerificationGate:
    def __init__(self, *, limit: int, wait: float) -> None:
        self._slots = threading.BoundedSemaphore(limit)
        self._wait = wait

    @contextmanager
    def admit(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self._wait):
            raise VerificationBusy()
        try:
            yield
        finally:
            self._slots.release()
