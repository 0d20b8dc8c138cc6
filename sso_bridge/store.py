"""Short-lived shared state (session tokens, the token cache, locks, counters): Redis or in-process.

`KeyValueStore` is the contract; `RedisStore` is what production uses (every process and replica
sees the same state), `InMemoryStore` serves a single process when no Redis is configured (and in
fast unit tests). Keys are namespaced by a prefix so several deployments or test runs can share one
Redis. Redis calls use short timeouts and no retries: a cache in the request path must fail fast and
let the caller apply its policy, not hang for seconds (redis-py's defaults take ~4 s to fail).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from sso_bridge.local_cache import TOKEN_KEY_PREFIX, LocalCache, Tracker


class StoreUnavailable(Exception):
    """The shared store did not answer in time; callers decide what that means for them."""


class KeyValueStore(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl: float, *, only_if_absent: bool = False) -> bool: ...

    def delete(self, key: str) -> bool: ...

    def delete_if_equals(self, key: str, value: bytes) -> bool: ...

    def extend_if_equals(self, key: str, value: bytes, ttl: float) -> bool: ...

    def set_if_unchanged(
        self, key: str, value: bytes, ttl: float, *, guard: str, expected: bytes | None
    ) -> bool:
        """Set ``key`` only while ``guard`` still holds ``expected`` (None: absent), atomically:
        a compare-and-set on another key, e.g. a generation a writer read before slow work. On
        Redis Cluster both keys must share a hash tag."""

    def increment(self, key: str, ttl: float) -> int: ...

    def add_member(self, key: str, member: str, ttl: float) -> None:
        """Add ``member`` to the set at ``key``, which lives at least ``ttl`` more seconds."""

    def members(self, key: str) -> frozenset[str]: ...

    def remove_member(self, key: str, member: str) -> bool: ...

    def ping(self) -> None: ...


# Compare-and-delete / compare-and-extend: a lock is only released or renewed by its owner.
_DELETE_IF_EQUALS = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_EXTEND_IF_EQUALS = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_ADD_MEMBER = """
redis.call('sadd', KEYS[1], ARGV[1])
if redis.call('pttl', KEYS[1]) < tonumber(ARGV[2]) then redis.call('pexpire', KEYS[1], ARGV[2]) end
return 1
"""
_SET_IF_UNCHANGED = """
local current = redis.call('get', KEYS[2])
if ARGV[3] == '1' then
  if current ~= ARGV[4] then return 0 end
elseif current then
  return 0
