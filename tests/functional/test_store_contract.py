"""The KeyValueStore contract, run against InMemoryStore and the machine's real Redis.

Plus the failure behaviour of RedisStore: a dead port fails fast with StoreUnavailable for every
method, and a Redis that dies and comes back is used again by the same RedisStore instance.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from sso_bridge.store import InMemoryStore, KeyValueStore, RedisStore, StoreUnavailable
from tests.conftest import REDIS_URL
from tests.servers import OwnRedis, free_port

TIMEOUT = 0.5


@pytest.fixture(params=["memory", "redis", "redis-local"])
def store(request: pytest.FixtureRequest) -> Iterator[KeyValueStore]:
    if request.param == "memory":
        yield InMemoryStore()
        return
    prefix: str = request.getfixturevalue("redis_prefix")  # also removes the keys afterwards
    if request.param == "redis":
        redis_store = RedisStore.from_url(REDIS_URL, prefix=prefix, timeout=TIMEOUT)
    else:
        # The local cache in front of every key (not only tok:), so each test goes through it.
        redis_store = RedisStore.from_url(
            REDIS_URL, prefix=prefix, timeout=TIMEOUT, local_cache_size=64, cached=""
        )
        wait_for_tracking(redis_store)
    yield redis_store
    redis_store.close()


def wait_for_tracking(store: RedisStore) -> None:
    store.get("warm-up")  # starts the tracker
    local = store.local_cache
    assert local is not None
    give_up = time.monotonic() + 10  # a hang guard, not a speed claim
    while not local.enabled:
        assert time.monotonic() < give_up, "tracking never came up"
        time.sleep(0.01)


# --------------------------------------------------------------------------- get / set / ttl


def test_get_missing_is_none(store: KeyValueStore) -> None:
    assert store.get("absent") is None


def test_set_then_get_round_trips_bytes(store: KeyValueStore) -> None:
    value = bytes(range(256))
    assert store.set("k", value, 30) is True
    assert store.get("k") == value
    assert store.set("k", b"second", 30) is True  # plain set overwrites
    assert store.get("k") == b"second"


def test_value_expires_after_ttl(store: KeyValueStore) -> None:
    store.set("short", b"v", 0.2)
    store.set("long", b"w", 30)
    assert store.get("short") == b"v"
    time.sleep(0.35)
    assert store.get("short") is None
    assert store.get("long") == b"w"


def test_only_if_absent(store: KeyValueStore) -> None:
    assert store.set("nx", b"first", 30, only_if_absent=True) is True
    assert store.set("nx", b"second", 30, only_if_absent=True) is False
    assert store.get("nx") == b"first"


def test_only_if_absent_succeeds_once_the_old_value_expired(store: KeyValueStore) -> None:
    assert store.set("nx", b"first", 0.2, only_if_absent=True) is True
    time.sleep(0.35)
    assert store.set("nx", b"second", 30, only_if_absent=True) is True
    assert store.get("nx") == b"second"


def test_only_if_absent_is_exclusive_under_contention(store: KeyValueStore) -> None:
    winners: list[int] = []
    barrier = threading.Barrier(20)

    def contend(number: int) -> None:
        barrier.wait()
        if store.set("lock", str(number).encode(), 30, only_if_absent=True):
            winners.append(number)

    run_threads(20, contend)
    assert len(winners) == 1
    assert store.get("lock") == str(winners[0]).encode()


def test_set_members_accumulate_expire_and_delete(store: KeyValueStore) -> None:
    assert store.members("idx") == frozenset()
    store.add_member("idx", "a", 5)
    store.add_member("idx", "b", 0.2)  # a shorter ttl never shortens the set's life
    store.add_member("idx", "a", 5)
    assert store.members("idx") == {"a", "b"}
    time.sleep(0.3)
    assert store.members("idx") == {"a", "b"}
    assert store.delete("idx")
    assert store.members("idx") == frozenset()
    store.add_member("short", "x", 0.2)
    time.sleep(0.3)
    assert store.members("short") == frozenset()


def test_delete(store: KeyValueStore) -> None:
    store.set("d", b"v", 30)
    assert store.delete("d") is True
    assert store.get("d") is None
    assert store.delete("d") is False


# --------------------------------------------------------------------------- owner-checked lock ops


def test_delete_if_equals_only_by_the_owner(store: KeyValueStore) -> None:
    store.set("lock", b"owner-a", 30)
    assert store.delete_if_equals("lock", b"owner-b") is False
    assert store.get("lock") == b"owner-a"
    assert store.delete_if_equals("lock", b"owner-a") is True
    assert store.get("lock") is None
    assert store.delete_if_equals("lock", b"owner-a") is False  # already gone


def test_delete_if_equals_on_expired_value_is_false(store: KeyValueStore) -> None:
    store.set("lock", b"owner-a", 0.2)
    time.sleep(0.35)
    assert store.delete_if_equals("lock", b"owner-a") is False


def test_extend_if_equals_by_the_owner_actually_extends(store: KeyValueStore) -> None:
    store.set("lock", b"owner-a", 0.3)
    assert store.extend_if_equals("lock", b"owner-a", 5) is True
    time.sleep(0.5)  # well past the original ttl
    assert store.get("lock") == b"owner-a"


def test_extend_if_equals_by_another_owner_changes_nothing(store: KeyValueStore) -> None:
    store.set("lock", b"owner-a", 0.3)
    assert store.extend_if_equals("lock", b"owner-b", 5) is False
    assert store.get("lock") == b"owner-a"
    time.sleep(0.5)
    assert store.get("lock") is None  # the original ttl still applied


def test_extend_if_equals_on_missing_key_does_not_create_it(store: KeyValueStore) -> None:
    assert store.extend_if_equals("nothing", b"owner-a", 5) is False
    assert store.get("nothing") is None


# ------------------------------------------------------------------- compare-and-set on a guard


def test_set_if_unchanged_while_the_guard_is_absent(store: KeyValueStore) -> None:
    assert store.set_if_unchanged("{u}v", b"first", 30, guard="{u}g", expected=None) is True
    assert store.get("{u}v") == b"first"
    store.increment("{u}g", 30)  # the guard moved on
    assert store.set_if_unchanged("{u}v", b"second", 30, guard="{u}g", expected=None) is False
    assert store.get("{u}v") == b"first"


def test_set_if_unchanged_compares_the_guard_value(store: KeyValueStore) -> None:
    store.increment("{u}g", 30)
    assert store.set_if_unchanged("{u}v", b"a", 30, guard="{u}g", expected=b"2") is False
    assert store.get("{u}v") is None
    assert store.set_if_unchanged("{u}v", b"a", 30, guard="{u}g", expected=b"1") is True
    assert store.get("{u}v") == b"a"
    store.increment("{u}g", 30)
    assert store.set_if_unchanged("{u}v", b"b", 30, guard="{u}g", expected=b"1") is False
    assert store.get("{u}v") == b"a"  # a refused write leaves the old value alone


def test_set_if_unchanged_applies_the_ttl(store: KeyValueStore) -> None:
    assert store.set_if_unchanged("{u}v", b"a", 0.2, guard="{u}g", expected=None) is True
    time.sleep(0.35)
    assert store.get("{u}v") is None


def test_set_if_unchanged_loses_to_a_concurrent_guard_change(store: KeyValueStore) -> None:
    """Writers that read the guard, then race one increment: none writes after it moved."""
    expected = str(store.increment("{u}g", 30)).encode()
    barrier = threading.Barrier(21)
    written: list[int] = []

    def contend(number: int) -> None:
        barrier.wait()
        if number == 0:
            store.increment("{u}g", 30)
            return
        if store.set_if_unchanged(
            "{u}v", str(number).encode(), 30, guard="{u}g", expected=expected
        ):
            written.append(number)

    run_threads(21, contend)
    value = store.get("{u}v")
    assert (value is None) == (not written)
    assert store.set_if_unchanged("{u}v", b"late", 30, guard="{u}g", expected=expected) is False


def test_remove_member(store: KeyValueStore) -> None:
    store.add_member("idx", "a", 30)
    store.add_member("idx", "b", 30)
    assert store.remove_member("idx", "a") is True
    assert store.remove_member("idx", "a") is False
    assert store.remove_member("other", "a") is False
    assert store.members("idx") == {"b"}


# --------------------------------------------------------------------------- counters


def test_increment_counts_from_one(store: KeyValueStore) -> None:
    assert [store.increment("c", 30) for _ in range(3)] == [1, 2, 3]
    assert store.increment("other", 30) == 1


def test_increment_window_expires_from_the_first_increment(store: KeyValueStore) -> None:
    assert store.increment("w", 0.4) == 1
    time.sleep(0.2)
    # A later increment does not push the window out (a fixed window, not a sliding one).
    assert store.increment("w", 0.4) == 2
    time.sleep(0.35)  # 0.55 s after the first increment
    assert store.increment("w", 0.4) == 1


def test_concurrent_increment_counts_exactly(store: KeyValueStore) -> None:
    threads, per_thread = 20, 50
    seen: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def hammer(_number: int) -> None:
        barrier.wait()
        mine = [store.increment("hits", 30) for _ in range(per_thread)]
        with lock:
            seen.extend(mine)

    run_threads(threads, hammer)
    total = threads * per_thread
    assert sorted(seen) == list(range(1, total + 1))  # every value handed out exactly once
    assert store.increment("hits", 30) == total + 1


def test_ping_answers_on_a_live_redis(redis_server: redis.Redis, redis_prefix: str) -> None:
    # Only Redis can be down: the in-memory store's ping has nothing to check (its failure
    # side is test_dead_port_fails_fast_for_every_method).
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix, timeout=TIMEOUT)
    store.ping()


def test_redis_store_namespaces_keys_with_its_prefix(
    redis_server: redis.Redis, redis_prefix: str
) -> None:
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix, timeout=TIMEOUT)
    other = RedisStore.from_url(REDIS_URL, prefix=redis_prefix + "other:", timeout=TIMEOUT)
    try:
        store.set("k", b"v", 30)
        assert redis_server.get(redis_prefix + "k") == b"v"
        assert redis_server.get("k") is None
        assert other.get("k") is None
        assert 0 < redis_server.pttl(redis_prefix + "k") <= 30_000
    finally:
        store.client.close()
        other.client.close()


# --------------------------------------------------------------------------- failures


def every_method(store: RedisStore) -> dict[str, Callable[[], Any]]:
    return {
        "get": lambda: store.get("k"),
        "set": lambda: store.set("k", b"v", 5),
        "set_nx": lambda: store.set("k", b"v", 5, only_if_absent=True),
        "delete": lambda: store.delete("k"),
        "delete_if_equals": lambda: store.delete_if_equals("k", b"v"),
        "extend_if_equals": lambda: store.extend_if_equals("k", b"v", 5),
        "increment": lambda: store.increment("k", 5),
        "add_member": lambda: store.add_member("s", "m", 5),
        "members": lambda: store.members("s"),
        "remove_member": lambda: store.remove_member("s", "m"),
        "set_if_unchanged": lambda: store.set_if_unchanged("k", b"v", 5, guard="g", expected=None),
        "ping": store.ping,
    }


def assert_all_unavailable(store: RedisStore) -> None:
    # Every method turns the outage into StoreUnavailable (how fast is measured by the bench's
    # Redis-down scenario, as ratios: a wall-clock bound here fails on a busy machine).
    for call in every_method(store).values():
        with pytest.raises(StoreUnavailable):
            call()


def test_dead_port_fails_fast_for_every_method() -> None:
    store = RedisStore.from_url(
        f"redis://127.0.0.1:{free_port()}/0", prefix="ssob-test:", timeout=TIMEOUT
    )
    assert_all_unavailable(store)


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    with OwnRedis() as server:
        yield server


def test_same_instance_recovers_after_redis_restarts(own_redis: OwnRedis) -> None:
    store = RedisStore.from_url(
        f"redis://127.0.0.1:{own_redis.port}/0", prefix="ssob-test:", timeout=TIMEOUT
    )
    try:
        # Warm up every path, the Lua scripts included, so pooled connections exist.
        store.set("lock", b"owner", 30)
        assert store.extend_if_equals("lock", b"owner", 30) is True
        assert store.increment("n", 30) == 1
        assert store.get("lock") == b"owner"

        own_redis.kill()
        assert_all_unavailable(store)

        own_redis.start()  # same port, empty (no persistence)
        recovered_at: float | None = None
        give_up = time.monotonic() + 30  # a hang guard, not a speed claim
        while time.monotonic() < give_up:
            with contextlib.suppress(StoreUnavailable):
                store.ping()
                recovered_at = time.monotonic()
                break
            time.sleep(0.02)
        assert recovered_at is not None, "the same RedisStore did not reconnect by itself"

        # Everything works again, scripts included (the restarted server has no script cache).
        assert store.get("lock") is None
        assert store.set("lock", b"owner", 30, only_if_absent=True) is True
        assert store.extend_if_equals("lock", b"owner", 30) is True
        assert store.delete_if_equals("lock", b"owner") is True
        assert store.increment("n", 30) == 1
        assert store.delete("n") is True
    finally:
        store.client.close()


# --------------------------------------------------------------------------- helpers


def run_threads(count: int, target: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def guarded(number: int) -> None:
        try:
            target(number)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
