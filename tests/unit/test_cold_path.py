"""The cold path of a first token: the plan search (with the application's own token) alongside
the mint, then shopper creation and private-store authorization overlapped; single flight and
exactly-once kept.

DR is a fake that records when each call starts and ends on a logical clock (a counter bumped at
every event), so ordering is asserted, never durations. The broker runs on InMemoryStore with the
real ShopperProvisioner (identity map on SQLite) and PrivateStoreAuthorizer.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sso_bridge.db import make_engine
from sso_bridge.directory.base import DirectoryUser
from sso_bridge.dr.broker import BrokerPolicy, TokenBroker, TokenUnavailable
from sso_bridge.dr.client import DrToken, PurchasePlan, Shopper
from sso_bridge.dr.private_stores import PrivateStoreAuthorizer
from sso_bridge.dr.provisioning import ShopperProvisioner
from sso_bridge.dr.sealing import Sealer
from sso_bridge.identity import IdentityMap
from sso_bridge.schema import upgrade
from sso_bridge.settings import PrivateStoreRule
from sso_bridge.store import InMemoryStore

KEY = bytes(range(32))
RULE = PrivateStoreRule(email_domain="university.edu", search=True)
PLAN = PurchasePlan(
    id="11858700", target_market_id="35100", name="Students", authentication_required=True
)
ACCESS = {"emailDomain": "university.edu"}


class Events:
    """A logical clock: each start or end of a DR call takes the next tick."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.log: list[tuple[int, str, str, str]] = []  # (tick, kind, edge, erid or token)

    def mark(self, kind: str, edge: str, who: str) -> int:
        with self._lock:
            tick = len(self.log)
            self.log.append((tick, kind, edge, who))
            return tick

    def span(self, kind: str, who: str) -> tuple[int, int]:
        start = next(t for t, k, e, w in self.log if (k, e, w) == (kind, "start", who))
        end = next(t for t, k, e, w in self.log if (k, e, w) == (kind, "end", who))
        return start, end

    def count(self, kind: str) -> Counter[str]:
        return Counter(w for _, k, e, w in self.log if k == kind and e == "start")


APP = "app"  # who, in the events, for calls made with the application's own token


class FakeDr:
    """Mint, shopper and plan calls. ``rendezvous``: creation and authorization each wait (a
    bounded wait) for the other to have started, so they can only both finish if they overlap;
    ``search_meets_mint``: the same between the shopper's mint and the plan search."""

    def __init__(
        self, events: Events, *, rendezvous: bool = False, search_meets_mint: bool = False
    ) -> None:
        self.events = events
        self.rendezvous = threading.Barrier(2, timeout=5) if rendezvous else None
        self.mint_search = threading.Barrier(2, timeout=5) if search_meets_mint else None
        self.hang_create: threading.Event | None = None
        self.hang_authorize: threading.Event | None = None
        self.shoppers: set[str] = set()
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self._mints = 0
        self.app_mints = 0

    def _meet(self) -> None:
        if self.rendezvous is not None:
            self.rendezvous.wait()

    def erid_of(self, token: str) -> str:
        with self._lock:
            return self._tokens[token]

    def mint_token(
        self, external_reference_id: str, *, dr_session_token: str | None = None,
        deadline: float | None = None,
    ) -> DrToken:
        self.events.mark("mint", "start", external_reference_id)
        if self.mint_search is not None:
            self.mint_search.wait()
        with self._lock:
            self._mints += 1
            token = f"at-{self._mints}"
            self._tokens[token] = external_reference_id
        self.events.mark("mint", "end", external_reference_id)
        return DrToken(access_token=token, token_type="bearer", expires_in=3600)

    def mint_app_token(self, *, deadline: float | None = None) -> DrToken:
        self.events.mark("app_mint", "start", APP)
        with self._lock:
            self.app_mints += 1
            token = f"app-{self.app_mints}"
            self._tokens[token] = APP
        self.events.mark("app_mint", "end", APP)
        return DrToken(access_token=token, token_type="bearer", expires_in=3600)

    def ping(self, timeout: float = 1.0) -> None:
        pass

    def create_shopper(
        self, access_token: str, shopper: Shopper, *, locale: str | None = None,
        currency: str | None = None,
    ) -> None:
        erid = self.erid_of(access_token)
        self.events.mark("create", "start", erid)
        self._meet()
        if self.hang_create is not None:
            self.hang_create.wait(10)
        with self._lock:
            assert erid not in self.shoppers, "a second shopper creation for one ERID"
            self.shoppers.add(erid)
        self.events.mark("create", "end", erid)

    def get_shopper(self, access_token: str) -> Shopper:
        raise AssertionError("no conflict expected")

    def search_purchase_plans(self, access_token: str, **rules: str) -> list[PurchasePlan]:
        who = self.erid_of(access_token)
        self.events.mark("search", "start", who)
        if self.mint_search is not None:
            self.mint_search.wait()
        self.events.mark("search", "end", who)
        return [PLAN]

    def authorize_purchase_plan(
        self, access_token: str, plan_id: str, target_market_id: str | None, **rule: str
    ) -> None:
        erid = self.erid_of(access_token)
        self.events.mark("authorize", "start", erid)
        self._meet()
        if self.hang_authorize is not None:
            self.hang_authorize.wait(10)
        self.events.mark("authorize", "end", erid)

    def revoke_token(self, access_token: str) -> None:
        pass