end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_INCREMENT = """
local n = redis.call('incr', KEYS[1])
if n == 1 then redis.call('pexpire', KEYS[1], ARGV[1]) end
return n
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisStore:
    """Redis, optionally with a worker-local copy of the token entries (see local_cache): then
    `get` of a ``tok:`` key is answered from memory while Redis tracking vouches for it, and
    every write of one drops the local copy once Redis has applied it."""

    def __init__(
        self,
        *,
        client: Any,
        prefix: str = "",
        tracker: Tracker | None = None,
        cached: str = TOKEN_KEY_PREFIX,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._tracker = tracker
        self._local: LocalCache | None = tracker.cache if tracker is not None else None
        self._local_prefix = prefix + cached  # keys under it are kept locally, and tracked
        self._delete_if_equals = client.register_script(_DELETE_IF_EQUALS)
        self._extend_if_equals = client.register_script(_EXTEND_IF_EQUALS)
        self._increment = client.register_script(_INCREMENT)
        self._add_member = client.register_script(_ADD_MEMBER)
        self._set_if_unchanged = client.register_script(_SET_IF_UNCHANGED)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str,
        timeout: float,
        local_cache_size: int = 0,
        cached: str = TOKEN_KEY_PREFIX,
    ) -> RedisStore:
        """``redis://`` / ``rediss://`` / ``unix://`` for one server, and two extensions:

        - ``redis+sentinel://[:password@]host:port[,host:port...]/<master name>[/<db>]``: ask
          the Sentinels which server is the master (and again after a failover);
        - ``redis+cluster://[:password@]host:port``: Redis Cluster (keys of one user share a
          ``{ERID}`` hash tag, so every script touches one slot).

        ``local_cache_size`` > 0 keeps up to that many values of keys starting with ``cached``
        (the token entries) in this process, tracked by Redis (see local_cache).
        """
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),
        }
        client = _client(url, options)
        tracker = None
        if local_cache_size > 0:
            # The tracking connections get a client of their own: RESP3 (pushes and replies on
            # one connection), never handed out by the pool the requests use.
            tracking = _client(url, {**options, "protocol": 3})
            tracker = Tracker(
                LocalCache(local_cache_size),
                lambda: _tracking_connections(tracking),
                prefix=prefix + cached,
                timeout=max(timeout, 0.5),
            )
        return cls(client=client, prefix=prefix, tracker=tracker, cached=cached)

    @property
    def client(self) -> Any:
        return self._client

    def _key(self, key: str) -> str:
        return self._prefix + key

    @property
    def local_cache(self) -> LocalCache | None:
        return self._local

    @property
    def tracker(self) -> Tracker | None:
        return self._tracker

    def _written(self, full_key: str) -> None:
        """After a write of ``full_key`` (applied or failed: dropping is always safe)."""
        if self._local is not None and full_key.startswith(self._local_prefix):
            self._local.invalidate((full_key,))

    def get(self, key: str) -> bytes | None:
        full_key = self._key(key)
        local = self._local
        if local is not None and full_key.startswith(self._local_prefix):
            assert self._tracker is not None
            self._tracker.ensure_running()
            found = local.get(full_key)
            if found is not None:
                return found
            ticket = local.reserve(full_key)
            if ticket is not None:
                return self._get_and_keep(local, full_key, ticket)
        try:
            value: bytes | None = self._client.get(full_key)
        except redis.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return value

    def _get_and_keep(self, local: LocalCache, full_key: str, ticket: object) -> bytes | None:
        # The TTL in the same round trip: the local copy must not outlive the Redis value.
        sent = time.monotonic()
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.get(full_key)
            pipe.pttl(full_key)
            value, pttl = pipe.execute()
        except redis.RedisError as exc:
            local.fill(full_key, ticket, None, None)  # gives the reservation back
            raise StoreUnavailable(type(exc).__name__) from exc
        deadline = sent + pttl / 1000 if pttl >= 0 else None
        local.fill(full_key, ticket, value, deadline)
        return value if value is None else bytes(value)

    def set(self, key: str, value: bytes, ttl: float, *, only_if_absent: bool = False) -> bool:
        full_key = self._key(key)
        try:
            done = self._client.set(full_key, value, px=_ms(ttl), nx=only_if_absent)
        except redis.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        finally:
            self._written(full_key)
        return bool(done)

    def delete(self, key: str) -> bool:
        full_key = self._key(key)
        try:
            return bool(self._client.delete(full_key))
        except redis.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        finally:
            self._written(full_key)

    def delete_if_equals(self, key: str, value: bytes) -> bool:
        full_key = self._key(key)
        try:
            return bool(self._delete_if_equals(keys=[full_key], args=[value]))
        except redis.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        finally:
            self._written(full_key)

    def extend_if_equals(self, key: str, value: bytes, ttl: float) -> bool:
        full_key = self._key(key)
        try:
            return bool(self._extend_if_equals(keys=[full_key], args=[value, _ms(ttl)]))
        except redis.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        finally:
            self._written(full_key)  # the local copy carries the old TTL

    def set_if_unchanged(
        self, key: str, value: bytes, ttl: float, *, guard: str, expected: bytes | None
    ) -> bool:
        present = b"0" if expected is None else b"1"
        full_key = self._key(key)
        try:
            done = self._set_if_unchanged(
                keys=[full_key, self._key(guard)],
                args=[value, _ms(ttl), present, expected or b""],
            )
        except redis.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        finally:
            self._written(full_key)
        return bool(done)

    def increment(self, key: str, ttl: float) -> int:
        full_key = self._key(key)
        try:
            return int(self._increment(keys=[full_key], args=[_ms(ttl)]))
        except redis.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        finally:
            self._written(full_key)

    def add_member(self, key: str, member: str, ttl: float) -> None:
        try:
            self._add_member(keys=[self._key(key)], args=[member, _ms(ttl)])
        except redis.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    def members(self, key: str) -> frozenset[str]:
        try:
            found = self._client.smembers(self._key(key))
        except redis.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return frozenset(item.decode() if isinstance(item, bytes) else str(item) for item in found)

    def remove_member(self, key: str, member: str) -> bool:
        try:
            return bool(self._client.srem(self._key(key), member))
        except redis.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    def ping(self) -> None:
        try:
            self._client.ping()
        except redis.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.stop()
        self._client.close()


def _client(url: str, options: dict[str, Any]) -> Any:
    if url.startswith("redis+sentinel://"):
        return _sentinel_master(url, options)
    if url.startswith("redis+cluster://"):
        return RedisCluster.from_url("redis://" + url.removeprefix("redis+cluster://"), **options)
    return redis.Redis.from_url(url, health_check_interval=0, **options)


def _tracking_connections(client: Any) -> Sequence[Any]:
    """Fresh connected connections, one per primary (the ones that see every write): for a
    Sentinel-managed client the pool's connection asks the Sentinels for the master."""
    if isinstance(client, RedisCluster):
        client.nodes_manager.initialize()  # a lost session may mean a new topology
        primaries = client.get_primaries()  # type: ignore[no-untyped-call]
        pools = [node.redis_connection.connection_pool for node in primaries]
    else:
        pools = [client.connection_pool]
    connections = []
    try:
        for pool in pools:
            connection = pool.make_connection()
            connections.append(connection)
            connection.connect()
    except BaseException:
        for connection in connections:
            connection.disconnect()
        raise
    return connections


