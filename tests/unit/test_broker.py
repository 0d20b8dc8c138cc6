"""TokenBroker over InMemoryStore with a fake DR client and a controllable clock.

Two tests at the end run two brokers (as two processes would be) on the machine's real Redis.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sso_bridge.dr.broker import BrokerPolicy, TokenBroker, TokenUnavailable, UserRefused
from sso_bridge.dr.client import (
    DrConfigurationError,
    DrError,
    DrRateLimited,
    DrToken,
    DrUnavailable,
)
from sso_bridge.dr.sealing import Sealer
from sso_bridge.store import InMemoryStore, KeyValueStore, RedisStore

ERID = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
OTHER_ERID = "9B1DEB4D-3B7D-4BAD-9BDD-2B0D7B3DCB6D"
USER = "user-1"
KEY = bytes(range(32))


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class FakeDr:
    """The DR calls the broker makes: counts them, hands out numbered tokens, fails on demand."""

    def __init__(
        self, *, lifetime: int = 3600, delay: float = 0.0, gate: threading.Event | None = None
    ) -> None:
        self.lifetime = lifetime
        self.delay = delay
        self.gate = gate  # when set: every mint waits until the test opens it
        self.fail_with: DrError | None = None
        self.mints: list[tuple[str, str | None, float | None]] = []
        self.revoked: list[str] = []
        # A revocation at DR signals `revoking` and then waits for `revoke_gate`, when set.
        self.revoking = threading.Event()
        self.revoke_gate: threading.Event | None = None
        self._lock = threading.Lock()

    @property
    def mint_count(self) -> int:
        with self._lock:
            return len(self.mints)

    def mint_token(
        self,
        external_reference_id: str,
        *,
        dr_session_token: str | None = None,
        deadline: float | None = None,
    ) -> DrToken:
        with self._lock:
            self.mints.append((external_reference_id, dr_session_token, deadline))
            number = len(self.mints)
            failure = self.fail_with
        if self.delay:
            time.sleep(self.delay)
        if self.gate is not None:
            self.gate.wait(timeout=30)
        if failure is not None:
            raise failure
        session = f"-{dr_session_token}" if dr_session_token else ""
        return DrToken(
            access_token=f"at-{external_reference_id[:4]}{session}-{number}",
            token_type="bearer",
            expires_in=self.lifetime,
        )

    def ping(self, timeout: float = 1.0) -> None:
        pass

    def revoke_token(self, access_token: str) -> None:
        self.revoking.set()
        if self.revoke_gate is not None:
            assert self.revoke_gate.wait(10)
        with self._lock:
            self.revoked.append(access_token)


def make_broker(
    dr: FakeDr,
    *,
    store: KeyValueStore | None = None,
    clock: Callable[[], float] | None = None,
    sealer: Sealer | None = None,
    may_mint: Callable[[str], bool] | None = None,
    may_serve: Callable[[str], bool] | None = None,
    **policy: Any,
) -> TokenBroker:
    defaults: dict[str, Any] = {"poll_interval": 0.005}
    defaults.update(policy)
    return TokenBroker(
        store=store if store is not None else InMemoryStore(),
        sealer=sealer or Sealer([KEY]),
        client=dr,
        policy=BrokerPolicy(**defaults),
        clock=clock or FakeClock(),
        may_mint=may_mint,
        may_serve=may_serve,
    )


@pytest.fixture
def brokers() -> Iterator[list[TokenBroker]]:
    made: list[TokenBroker] = []
    yield made
    for broker in made:
        broker.close()


def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


# --------------------------------------------------------------------------- cache


def test_first_call_mints_and_second_is_served_from_cache(brokers: list[TokenBroker]) -> None:
    dr, clock = FakeDr(), FakeClock()
    store = InMemoryStore()
    broker = make_broker(dr, store=store, clock=clock)
    brokers.append(broker)

    first = broker.get_token(ERID, user_key=USER)
    assert dr.mint_count == 1
    assert dr.mints[0][0] == ERID
    assert dr.mints[0][1] is None
    assert dr.mints[0][2] == BrokerPolicy().mint_deadline
    assert first.external_reference_id == ERID
    assert first.token_type == "bearer"
    assert first.expires_in == 3600 - 60

    clock.advance(100)
    second = broker.get_token(ERID, user_key=USER)
    assert dr.mint_count == 1
    assert second.access_token == first.access_token
    assert second.expires_in == 3600 - 60 - 100


def test_cached_value_is_sealed_not_plain(brokers: list[TokenBroker]) -> None:
    dr, store = FakeDr(), InMemoryStore()
    broker = make_broker(dr, store=store)
    brokers.append(broker)
    grant = broker.get_token(ERID, user_key=USER)
    raw = store.get("tok:{" + ERID + "}")
    assert raw is not None
    assert grant.access_token.encode() not in raw


def test_users_do_not_share_tokens(brokers: list[TokenBroker]) -> None:
    dr = FakeDr()
    broker = make_broker(dr)
    brokers.append(broker)
    one = broker.get_token(ERID, user_key=USER)
    two = broker.get_token(OTHER_ERID, user_key="user-2")
    assert one.access_token != two.access_token
    assert dr.mint_count == 2
    assert broker.get_token(ERID, user_key=USER).access_token == one.access_token
    assert dr.mint_count == 2


@pytest.mark.parametrize(
    ("lifetime", "margin"),
    [
        (3600, 60.0),  # safety margin is the smaller
        (100, 20.0),  # 20% of the life is the smaller
        (300, 60.0),  # equal: both 60
    ],
)
def test_expiry_margin_is_min_of_safety_margin_and_fifth_of_life(
    brokers: list[TokenBroker], lifetime: int, margin: float
) -> None:
    dr, clock = FakeDr(lifetime=lifetime), FakeClock()
    # refresh_fraction 1.0: no refresh ahead, so only the margin decides.
    broker = make_broker(dr, clock=clock, refresh_fraction=1.0)
    brokers.append(broker)

    first = broker.get_token(ERID, user_key=USER)
    assert first.expires_in == int(lifetime - margin)

    clock.advance(lifetime - margin - 0.5)  # just inside the usable span
    assert broker.get_token(ERID, user_key=USER).access_token == first.access_token
    assert dr.mint_count == 1

    clock.advance(0.5)  # exactly at expiry minus the margin: no longer served
    second = broker.get_token(ERID, user_key=USER)
    assert dr.mint_count == 2
    assert second.access_token != first.access_token
    assert second.expires_in == int(lifetime - margin)


def test_token_past_expiry_is_never_served(brokers: list[TokenBroker]) -> None:
    dr, clock = FakeDr(lifetime=3600), FakeClock()
    broker = make_broker(dr, clock=clock)
    brokers.append(broker)
    first = broker.get_token(ERID, user_key=USER)
    clock.advance(7200)
    assert broker.get_token(ERID, user_key=USER).access_token != first.access_token
    assert dr.mint_count == 2


# --------------------------------------------------------------------------- refresh ahead


def test_refresh_ahead_serves_current_token_and_mints_in_background(
    brokers: list[TokenBroker],
) -> None:
    dr, clock = FakeDr(lifetime=1000), FakeClock()
    broker = make_broker(dr, clock=clock, refresh_fraction=0.5)
    brokers.append(broker)

    first = broker.get_token(ERID, user_key=USER)
    clock.advance(499)  # before the refresh point
    assert broker.get_token(ERID, user_key=USER).access_token == first.access_token
    time.sleep(0.05)
    assert dr.mint_count == 1

    clock.advance(1)  # at the refresh point (half the life)
    served = broker.get_token(ERID, user_key=USER)
    assert served.access_token == first.access_token  # no waiting for the successor
    assert wait_until(lambda: dr.mint_count == 2), "no background mint happened"

    assert wait_until(
        lambda: broker.get_token(ERID, user_key=USER).access_token != first.access_token
    ), "the successor was never served"
    newer = broker.get_token(ERID, user_key=USER)
    assert newer.expires_in == 1000 - 60  # fresh life from the refresh time
    time.sleep(0.05)
    assert dr.mint_count == 2  # the new token is not itself due for refresh


def test_refresh_ahead_from_many_requests_mints_once(brokers: list[TokenBroker]) -> None:
    dr, clock = FakeDr(lifetime=1000, delay=0.05), FakeClock()
    broker = make_broker(dr, clock=clock, refresh_fraction=0.5)
    brokers.append(broker)
    first = broker.get_token(ERID, user_key=USER)
    clock.advance(600)
    served = [broker.get_token(ERID, user_key=USER).access_token for _ in range(20)]
    assert set(served) <= {first.access_token, "at-3F25-2"}
    assert served[0] == first.access_token
    assert wait_until(lambda: broker.get_token(ERID, user_key=USER).access_token == "at-3F25-2")
    time.sleep(0.1)
    assert dr.mint_count == 2


def test_failed_background_refresh_keeps_serving_current_token(
    brokers: list[TokenBroker],
) -> None:
    dr, clock = FakeDr(lifetime=1000), FakeClock()
    broker = make_broker(dr, clock=clock)
    brokers.append(broker)
    first = broker.get_token(ERID, user_key=USER)
    dr.fail_with = DrUnavailable()
    clock.advance(600)
    assert broker.get_token(ERID, user_key=USER).access_token == first.access_token
    assert wait_until(lambda: dr.mint_count == 2)
    time.sleep(0.05)
    assert broker.get_token(ERID, user_key=USER).access_token == first.access_token


# --------------------------------------------------------------------------- single flight


def test_fifty_threads_on_a_cold_user_mint_once(brokers: list[TokenBroker]) -> None:
    dr = FakeDr(delay=0.1)
    broker = make_broker(dr)
    brokers.append(broker)
    barrier = threading.Barrier(50)
    results: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def request() -> None:
        barrier.wait()
        try:
            token = broker.get_token(ERID, user_key=USER).access_token
        except BaseException as exc:
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(token)

    threads = [threading.Thread(target=request) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not errors, errors
    assert len(results) == 50
    assert dr.mint_count == 1
    assert set(results) == {"at-3F25-1"}


def test_follower_gives_up_within_wait_budget_when_mint_hangs(
    brokers: list[TokenBroker],
) -> None:
    gate = threading.Event()
    dr = FakeDr(gate=gate)
    broker = make_broker(dr, wait_budget=0.2)
    brokers.append(broker)
    leader = threading.Thread(target=lambda: broker.get_token(ERID, user_key=USER))
    leader.start()
    assert wait_until(lambda: dr.mint_count == 1)
    try:
        with pytest.raises(TokenUnavailable):
            broker.get_token(ERID, user_key=USER)
        # The mint cannot finish until the gate opens: the follower gave up without it.
        assert leader.is_alive()
    finally:
        gate.set()
    leader.join(timeout=30)
    assert dr.mint_count == 1


# --------------------------------------------------------------------------- failures


def test_dr_unavailable_becomes_token_unavailable_with_retry_after(
    brokers: list[TokenBroker],
) -> None:
    dr = FakeDr()
    dr.fail_with = DrUnavailable(retry_after=3)
    broker = make_broker(dr, negative_ttl=0.3)
    brokers.append(broker)
    with pytest.raises(TokenUnavailable) as caught:
        broker.get_token(ERID, user_key=USER)
    assert caught.value.retry_after == 3
    assert isinstance(caught.value.__cause__, DrUnavailable)


def test_negative_cache_stops_mint_attempts_for_negative_ttl(
    brokers: list[TokenBroker],
) -> None:
    dr = FakeDr()
    dr.fail_with = DrUnavailable()
    broker = make_broker(dr, negative_ttl=0.4)
    brokers.append(broker)
    with pytest.raises(TokenUnavailable) as first:
        broker.get_token(ERID, user_key=USER)
    assert first.value.retry_after >= 1
    assert dr.mint_count == 1

    dr.fail_with = None  # DR is back, but the negative entry still holds
    for _ in range(5):
        with pytest.raises(TokenUnavailable) as again:
            broker.get_token(ERID, user_key=USER)
        assert again.value.retry_after >= 1
    assert dr.mint_count == 1

    # Other users are not affected by this user's negative entry.
    broker.get_token(OTHER_ERID, user_key="user-2")
    assert dr.mint_count == 2

    time.sleep(0.5)
    assert broker.get_token(ERID, user_key=USER).access_token == "at-3F25-3"
    assert dr.mint_count == 3


def test_negative_entry_lasts_at_least_dr_retry_after(brokers: list[TokenBroker]) -> None:
    dr = FakeDr()
    dr.fail_with = DrRateLimited(retry_after=0.6)
    broker = make_broker(dr, negative_ttl=0.1)
    brokers.append(broker)
    with pytest.raises(TokenUnavailable):
        broker.get_token(ERID, user_key=USER)
    dr.fail_with = None
    time.sleep(0.25)  # past negative_ttl, inside DR's Retry-After
    with pytest.raises(TokenUnavailable):
        broker.get_token(ERID, user_key=USER)
    assert dr.mint_count == 1
    time.sleep(0.5)
    broker.get_token(ERID, user_key=USER)
    assert dr.mint_count == 2


@pytest.mark.parametrize(
    "failure",
    [DrConfigurationError(status=401), DrError("bad", code="invalid-request", status=400)],
)
def test_other_dr_errors_become_token_unavailable_and_are_cached(
    brokers: list[TokenBroker], failure: DrError
) -> None:
    dr = FakeDr()
    dr.fail_with = failure
    broker = make_broker(dr, negative_ttl=5)
    brokers.append(broker)
    with pytest.raises(TokenUnavailable) as caught:
        broker.get_token(ERID, user_key=USER)
    assert caught.value.retry_after >= 1
    assert caught.value.__cause__ is failure
    with pytest.raises(TokenUnavailable):
        broker.get_token(ERID, user_key=USER)
    assert dr.mint_count == 1


def test_failed_mint_releases_the_lock(brokers: list[TokenBroker]) -> None:
    dr, store = FakeDr(), InMemoryStore()
    dr.fail_with = DrUnavailable()
    broker = make_broker(dr, store=store, negative_ttl=0.1)
    brokers.append(broker)
    with pytest.raises(TokenUnavailable):
        broker.get_token(ERID, user_key=USER)
    assert store.get("lock:{" + ERID + "}") is None
    time.sleep(0.15)
    dr.fail_with = None
    # The next request takes the free lock and mints itself (no follower wait on a stale lock).
    token = broker.get_token(ERID, user_key=USER)
    assert token
    assert dr.mint_count == 2


# --------------------------------------------------------------------------- session-aware tokens


def test_session_aware_tokens_are_per_session_and_not_shared(
    brokers: list[TokenBroker],
) -> None:
    dr, store = FakeDr(), InMemoryStore()
    broker = make_broker(dr, store=store)
    brokers.append(broker)

    plain = broker.get_token(ERID, user_key=USER)
    s1 = broker.get_token(ERID, user_key=USER, session_token="dr-session-1")
    s2 = broker.get_token(ERID, user_key=USER, session_token="dr-session-2")
    assert dr.mint_count == 3
    assert [mint[1] for mint in dr.mints] == [None, "dr-session-1", "dr-session-2"]
    assert len({plain.access_token, s1.access_token, s2.access_token}) == 3

    # Each is cached under its own key.
    assert broker.get_token(ERID, user_key=USER).access_token == plain.access_token
    again = broker.get_token(ERID, user_key=USER, session_token="dr-session-1")
    assert again.access_token == s1.access_token
    assert broker.get_token(ERID, user_key=USER, session_token="").access_token == (
        plain.access_token
    )
    assert dr.mint_count == 3

    # The DR session token itself never appears in a store key.
    keys = list(store._items)
    assert keys
    assert not any("dr-session" in key for key in keys)


def test_session_token_is_not_served_to_another_user_with_same_session(
    brokers: list[TokenBroker],
) -> None:
    dr = FakeDr()
    broker = make_broker(dr)
    brokers.append(broker)
    one = broker.get_token(ERID, user_key=USER, session_token="shared")
    two = broker.get_token(OTHER_ERID, user_key="user-2", session_token="shared")
    assert one.access_token != two.access_token
    assert dr.mint_count == 2


def test_revoke_calls_dr_with_the_cached_token_and_drops_it(brokers: list[TokenBroker]) -> None:
    dr, store = FakeDr(), InMemoryStore()
    broker = make_broker(dr, store=store)
    brokers.append(broker)
    grant = broker.get_token(ERID, user_key=USER)

    assert broker.revoke(ERID) == 1
    assert dr.revoked == [grant.access_token]
    assert store.get("tok:{" + ERID + "}") is None

    assert broker.revoke(ERID) == 0  # nothing cached any more
    assert dr.revoked == [grant.access_token]

    fresh = broker.get_token(ERID, user_key=USER)
    assert fresh.access_token != grant.access_token
    assert dr.mint_count == 2


def test_revoke_reaches_every_session_aware_token_of_the_user(
    brokers: list[TokenBroker],
) -> None:
    dr, store = FakeDr(), InMemoryStore()
    broker = make_broker(dr, store=store)
    brokers.append(broker)
    plain = broker.get_token(ERID, user_key=USER).access_token
    first = broker.get_token(ERID, user_key=USER, session_token="dr-session-1").access_token
    second = broker.get_token(ERID, user_key=USER, session_token="dr-session-2").access_token
    other = broker.get_token(OTHER_ERID, user_key="user-2", session_token="dr-session-1")

    assert broker.revoke(ERID) == 3
    assert sorted(dr.revoked) == sorted([plain, first, second])
    # The other user's session token is untouched and still served from the cache.
    again = broker.get_token(OTHER_ERID, user_key="user-2", session_token="dr-session-1")
    assert again.access_token == other.access_token
    # The index holds hashes of the sessions, never the sessions themselves.
    assert broker.revoke(ERID) == 0


def test_revoke_of_unknown_user_calls_nothing(brokers: list[TokenBroker]) -> None:
    dr = FakeDr()
    broker = make_broker(dr)
    brokers.append(broker)
    assert broker.revoke(ERID) == 0
    assert dr.revoked == []


# --------------------------------------------------------------------------- revocation races


def start(target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``target`` in a thread; the list receives its result or the exception it raised."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(target())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("session", [None, "dr-session-1"])
def test_a_revocation_during_a_mint_wins(brokers: list[TokenBroker], session: str | None) -> None:
    dr, store = FakeDr(delay=0.3), InMemoryStore()
    minting = make_broker(dr, store=store)
    other = make_broker(dr, store=store)  # another worker or replica
    brokers.extend([minting, other])
    thread, outcome = start(lambda: minting.get_token(ERID, user_key=USER, session_token=session))
    assert wait_until(lambda: dr.mint_count == 1)  # the mint is at DR
    assert other.revoke(ERID) == 0  # nothing cached yet
    thread.join(5)
    (overtaken,) = outcome
    # The overtaken request is not handed its token, and that token is revoked at DR.
    assert isinstance(overtaken, TokenUnavailable), overtaken
    assert overtaken.retry_after == 1
    session_part = f"-{session}" if session else ""
    assert dr.revoked == [f"at-{ERID[:4]}{session_part}-1"]
    dr.delay = 0.0
    for broker in (minting, other, minting):
        grant = broker.get_token(ERID, user_key=USER, session_token=session)
        assert grant.access_token == f"at-{ERID[:4]}{session_part}-2"
    assert other.revoke(ERID) == 1  # the fresh one was cached, and indexed, as usual


def test_a_revocation_during_a_background_refresh_wins(brokers: list[TokenBroker]) -> None:
    dr, store, clock = FakeDr(lifetime=1000), InMemoryStore(), FakeClock()
    broker = make_broker(dr, store=store, clock=clock)
    brokers.append(broker)
    first = broker.get_token(ERID, user_key=USER).access_token
    dr.delay = 0.3
    clock.advance(600)  # past the refresh point
    assert broker.get_token(ERID, user_key=USER).access_token == first
    assert wait_until(lambda: dr.mint_count == 2)  # the refresh is at DR
    assert broker.revoke(ERID) == 1
    assert wait_until(lambda: len(dr.revoked) == 2)
    assert dr.revoked == [first, f"at-{ERID[:4]}-2"]  # the refresh's token too
    dr.delay = 0.0
    assert broker.get_token(ERID, user_key=USER).access_token == f"at-{ERID[:4]}-3"


def test_no_mint_starts_while_a_revocation_is_running(brokers: list[TokenBroker]) -> None:
    dr, store = FakeDr(), InMemoryStore()
    revoking, asking = make_broker(dr, store=store), make_broker(dr, store=store)
    brokers.extend([revoking, asking])
    cached = asking.get_token(ERID, user_key=USER).access_token
    dr.revoke_gate = threading.Event()
    thread, outcome = start(lambda: revoking.revoke(ERID))
    assert dr.revoking.wait(5)  # dropped from the cache, DR is being asked
    with pytest.raises(TokenUnavailable) as refused:
        asking.get_token(ERID, user_key=USER)
    assert refused.value.retry_after == 1
    assert dr.mint_count == 1  # nothing was minted during the revocation
    dr.revoke_gate.set()
    thread.join(5)
    assert outcome == [1]
    fresh = asking.get_token(ERID, user_key=USER).access_token
    assert fresh not in {cached} and dr.mint_count == 2
    # Other users were never held up.
    assert asking.get_token(OTHER_ERID, user_key="user-2").external_reference_id == OTHER_ERID


def test_the_opened_memo_does_not_resurrect_a_revoked_token(brokers: list[TokenBroker]) -> None:
    dr, store = FakeDr(), InMemoryStore()
    serving, revoking = make_broker(dr, store=store), make_broker(dr, store=store)
    brokers.extend([serving, revoking])
    old = serving.get_token(ERID, user_key=USER).access_token
    assert serving.get_token(ERID, user_key=USER).access_token == old  # opened and memoised
    assert revoking.revoke(ERID) == 1
    assert serving.get_token(ERID, user_key=USER).access_token != old


def test_may_mint_refusal_stops_the_mint_before_dr(brokers: list[TokenBroker]) -> None:
    dr, store = FakeDr(), InMemoryStore()
    asked: list[str] = []
    active = {USER: True}

    def may_mint(user_key: str) -> bool:
        asked.append(user_key)
        return active[user_key]

    broker = make_broker(dr, store=store, may_mint=may_mint)
    brokers.append(broker)
    grant = broker.get_token(ERID, user_key=USER)
    assert asked == [USER]
    assert broker.get_token(ERID, user_key=USER).access_token == grant.access_token
    assert asked == [USER]  # a cache hit does not ask: that is the caller's bounded check
    broker.revoke(ERID)
    active[USER] = False
    with pytest.raises(UserRefused):
        broker.get_token(ERID, user_key=USER)
    assert asked == [USER, USER]
    assert dr.mint_count == 1
    assert store.get("lock:{" + ERID + "}") is None  # the lock was released


def test_may_serve_is_asked_before_a_cached_token_is_served(brokers: list[TokenBroker]) -> None:
    dr, store = FakeDr(), InMemoryStore()
    asked: list[str] = []
    active = {USER: True}

    def may_serve(user_key: str) -> bool:
        asked.append(user_key)
        return active[user_key]

    broker = make_broker(dr, store=store, may_serve=may_serve)
    brokers.append(broker)
    grant = broker.get_token(ERID, user_key=USER)
    assert asked == []  # a mint is may_mint's business
    assert broker.get_token(ERID, user_key=USER).access_token == grant.access_token
    assert asked == [USER]
    active[USER] = False
    with pytest.raises(UserRefused):
        broker.get_token(ERID, user_key=USER)
    assert dr.mint_count == 1  # refused, not re-minted


# --------------------------------------------------------------------------- unreadable values


def test_value_sealed_with_another_key_is_a_miss_and_is_reminted(
    brokers: list[TokenBroker],
) -> None:
    dr, store, clock = FakeDr(), InMemoryStore(), FakeClock()
    foreign = make_broker(dr, store=store, clock=clock, sealer=Sealer([bytes(32)]))
    brokers.append(foreign)
    old = foreign.get_token(ERID, user_key=USER)
    assert dr.mint_count == 1

    broker = make_broker(dr, store=store, clock=clock)  # different key, same store
    brokers.append(broker)
    grant = broker.get_token(ERID, user_key=USER)
    assert dr.mint_count == 2
    assert grant.access_token != old.access_token
    assert broker.get_token(ERID, user_key=USER).access_token == grant.access_token
    assert dr.mint_count == 2  # the re-minted value replaced the unreadable one


def test_value_copied_from_another_user_is_a_miss(brokers: list[TokenBroker]) -> None:
    dr, store = FakeDr(), InMemoryStore()
    broker = make_broker(dr, store=store)
    brokers.append(broker)
    victim = broker.get_token(ERID, user_key=USER)
    raw = store.get("tok:{" + ERID + "}")
    assert raw is not None
    store.set("tok:{" + OTHER_ERID + "}", raw, 3600)  # same sealing key, wrong context
    other = broker.get_token(OTHER_ERID, user_key="user-2")
    assert other.access_token != victim.access_token
    assert dr.mint_count == 2


def test_garbage_in_the_cache_is_a_miss(brokers: list[TokenBroker]) -> None:
    dr, store = FakeDr(), InMemoryStore()
    store.set("tok:{" + ERID + "}", b"garbage", 3600)
    broker = make_broker(dr, store=store)
    brokers.append(broker)
    broker.get_token(ERID, user_key=USER)
    assert dr.mint_count == 1


# --------------------------------------------------------------------------- hooks


def test_ensure_shopper_runs_once_per_mint_while_holding_the_lock(
    brokers: list[TokenBroker],
) -> None:
    dr, store, clock = FakeDr(lifetime=1000), InMemoryStore(), FakeClock()
    calls: list[tuple[str, str, str, bool]] = []
    lock_key = "lock:{" + ERID + "}"

    def ensure(erid: str, user_key: str, access_token: str) -> None:
        calls.append((erid, user_key, access_token, store.get(lock_key) is not None))

    broker = TokenBroker(
        store=store,
        sealer=Sealer([KEY]),
        client=dr,
        policy=BrokerPolicy(poll_interval=0.005, refresh_fraction=1.0),
        ensure_shopper=ensure,
        clock=clock,
    )
    brokers.append(broker)

    first = broker.get_token(ERID, user_key=USER)
    broker.get_token(ERID, user_key=USER)  # cache hit: no hook
    assert calls == [(ERID, USER, first.access_token, True)]

    clock.advance(1000)  # expired: a new mint runs the hook again
    second = broker.get_token(ERID, user_key=USER)
    assert calls[1] == (ERID, USER, second.access_token, True)
    assert len(calls) == dr.mint_count == 2


def test_ensure_shopper_runs_once_for_concurrent_first_mints(
    brokers: list[TokenBroker],
) -> None:
    dr = FakeDr(delay=0.05)
    calls: list[str] = []
    broker = TokenBroker(
        store=InMemoryStore(),
        sealer=Sealer([KEY]),
        client=dr,
        policy=BrokerPolicy(poll_interval=0.005),
        ensure_shopper=lambda erid, user_key, token: calls.append(token),
        clock=FakeClock(),
    )
    brokers.append(broker)
    threads = [
        threading.Thread(target=lambda: broker.get_token(ERID, user_key=USER)) for _ in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert calls == ["at-3F25-1"]


class Recorded:
    """A `MintAuthorization` whose step records the token it was given."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens

    def prepare(self, erid: str, user_key: str) -> Callable[[str], None]:
        return self.tokens.append


