"""TokenBroker on the real Redis: two brokers (two processes' worth) share the cache, the
single flight and the negative entries. The broker's logic is unit-tested on the in-memory
store (tests/unit/test_broker.py, whose fakes these reuse)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from sso_bridge.dr.broker import TokenBroker, TokenUnavailable
from sso_bridge.dr.client import DrUnavailable
from sso_bridge.store import RedisStore
from tests.conftest import REDIS_URL
from tests.unit.test_broker import ERID, USER, FakeClock, FakeDr, brokers, make_broker

__all__ = ["brokers"]  # the fixture, shared with the unit module


@pytest.fixture
def redis_stores(redis_prefix: str) -> Iterator[list[RedisStore]]:
    made: list[RedisStore] = []
    yield made
    for store in made:
        store.client.close()


def test_two_brokers_on_real_redis_share_cache_and_single_flight(
    brokers: list[TokenBroker], redis_prefix: str, redis_stores: list[RedisStore]
) -> None:
    dr = FakeDr(delay=0.1)
    clock = FakeClock()
    for _ in range(2):
        store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix, timeout=0.5)
        redis_stores.append(store)
        brokers.append(make_broker(dr, store=store, clock=clock))
    results: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def request(number: int) -> None:
        barrier.wait()
        token = brokers[number % 2].get_token(ERID, user_key=USER).access_token
        with lock:
            results.append(token)

    threads = [threading.Thread(target=request, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results == ["at-3F25-1"] * 20
    assert dr.mint_count == 1

    assert brokers[0].revoke(ERID) == 1
    assert brokers[1].revoke(ERID) == 0  # the other "process" sees it gone too


def test_negative_entry_on_real_redis_is_seen_by_the_other_broker(
    brokers: list[TokenBroker], redis_prefix: str, redis_stores: list[RedisStore]
) -> None:
    dr = FakeDr()
    for _ in range(2):
        store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix, timeout=0.5)
        redis_stores.append(store)
        brokers.append(make_broker(dr, store=store, negative_ttl=0.3))
    dr.fail_with = DrUnavailable()
    with pytest.raises(TokenUnavailable):
        brokers[0].get_token(ERID, user_key=USER)
    dr.fail_with = None
    with pytest.raises(TokenUnavailable):
        brokers[1].get_token(ERID, user_key=USER)
    assert dr.mint_count == 1
    time.sleep(0.45)
    brokers[1].get_token(ERID, user_key=USER)
    assert dr.mint_count == 2