class Directory:
    def find_by_key(self, key: str) -> DirectoryUser | None:
        return DirectoryUser(key=key, login=key, email=f"{key}@university.edu")


@pytest.fixture
def identities(tmp_path: Path) -> Iterator[IdentityMap]:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.sqlite3'}")
    upgrade(engine)
    yield IdentityMap(engine=engine)
    engine.dispose()


class Rig:
    def __init__(
        self,
        dr: FakeDr,
        identities: IdentityMap,
        *,
        warm_app_token: bool = False,
        **policy: Any,
    ) -> None:
        self.dr = dr
        self.store = InMemoryStore()
        directory = Directory()
        self.broker = TokenBroker(
            store=self.store,
            sealer=Sealer([KEY]),
            client=dr,
            policy=BrokerPolicy(poll_interval=0.005, **policy),
            ensure_shopper=ShopperProvisioner(
                client=dr, identities=identities, directory=directory
            ),
            on_minted=PrivateStoreAuthorizer(
                rules=(RULE,),
                client=dr,
                store=self.store,
                directory=directory,
                warm_app_token=warm_app_token,
            ),
        )

    def warm_plan_cache(self, *, fresh: bool = True) -> None:
        suffix = json.dumps(ACCESS, sort_keys=True)
        self.store.set(
            "plans:" + suffix, json.dumps([[PLAN.id, PLAN.target_market_id]]).encode(), 3600
        )
        if fresh:
            self.store.set("plans-fresh:" + suffix, b"1", 1800)


@pytest.fixture
def rigs() -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        rig.broker.close()


def test_shopper_creation_and_authorization_overlap_after_the_mint(
    identities: IdentityMap, rigs: list[Rig]
) -> None:
    events = Events()
    rig = Rig(FakeDr(events, rendezvous=True), identities)
    rigs.append(rig)
    rig.warm_plan_cache()
    erid = identities.erid_for("stu")

    grant = rig.broker.get_token(erid, user_key="stu")

    assert grant.access_token == "at-1"
    _, mint_end = events.span("mint", erid)
    create = events.span("create", erid)
    authorize = events.span("authorize", erid)
    assert mint_end < create[0] and mint_end < authorize[0]  # both need the token
    assert create[0] < authorize[1] and authorize[0] < create[1]  # and they overlap
    assert events.count("search") == Counter()  # cached plans: no search on the path
    assert identities.is_provisioned(erid)


