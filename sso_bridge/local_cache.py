"""An in-process copy of the token cache, kept coherent by Redis (server-assisted caching).

Each worker keeps the token entries it read in a bounded LRU. Redis tells it when one changes:
a tracking connection per Redis primary runs ``CLIENT TRACKING ON BCAST PREFIX <token prefix>``
over RESP3, so every write, delete or expiry of a token key, by any process of any replica,
pushes an invalidation to every worker. Broadcast mode (rather than tracking each key read) keeps
Redis free of a per-key tracking table and lets the reads go over the ordinary pooled connections.

Why not redis-py's own client-side caching: it needs Redis 7.4 or later (it refuses older servers),
cannot be limited to a key prefix, and only notices invalidations or a dead connection when that
connection is next used.

Safety rules, in the order they matter:
- The cache is off (every read goes to Redis) until tracking is confirmed on every primary, and is
  emptied and switched off the moment a tracking connection fails, closes or stops answering its
  heartbeat; it comes back only once tracking is re-established. A stale token is never served
  because an invalidation was lost.
- A read that an invalidation overtakes is not cached: a read first reserves its key, an
  invalidation (or a flush) cancels the reservation, and the value is stored only if the
  reservation is still the read's own when the reply comes back.
- The process's own writes drop the key locally once Redis has applied them, so a worker reads
  its own revocation at once rather than when its invalidation arrives.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from redis.exceptions import ResponseError

log = logging.getLogger(__name__)

#: The broker's token entries (``tok:{ERID}...``): the only keys worth keeping in a worker.
#: Locks, counters, claims and indexes are compare-and-set material and always go to Redis.
TOKEN_KEY_PREFIX = "tok:"  # noqa: S105 - a key namespace, not a secret


class LocalCache:
    """A bounded LRU of Redis values with read reservations, on only while tracking is up."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a local cache holds at least one entry (0 means no cache)")
        self._size = size
        # key -> (value, monotonic deadline or None): Redis expiries are not pushed promptly
        # (its expiry cycle samples keys), so each entry also carries the TTL Redis reported.
        self._items: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._reserved: dict[str, object] = {}
        self._lock = threading.Lock()
        self._enabled = False

    @property
    def enabled(self) -> bool:
        return self._enabled

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[1] is not None and item[1] <= time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[0]

    def reserve(self, key: str) -> object | None:
        """Before a Redis read of ``key``: a ticket for `fill`, or None while the cache is off."""
        if not self._enabled:
            return None
        ticket = object()
        with self._lock:
            self._reserved[key] = ticket
        return ticket

    def fill(
        self, key: str, ticket: object | None, value: bytes | None, deadline: float | None
    ) -> None:
        """After the read: keep ``value`` until ``deadline`` (monotonic, None: no expiry)
        unless something invalidated ``key`` meanwhile."""
        if ticket is None:
            return
        with self._lock:
            if self._reserved.get(key) is not ticket:
                return  # overtaken by an invalidation, a flush or a newer read
            del self._reserved[key]
            if value is None or not self._enabled:
                return
            self._items[key] = (value, deadline)
            self._items.move_to_end(key)
            if len(self._items) > self._size:
                self._items.popitem(last=False)

    def invalidate(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._items.pop(key, None)
                self._reserved.pop(key, None)

    def enable(self) -> None:
        with self._lock:
            self._enabled = True

    def disable(self) -> None:
        """Off and empty at once; reads in flight will not refill it."""
        with self._lock:
            self._enabled = False
            self._items.clear()
            self._reserved.clear()


# One tracking connection per primary: redis-py connections, connected, speaking RESP3.
Connector = Callable[[], Sequence[Any]]


class Tracker:
    """Keeps ``cache`` subscribed to invalidations of ``prefix`` keys, in a daemon thread.

    ``connect`` opens the tracking connections (one per primary). The thread starts on first use
    in each process (gunicorn forks workers after the store may have been built) and retries a
    lost session every ``retry`` seconds; every ``heartbeat`` seconds it pings each connection and
    treats one that does not answer within ``timeout`` as lost. The thread holds the tracker only
    weakly: once nothing else uses it (a store dropped, as tests do by the hundred) it closes its
    connections and ends.
    """

    def __init__(
        self,
        cache: LocalCache,
        connect: Connector,
        *,
        prefix: str,
        heartbeat: float = 0.25,
        timeout: float = 1.0,
        retry: float = 0.5,
    ) -> None:
        self._session = _Session(cache, connect, prefix, heartbeat, timeout, retry)
        self._started_in: int | None = None
        self._start_lock = threading.Lock()

    @property
    def cache(self) -> LocalCache:
        return self._session.cache

    @property
    def sessions(self) -> int:
        """Tracking sessions established so far in this process (for tests and diagnostics)."""
        return self._session.established

    def ensure_running(self) -> None:
        if self._started_in == os.getpid():
            return
        with self._start_lock:
            if self._started_in == os.getpid():
                return
            # A forked child inherits the parent's entries and sockets but not its thread.
            self._session.cache.disable()
            self._session.connections = []
            self._started_in = os.getpid()
            thread = threading.Thread(
                target=self._session.run,
                args=(weakref.ref(self),),
                name="redis-tracking",
                daemon=True,
            )
            thread.start()

    def stop(self) -> None:
        self._session.stopped.set()
        self._session.close()


class _Session:
    """The tracking thread's state (apart from the Tracker, so the thread need not keep it)."""

    def __init__(
        self,
        cache: LocalCache,
        connect: Connector,
        prefix: str,
        heartbeat: float,
        timeout: float,
        retry: float,
    ) -> None:
        self.cache = cache
        self.connect = connect
        self.prefix = prefix
        self.heartbeat = heartbeat
        self.timeout = timeout
        self.retry = retry
        self.stopped = threading.Event()
        self.connections: list[Any] = []
        self.established = 0

    def run(self, owner: Callable[[], Tracker | None]) -> None:
        failures = 0
        while not self._done(owner):
            try:
                self._track(owner)
                failures = 0
            except ResponseError as exc:
                failures += 1
                # Connected, but the server refused HELLO 3 or CLIENT TRACKING: an old Redis or
                # a proxy in between. Requests still work, through Redis; say what to change.
                if failures == 1:
                    log.warning(
                        "local token cache off: Redis refused RESP3 client tracking (%s); it "
                        "needs Redis 6 or later spoken to directly, or set "
                        "SSO_BRIDGE_REDIS_LOCAL_CACHE_SIZE=0",
                        type(exc).__name__,
                    )
            except Exception as exc:
                failures += 1
                # One line per outage, not per retry: the reason, never the URL (it may hold
                # a password).
                if failures == 1:
                    log.warning(
                        "local token cache off: tracking connection lost (%s); retrying",
                        type(exc).__name__,
                    )
            finally:
                self.cache.disable()
                self.close()
            self.stopped.wait(self.retry)

    def _done(self, owner: Callable[[], Tracker | None]) -> bool:
        return self.stopped.is_set() or owner() is None

    def _track(self, owner: Callable[[], Tracker | None]) -> None:
        self.connections = list(self.connect())
        for connection in self.connections:
            connection._parser.set_invalidation_push_handler(self._on_invalidation)
            connection.send_command("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", self.prefix)
            reply = connection.read_response()
            if reply not in (b"OK", "OK"):
                raise ResponseError("CLIENT TRACKING did not answer OK")
        self.cache.enable()
        self.established += 1
        log.info("local token cache on (%d tracking connection(s))", len(self.connections))
        waiting: dict[int, float] = {}  # connection index -> when its PING was sent
        next_ping = time.monotonic() + self.heartbeat
        while not self._done(owner):
            now = time.monotonic()
            if now >= next_ping:
                for index, connection in enumerate(self.connections):
                    if index not in waiting:
                        connection.send_command("PING")
                        waiting[index] = now
                next_ping = now + self.heartbeat
            for sent in waiting.values():
                if now - sent > self.timeout:
                    raise TimeoutError("tracking connection did not answer its heartbeat")
            for index, connection in enumerate(self.connections):
                while connection.can_read(timeout=0):
                    # Pushes go to _on_invalidation and come back as _PUSHED; anything else
                    # is the answer to our PING. A closed socket raises ConnectionError here.
                    if connection.read_response(push_request=True) is not _PUSHED:
                        waiting.pop(index, None)
            sockets = [connection._sock for connection in self.connections]
            if not all(sockets):
                raise ConnectionError("tracking connection closed")
            wait = max(0.0, min(next_ping - time.monotonic(), self.timeout))
            select.select(sockets, [], [], wait)

    def _on_invalidation(self, message: list[Any]) -> object:
        keys = message[1] if len(message) > 1 else None
        if keys is None:  # FLUSHDB / FLUSHALL: everything may have changed
            self.cache.disable()
            self.cache.enable()
        else:
            self.cache.invalidate(k.decode() if isinstance(k, bytes) else str(k) for k in keys)
        return _PUSHED

    def close(self) -> None:
        connections, self.connections = self.connections, []
        for connection in connections:
            # Closing a broken connection may fail any way; it is being dropped regardless.
            with contextlib.suppress(Exception):
                connection.disconnect()


_PUSHED = object()