class Preparing:
    """A `MintAuthorization` that signals when ``prepare`` has run."""

    def __init__(self) -> None:
        self.prepared = threading.Event()
        self.steps: list[tuple[str, str]] = []

    def prepare(self, erid: str, user_key: str) -> Callable[[str], None]:
        self.prepared.set()
        return lambda token: self.steps.append((erid, token))


class WaitsForPrepare(FakeDr):
    """A mint that fails unless ``prepare`` runs while it is under way."""

    def __init__(self, prepared: threading.Event) -> None:
        super().__init__()
        self.prepared = prepared

    def mint_token(
        self,
        external_reference_id: str,
        *,
        dr_session_token: str | None = None,
        deadline: float | None = None,
    ) -> DrToken:
        if not self.prepared.wait(5):
            raise DrUnavailable("prepare did not run alongside the mint")
        return super().mint_token(
            external_reference_id, dr_session_token=dr_session_token, deadline=deadline
        )


def test_the_authorization_is_prepared_alongside_the_mint(brokers: list[TokenBroker]) -> None:
    authorization = Preparing()
    dr = WaitsForPrepare(authorization.prepared)
    broker = TokenBroker(
        store=InMemoryStore(),
        sealer=Sealer([KEY]),
        client=dr,
        policy=BrokerPolicy(poll_interval=0.005),
        on_minted=authorization,
        clock=FakeClock(),
    )
    brokers.append(broker)

    grant = broker.get_token(ERID, user_key=USER)

    assert authorization.steps == [(ERID, grant.access_token)]  # the step got the new token
    assert broker.get_token(ERID, user_key=USER) == grant  # cached: nothing prepared again
    assert len(authorization.steps) == dr.mint_count == 1