def test_an_uncached_search_runs_alongside_the_shopper_creation(
    identities: IdentityMap, rigs: list[Rig]
) -> None:
    events = Events()
    rig = Rig(FakeDr(events, rendezvous=True), identities)
    rigs.append(rig)
    erid = identities.erid_for("stu")

    rig.broker.get_token(erid, user_key="stu")

    search = events.span("search", APP)
    create = events.span("create", erid)
    assert search[0] < create[1]  # not waiting for the shopper
    assert events.count("search") == Counter({APP: 1})  # with the application's token


def test_an_uncached_search_starts_before_the_mint_returns(
    identities: IdentityMap, rigs: list[Rig]
) -> None:
    """The mint and the search each wait for the other to have started: the token is only
    served if they overlap. The authorization (needing both) then comes after both, beside
    the shopper creation: the mint plus one more DR call. The application's token was minted
    at start-up, before any user asked."""
    events = Events()
    dr = FakeDr(events, search_meets_mint=True)
    rig = Rig(dr, identities, warm_app_token=True)
    rigs.append(rig)
    assert _wait_for(lambda: events.count("app_mint") == Counter({APP: 1}))
    erid = identities.erid_for("stu")

    grant = rig.broker.get_token(erid, user_key="stu")

    assert grant.access_token == "at-1"
    mint = events.span("mint", erid)
    search = events.span("search", APP)
    assert search[0] < mint[1] and mint[0] < search[1]
    authorize = events.span("authorize", erid)
    create = events.span("create", erid)
    assert authorize[0] > max(mint[1], search[1])
    assert create[0] > mint[1]
    assert events.count("app_mint") == Counter({APP: 1})  # the one from start-up
    assert events.count("mint") == Counter({erid: 1})


@pytest.mark.parametrize("plans_cached", [True, False])
def test_a_stampede_on_cold_users_mints_and_provisions_each_once(
    identities: IdentityMap, rigs: list[Rig], plans_cached: bool
) -> None:
    events = Events()
    rig = Rig(FakeDr(events), identities)
    rigs.append(rig)
    if plans_cached:
        rig.warm_plan_cache()
    users = [f"user{n}" for n in range(5)]
    erids = {user: identities.erid_for(user) for user in users}
    grants: list[str] = []
    failures: list[BaseException] = []
    start = threading.Barrier(20)

    def ask(user: str) -> None:
        start.wait(5)
        try:
            grants.append(rig.broker.get_token(erids[user], user_key=user).access_token)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=ask, args=(users[n % 5],)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert failures == []
    assert len(grants) == 20 and len(set(grants)) == 5
    every = Counter(erids.values())
    assert events.count("mint") == every
    assert events.count("create") == every
    assert events.count("authorize") == every
    assert all(identities.is_provisioned(erid) for erid in erids.values())
    # Users arriving together share one search (then the cache) and one application token.
    assert events.count("search") == (Counter() if plans_cached else Counter({APP: 1}))
    assert events.count("app_mint") == (Counter() if plans_cached else Counter({APP: 1}))


def test_the_lock_is_held_until_an_abandoned_shopper_creation_gives_up(
    identities: IdentityMap, rigs: list[Rig]
) -> None:
    events = Events()
    dr = FakeDr(events)
    dr.hang_create = threading.Event()  # never set: creation outlives its deadline
    rig = Rig(dr, identities, mint_deadline=0.1)
    rigs.append(rig)
    rig.warm_plan_cache()
    erid = identities.erid_for("stu")
    lock_key = "lock:{" + erid + "}"
    held_while_authorizing: list[bool] = []
    original = dr.authorize_purchase_plan

    def authorize(
        access_token: str, plan_id: str, target_market_id: str | None, **rule: str
    ) -> None:
        held_while_authorizing.append(rig.store.get(lock_key) is not None)
        original(access_token, plan_id, target_market_id, **rule)

    dr.authorize_purchase_plan = authorize  # type: ignore[method-assign]
    try:
        with pytest.raises(TokenUnavailable):
            rig.broker.get_token(erid, user_key="stu")
    finally:
        dr.hang_create.set()
    assert held_while_authorizing == [True]
    assert rig.store.get(lock_key) is None  # released once abandoned
    assert rig.store.get("tok:{" + erid + "}") is None  # no token without its shopper


