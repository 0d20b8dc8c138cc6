"""Every worker's open connection count, in memory shared by all the workers of one gunicorn.

gunicorn's workers share one listening socket and all wake for a new connection; whichever gets
the CPU first accepts it. A client's keep-alive connections, opened together, then often all land
on one worker (measured: 4 connections on one of two workers in 13 of 30 trials with stock
gthread) and the other core idles for as long as they live (issue 14). With these counts a worker
steps aside while another has fewer connections, for a bounded time (the other may be busy).

The table is created when this module is imported, which gunicorn's master does when it loads
the worker class, before it forks the workers: they all inherit the same shared memory.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

SLOTS = 64  # workers of one master at once, replacements included


class ConnectionCounts:
    def __init__(self, slots: int = SLOTS) -> None:
        # Pairs (pid, open connections); a slot is claimed under the lock, then only its owner
        # writes it (an aligned 64-bit store, read without the lock by the others).
        self._table: Any = multiprocessing.Array("q", 2 * slots)
        self._slots = slots
        self._slot = -1

    def claim(self) -> bool:
        """Take a free slot (never used, or left by a worker that is gone) for this process;
        without one (every slot taken) this worker just does not balance."""
        with self._table.get_lock():
            table = self._table.get_obj()
            for slot in range(self._slots):
                pid = table[2 * slot]
                if pid == 0 or pid == os.getpid() or not _alive(pid):
                    table[2 * slot], table[2 * slot + 1] = os.getpid(), 0
                    self._slot = slot
                    return True
        return False

    def release(self) -> None:
        if self._slot >= 0:
            table = self._table.get_obj()
            table[2 * self._slot], table[2 * self._slot + 1] = 0, 0
            self._slot = -1

    def publish(self, count: int) -> None:
        if self._slot >= 0:
            self._table.get_obj()[2 * self._slot + 1] = count

    def another_has_fewer(self, count: int) -> bool:
        if self._slot < 0:
            return False
        table = self._table.get_obj()
        me = os.getpid()
        for slot in range(self._slots):
            pid, theirs = table[2 * slot], table[2 * slot + 1]
            if pid and pid != me and theirs < count and _alive(pid):
                return True
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


COUNTS = ConnectionCounts()
