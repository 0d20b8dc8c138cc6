"""The login floor: the same stored hash verified in a pool of processes, nothing else.

Kept in its own small module because pool processes import it (spawn): it must stay light.
"""

from __future__ import annotations

import time

from sso_bridge.directory.passwords import PasswordHasher

_HASHER: PasswordHasher | None = None


def _hasher() -> PasswordHasher:
    global _HASHER  # one per pool process, as a bridge worker has one
    if _HASHER is None:
        _HASHER = PasswordHasher()
    return _HASHER


def verify_once(password: str, stored_hash: str) -> bool:
    return _hasher().verify(password, stored_hash)


def verify_for(
    password: str, stored_hash: str, seconds: float, max_count: int
) -> tuple[int, float]:
    """Verify until ``seconds`` have passed (or ``max_count`` times): (verifications, elapsed)."""
    hasher = _hasher()
    started = time.perf_counter()
    deadline = started + seconds
    count = 0
    while count < max_count and time.perf_counter() < deadline:
        if not hasher.verify(password, stored_hash):
            raise RuntimeError("the stored hash does not match the benchmark password")
        count += 1
    return count, time.perf_counter() - started