def test_a_hung_authorization_is_abandoned_and_the_token_still_served(
    identities: IdentityMap, rigs: list[Rig]
) -> None:
    events = Events()
    dr = FakeDr(events)
    dr.hang_authorize = threading.Event()
    rig = Rig(dr, identities, mint_deadline=0.1)
    rigs.append(rig)
    rig.warm_plan_cache()
    erid = identities.erid_for("stu")
    try:
        grant = rig.broker.get_token(erid, user_key="stu")
    finally:
        dr.hang_authorize.set()
    assert grant.access_token == "at-1"
    assert identities.is_provisioned(erid)
    assert rig.broker.get_token(erid, user_key="stu").access_token == "at-1"  # cached


def test_an_ageing_plan_cache_is_refreshed_after_the_token_is_served(
    identities: IdentityMap, rigs: list[Rig]
) -> None:
    """Past half its life the cached search answer is still used at once, and one search
    renews it in the background: a steady stream of cold users never waits for a search."""
    events = Events()
    dr = FakeDr(events)
    rig = Rig(dr, identities)
    rigs.append(rig)
    rig.warm_plan_cache(fresh=False)
    searched = threading.Event()
    release = threading.Event()
    original = dr.search_purchase_plans

    def search(access_token: str, **rules: str) -> list[PurchasePlan]:
        searched.set()
        assert release.wait(10)
        return original(access_token, **rules)

    dr.search_purchase_plans = search  # type: ignore[method-assign]
    first, second = identities.erid_for("stu"), identities.erid_for("stu2")
    try:
        rig.broker.get_token(first, user_key="stu")  # served while the search is held
        assert searched.wait(10)
        rig.broker.get_token(second, user_key="stu2")  # one renewal at a time, not one per user
    finally:
        release.set()
    assert events.count("authorize") == Counter({first: 1, second: 1})
    assert _wait_for(lambda: sum(events.count("search").values()) == 1)
    suffix = json.dumps(ACCESS, sort_keys=True)
    assert _wait_for(lambda: rig.store.get("plans-fresh:" + suffix) is not None)


def _wait_for(condition: Callable[[], bool]) -> bool:
    done = threading.Event()
    for _ in range(1000):
        if condition():
            return True
        done.wait(0.01)
    return condition()


def test_calls_still_queued_at_the_deadline_are_cancelled_and_the_mint_fails_cleanly(
    identities: IdentityMap, rigs: list[Rig]
) -> None:
    """The pool is bounded: with its one thread held by a hung creation, the next user's
    provisioning never starts; at the deadline it is cancelled and the answer is a plain
    TokenUnavailable (503), with the lock released and nothing cached."""
    events = Events()
    dr = FakeDr(events)
    dr.hang_create = threading.Event()
    rig = Rig(dr, identities, mint_deadline=0.1, after_mint_workers=1)
    rigs.append(rig)
    rig.warm_plan_cache()
    first, second = identities.erid_for("stu"), identities.erid_for("stu2")
    try:
        with pytest.raises(TokenUnavailable):
            rig.broker.get_token(first, user_key="stu")  # its creation keeps the one thread
        with pytest.raises(TokenUnavailable):
            rig.broker.get_token(second, user_key="stu2")
    finally:
        dr.hang_create.set()
    assert second not in events.count("create")  # never started: cancelled while queued
    assert rig.store.get("lock:{" + second + "}") is None
    assert rig.store.get("tok:{" + second + "}") is None