def _sentinel_master(url: str, options: dict[str, Any]) -> redis.Redis:
    """A client that asks the Sentinels for the current master (and again after failover)."""
    parsed = urlsplit(url)
    hosts = []
    for part in parsed.netloc.rpartition("@")[2].split(","):
        host, _, port = part.rpartition(":")
        hosts.append((host.strip("[]") or "127.0.0.1", int(port or 26379)))
    path = [piece for piece in parsed.path.split("/") if piece]
    if not path:
        raise ValueError("redis+sentinel:// URLs name the master: .../<master name>[/<db>]")
    password = unquote(parsed.password) if parsed.password else None
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        hosts,
        sentinel_kwargs={
            "socket_timeout": options["socket_timeout"],
            "socket_connect_timeout": options["socket_connect_timeout"],
        },
        password=password,
        db=int(path[1]) if len(path) > 1 else 0,
        **options,
    )
    master: redis.Redis = sentinel.master_for(path[0])  # type: ignore[no-untyped-call]
    return master


class InMemoryStore:
    """The same contract inside one process: correct for one worker, not shared between several."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[bytes, float]] = {}
        self._sets: dict[str, tuple[set[str], float]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str, now: float) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] <= now:
            del self._items[key]
            return None
        return item[0]

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._live(key, time.monotonic())

    def set(self, key: str, value: bytes, ttl: float, *, only_if_absent: bool = False) -> bool:
        with self._lock:
            now = time.monotonic()
            if only_if_absent and self._live(key, now) is not None:
                return False
            self._items[key] = (value, now + ttl)
            return True

    def delete(self, key: str) -> bool:
        with self._lock:
            removed_set = self._sets.pop(key, None) is not None
            return self._items.pop(key, None) is not None or removed_set

    def delete_if_equals(self, key: str, value: bytes) -> bool:
        with self._lock:
            if self._live(key, time.monotonic()) == value:
                del self._items[key]
                return True
            return False

    def extend_if_equals(self, key: str, value: bytes, ttl: float) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._live(key, now) == value:
                self._items[key] = (value, now + ttl)
                return True
            return False

    def set_if_unchanged(
        self, key: str, value: bytes, ttl: float, *, guard: str, expected: bytes | None
    ) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._live(guard, now) != expected:
                return False
            self._items[key] = (value, now + ttl)
            return True

    def increment(self, key: str, ttl: float) -> int:
        with self._lock:
            now = time.monotonic()
            current = self._live(key, now)
            if current is None:
                self._items[key] = (b"1", now + ttl)
                return 1
            count = int(current) + 1
            self._items[key] = (str(count).encode(), self._items[key][1])
            return count

    def add_member(self, key: str, member: str, ttl: float) -> None:
        with self._lock:
            now = time.monotonic()
            found = self._sets.get(key)
            members, expiry = found if found and found[1] > now else (set(), now)
            members.add(member)
            self._sets[key] = (members, max(expiry, now + ttl))

    def members(self, key: str) -> frozenset[str]:
        with self._lock:
            found = self._sets.get(key)
            if found is None or found[1] <= time.monotonic():
                return frozenset()
            return frozenset(found[0])

    def remove_member(self, key: str, member: str) -> bool:
        with self._lock:
            found = self._sets.get(key)
            if found is None or found[1] <= time.monotonic() or member not in found[0]:
                return False
            found[0].discard(member)
            return True

    def ping(self) -> None:
        return None