def test_a_failed_mint_runs_no_authorization_step(brokers: list[TokenBroker]) -> None:
    dr = FakeDr()
    dr.fail_with = DrUnavailable()
    minted: list[str] = []
    broker = TokenBroker(
        store=InMemoryStore(),
        sealer=Sealer([KEY]),
        client=dr,
        policy=BrokerPolicy(poll_interval=0.005),
        on_minted=Recorded(minted),
        clock=FakeClock(),
    )
    brokers.append(broker)
    with pytest.raises(TokenUnavailable):
        broker.get_token(ERID, user_key=USER)
    assert minted == []


def test_ensure_shopper_failure_prevents_caching(brokers: list[TokenBroker]) -> None:
    dr, store = FakeDr(), InMemoryStore()
    failing = [True]

    class Boom(Exception):
        pass

    def ensure(erid: str, user_key: str, access_token: str) -> None:
        if failing[0]:
            raise Boom("shopper mismatch")

    minted: list[str] = []
    broker = TokenBroker(
        store=store,
        sealer=Sealer([KEY]),
        client=dr,
        policy=BrokerPolicy(poll_interval=0.005),
        ensure_shopper=ensure,
        on_minted=Recorded(minted),
        clock=FakeClock(),
    )
    brokers.append(broker)

    with pytest.raises(Boom):
        broker.get_token(ERID, user_key=USER)
    assert store.get("tok:{" + ERID + "}") is None
    assert store.get("lock:{" + ERID + "}") is None  # released
    # The authorization runs alongside provisioning, so it may have reached the first token;
    # that token is never cached or handed out.
    assert set(minted) <= {"at-3F25-1"}

    failing[0] = False
    grant = broker.get_token(ERID, user_key=USER)
    assert dr.mint_count == 2
    assert grant.access_token == "at-3F25-2"
    assert minted[-1] == "at-3F25-2"


def test_store_outage_is_token_unavailable_without_minting(brokers: list[TokenBroker]) -> None:
    dr = FakeDr()
    dead = RedisStore.from_url("redis://127.0.0.1:1/0", prefix="x:", timeout=0.2)
    broker = make_broker(dr, store=dead)
    brokers.append(broker)
    with pytest.raises(TokenUnavailable):
        broker.get_token(ERID, user_key=USER)
    assert dr.mint_count == 0
