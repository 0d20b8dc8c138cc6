"""ShopperProvisioner (first-mint shopper creation) and PrivateStoreAuthorizer (purchase plans).

Fakes stand in for DR and the merchant directory; the identity map is the real one on SQLite, and
the plan-search cache is checked against both InMemoryStore and the machine's real Redis.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sso_bridge.db import make_engine
from sso_bridge.directory.base import DirectoryUser
from sso_bridge.dr.app_token import AppToken
from sso_bridge.dr.broker import TokenUnavailable
from sso_bridge.dr.client import (
    DrConflict,
    DrError,
    DrToken,
    DrUnavailable,
    PurchasePlan,
    Shopper,
)
from sso_bridge.dr.private_stores import PrivateStoreAuthorizer, matches
from sso_bridge.dr.provisioning import ShopperMismatch, ShopperProvisioner
from sso_bridge.identity import IdentityMap
from sso_bridge.schema import upgrade
from sso_bridge.settings import PrivateStoreRule
from sso_bridge.store import InMemoryStore, KeyValueStore, RedisStore

USER_KEY = "42"
TOKEN = "access-token-xyz"


class FakeDirectory:
    def __init__(self, *users: DirectoryUser) -> None:
        self.users = {user.key: user for user in users}
        self.lookups: list[str] = []

    def find_by_key(self, key: str) -> DirectoryUser | None:
        self.lookups.append(key)
        return self.users.get(key)


class FakeDr:
    """Shopper and purchase-plan calls: records them, answers as configured."""

    def __init__(self) -> None:
        self.created: list[tuple[str, Shopper, str | None]] = []
        self.reads: list[str] = []
        self.create_error: DrError | None = None
        self.read_error: DrError | None = None
        self.existing: Shopper | None = None
        self.plans: list[PurchasePlan] = []
        self.search_error: DrError | None = None
        self.searches: list[dict[str, str]] = []
        self.authorize_error: DrError | None = None
        self.authorized: list[tuple[str, str, str | None, dict[str, str]]] = []
        self.app_mints = 0
        self._lock = threading.Lock()

    def create_shopper(
        self,
        access_token: str,
        shopper: Shopper,
        *,
        locale: str | None = None,
        currency: str | None = None,
    ) -> None:
        with self._lock:
            self.created.append((access_token, shopper, locale))
        if self.create_error is not None:
            raise self.create_error

    def get_shopper(self, access_token: str) -> Shopper:
        self.reads.append(access_token)
        if self.read_error is not None:
            raise self.read_error
        assert self.existing is not None
        return self.existing

    def mint_app_token(self, *, deadline: float | None = None) -> DrToken:
        with self._lock:
            self.app_mints += 1
            return DrToken(f"app-{self.app_mints}", "bearer", 3600)

    def search_purchase_plans(self, access_token: str, **rules: str) -> list[PurchasePlan]:
        assert access_token.startswith("app-"), "a search with the application's token"
        self.searches.append(dict(rules))
        if self.search_error is not None:
            raise self.search_error
        return list(self.plans)

    def authorize_purchase_plan(
        self, access_token: str, plan_id: str, target_market_id: str | None, **rule: str
    ) -> None:
        self.authorized.append((access_token, plan_id, target_market_id, dict(rule)))
        if self.authorize_error is not None:
            raise self.authorize_error


# --------------------------------------------------------------------------- provisioning


@pytest.fixture
def identities(tmp_path: Path) -> Iterator[IdentityMap]:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.sqlite3'}")
    upgrade(engine)
    yield IdentityMap(engine=engine)
    engine.dispose()


@pytest.fixture
def erid(identities: IdentityMap) -> str:
    return identities.erid_for(USER_KEY)


@pytest.fixture
def directory() -> FakeDirectory:
    return FakeDirectory(
        DirectoryUser(
            key=USER_KEY,
            login="jo",
            email="jo@example.com",
            first_name="Jo",
            last_name="Doe",
            locale="fr_FR",
        )
    )


def provisioner(
    dr: FakeDr, identities: IdentityMap, directory: FakeDirectory
) -> ShopperProvisioner:
    return ShopperProvisioner(client=dr, identities=identities, directory=directory)


def fresh_map(identities: IdentityMap) -> IdentityMap:
    """Another process: same database, empty in-process caches."""
    return IdentityMap(engine=identities.engine)


def test_creates_the_shopper_once_and_records_it(
    identities: IdentityMap, erid: str, directory: FakeDirectory
) -> None:
    dr = FakeDr()
    provision = provisioner(dr, identities, directory)
    assert not identities.is_provisioned(erid)

    provision(erid, USER_KEY, TOKEN)
    assert len(dr.created) == 1
    token, shopper, locale = dr.created[0]
    assert token == TOKEN
    assert shopper == Shopper(
        external_reference_id=erid, first_name="Jo", last_name="Doe", email="jo@example.com"
    )
    assert locale == "fr_FR"
    assert identities.is_provisioned(erid)

    provision(erid, USER_KEY, "another-token")
    assert len(dr.created) == 1

    # A second process (fresh in-process state) reads the record and does not create again.
    provisioner(dr, fresh_map(identities), directory)(erid, USER_KEY, "third-token")
    assert len(dr.created) == 1
    assert dr.reads == []


def test_unknown_directory_user_still_creates_a_bare_shopper(
    identities: IdentityMap, erid: str
) -> None:
    dr = FakeDr()
    provisioner(dr, identities, FakeDirectory())(erid, USER_KEY, TOKEN)
    assert dr.created == [(TOKEN, Shopper(external_reference_id=erid), None)]
    assert identities.is_provisioned(erid)


def test_conflict_with_matching_erid_is_ok_and_recorded(
    identities: IdentityMap, erid: str, directory: FakeDirectory
) -> None:
    dr = FakeDr()
    dr.create_error = DrConflict(status=409)
    dr.existing = Shopper(external_reference_id=erid, first_name="Jo")
    provision = provisioner(dr, identities, directory)

    provision(erid, USER_KEY, TOKEN)
    assert dr.reads == [TOKEN]
    assert identities.is_provisioned(erid)

    provision(erid, USER_KEY, TOKEN)
    assert len(dr.created) == 1
    assert dr.reads == [TOKEN]


def test_conflict_with_another_erid_is_a_mismatch_and_not_recorded(
    identities: IdentityMap, erid: str, directory: FakeDirectory
) -> None:
    dr = FakeDr()
    dr.create_error = DrConflict(status=409)
    dr.existing = Shopper(external_reference_id="SOMEONE-ELSE")
    provision = provisioner(dr, identities, directory)

    with pytest.raises(ShopperMismatch):
        provision(erid, USER_KEY, TOKEN)
    assert not identities.is_provisioned(erid)

    # Not remembered in-process either: the next mint checks again.
    with pytest.raises(ShopperMismatch):
        provision(erid, USER_KEY, TOKEN)
    assert len(dr.created) == 2
    assert not fresh_map(identities).is_provisioned(erid)


def test_conflict_where_dr_returns_no_erid_is_a_mismatch(
    identities: IdentityMap, erid: str, directory: FakeDirectory
) -> None:
    dr = FakeDr()
    dr.create_error = DrConflict(status=409)
    dr.existing = Shopper(external_reference_id=None)
    with pytest.raises(ShopperMismatch):
        provisioner(dr, identities, directory)(erid, USER_KEY, TOKEN)
    assert not identities.is_provisioned(erid)


@pytest.mark.parametrize(
    ("failure", "retry_after"),
    [
        (DrUnavailable(), 1),
        (DrUnavailable(retry_after=7), 7),
        (DrError("bad", code="invalid-request", status=400), 1),
    ],
)
def test_dr_failure_on_create_is_token_unavailable_and_not_recorded(
    identities: IdentityMap,
    erid: str,
    directory: FakeDirectory,
    failure: DrError,
    retry_after: int,
) -> None:
    dr = FakeDr()
    dr.create_error = failure
    provision = provisioner(dr, identities, directory)
    with pytest.raises(TokenUnavailable) as caught:
        provision(erid, USER_KEY, TOKEN)
    assert caught.value.retry_after == retry_after
    assert caught.value.__cause__ is failure
    assert not identities.is_provisioned(erid)

    dr.create_error = None  # DR is back: the next mint provisions
    provision(erid, USER_KEY, TOKEN)
    assert len(dr.created) == 2
    assert identities.is_provisioned(erid)


def test_dr_failure_on_verification_read_is_token_unavailable(
    identities: IdentityMap, erid: str, directory: FakeDirectory
) -> None:
    dr = FakeDr()
    dr.create_error = DrConflict(status=409)
    dr.read_error = DrUnavailable()
    with pytest.raises(TokenUnavailable):
        provisioner(dr, identities, directory)(erid, USER_KEY, TOKEN)
    assert not identities.is_provisioned(erid)


# --------------------------------------------------------------------------- rule matching

DOMAIN = PrivateStoreRule(email_domain="University.EDU", purchase_plan_id="P1")
ADDRESS = PrivateStoreRule(email_address="Boss@Example.com", purchase_plan_id="P2")
RANGE = PrivateStoreRule(ip_range="10.1.0.0/16", purchase_plan_id="P3")
RANGE_V6 = PrivateStoreRule(ip_range="2001:db8::/32", purchase_plan_id="P4")


@pytest.mark.parametrize(
    ("rule", "email", "ip", "expected"),
    [
        (DOMAIN, "stu@university.edu", None, {"emailDomain": "university.edu"}),
        (DOMAIN, "Stu@UNIVERSITY.Edu", None, {"emailDomain": "university.edu"}),
        (DOMAIN, "  stu@university.edu ", None, {"emailDomain": "university.edu"}),
        (DOMAIN, "stu@notuniversity.edu", None, None),
        (DOMAIN, "stu@university.edu.evil.com", None, None),
        (DOMAIN, "university.edu", None, None),
        (DOMAIN, None, None, None),
        (DOMAIN, "", "10.1.2.3", None),
        (ADDRESS, "boss@example.com", None, {"emailAddress": "boss@example.com"}),
        (ADDRESS, "BOSS@EXAMPLE.COM", None, {"emailAddress": "boss@example.com"}),
        (ADDRESS, "other@example.com", None, None),
        (ADDRESS, "xboss@example.com", None, None),
        (RANGE, None, "10.1.200.7", {"ipAddress": "10.1.200.7"}),
        (RANGE, "a@b.c", "10.1.0.0", {"ipAddress": "10.1.0.0"}),
        (RANGE, None, "10.2.0.1", None),
        (RANGE, None, "not-an-ip", None),
        (RANGE, None, None, None),
        (RANGE, None, "2001:db8::1", None),
        (RANGE_V6, None, "2001:db8::1", {"ipAddress": "2001:db8::1"}),
        (RANGE_V6, None, "2001:db9::1", None),
        (PrivateStoreRule(ip_range="10.1.0.0/16"), None, "10.1.0.1", {"ipAddress": "10.1.0.1"}),
        (PrivateStoreRule(ip_range="nonsense"), None, "10.1.0.1", None),
        (PrivateStoreRule(), "stu@university.edu", "10.1.0.1", None),
    ],
)
def test_rule_matching(
    rule: PrivateStoreRule, email: str | None, ip: str | None, expected: dict[str, str] | None
) -> None:
    assert matches(rule, email, ip) == expected


# --------------------------------------------------------------------------- authorization


@pytest.fixture
def store() -> KeyValueStore:
    # The same tests run on the real Redis in tests/functional/test_provisioning_redis.py.
    return InMemoryStore()


STUDENT = DirectoryUser(key="7", login="stu", email="Stu@University.edu")
OUTSIDER = DirectoryUser(key="8", login="out", email="out@example.com")
PLANS = [
    PurchasePlan(
        id="11858700", target_market_id="35100", name="Students", authentication_required=True
    ),
    PurchasePlan(
        id="11858701", target_market_id=None, name="Alumni", authentication_required=False
    ),
]


def authorizer(
    dr: FakeDr, store: KeyValueStore, *rules: PrivateStoreRule
) -> PrivateStoreAuthorizer:
    return PrivateStoreAuthorizer(
        rules=rules,
        client=dr,
        store=store,
        directory=FakeDirectory(STUDENT, OUTSIDER),
        warm_app_token=False,
    )


def test_fixed_plan_is_authorized_without_search(store: KeyValueStore) -> None:
    dr = FakeDr()
    rule = PrivateStoreRule(
        email_domain="university.edu", purchase_plan_id="P1", target_market_id="TM1"
    )
    authorize = authorizer(dr, store, rule)
    authorize("ERID-7", STUDENT.key, TOKEN)
    assert dr.searches == []
    assert dr.authorized == [(TOKEN, "P1", "TM1", {"emailDomain": "university.edu"})]
    assert authorize.failures == 0


def test_non_matching_user_is_not_authorized(store: KeyValueStore) -> None:
    dr = FakeDr()
    dr.plans = PLANS
    authorize = authorizer(
        dr,
        store,
        PrivateStoreRule(email_domain="university.edu", search=True),
        PrivateStoreRule(email_address="boss@example.com", purchase_plan_id="P2"),
    )
    authorize("ERID-8", OUTSIDER.key, TOKEN)
    authorize("ERID-9", "unknown-user", TOKEN)
    assert dr.searches == []
    assert dr.authorized == []


def test_no_rules_touches_nothing(store: KeyValueStore) -> None:
    dr = FakeDr()
    directory = FakeDirectory(STUDENT)
    authorize = PrivateStoreAuthorizer(
        rules=(),
        client=dr,
        store=store,
        directory=directory,
    )
    authorize("ERID-7", STUDENT.key, TOKEN)
    assert directory.lookups == []
    assert dr.authorized == []


def test_search_results_are_cached_in_the_store(store: KeyValueStore) -> None:
    dr = FakeDr()
    dr.plans = PLANS
    rule = PrivateStoreRule(email_domain="university.edu", search=True)
    authorize = authorizer(dr, store, rule)

    authorize("ERID-7", STUDENT.key, "token-1")
    assert dr.searches == [{"emailDomain": "university.edu"}]
    expected_first = [
        ("token-1", "11858700", "35100", {"emailDomain": "university.edu"}),
        ("token-1", "11858701", None, {"emailDomain": "university.edu"}),
    ]
    assert dr.authorized == expected_first

    # Second mint (same process): no search, both plans authorized for the new token.
    authorize("ERID-7", STUDENT.key, "token-2")
    assert len(dr.searches) == 1
    assert dr.authorized[2:] == [
        ("token-2", "11858700", "35100", {"emailDomain": "university.edu"}),
        ("token-2", "11858701", None, {"emailDomain": "university.edu"}),
    ]

    # Another process sharing the store also uses the cached result.
    dr2 = FakeDr()
    authorizer(dr2, store, rule)("ERID-7", STUDENT.key, "token-3")
    assert dr2.searches == []
    assert [call[1] for call in dr2.authorized] == ["11858700", "11858701"]


def test_empty_search_result_is_cached_too(store: KeyValueStore) -> None:
    dr = FakeDr()
    authorize = authorizer(dr, store, PrivateStoreRule(email_domain="university.edu", search=True))
    authorize("ERID-7", STUDENT.key, TOKEN)
    authorize("ERID-7", STUDENT.key, TOKEN)
    assert len(dr.searches) == 1
    assert dr.authorized == []


def test_authorization_failure_is_counted_not_raised(store: KeyValueStore) -> None:
    dr = FakeDr()
    dr.authorize_error = DrError("nope", code="invalid-request", status=400)
    authorize = authorizer(
        dr,
        store,
        PrivateStoreRule(email_domain="university.edu", purchase_plan_id="P1"),
        PrivateStoreRule(email_address="stu@university.edu", purchase_plan_id="P2"),
    )
    authorize("ERID-7", STUDENT.key, TOKEN)  # does not raise
    assert authorize.failures == 2
    assert [call[1] for call in dr.authorized] == ["P1", "P2"]  # the second rule still ran

    dr.authorize_error = None
    authorize("ERID-7", STUDENT.key, TOKEN)
    assert authorize.failures == 2


def test_search_failure_is_counted_and_not_cached(store: KeyValueStore) -> None:
    dr = FakeDr()
    dr.search_error = DrUnavailable()
    dr.plans = PLANS
    authorize = authorizer(dr, store, PrivateStoreRule(email_domain="university.edu", search=True))
    authorize("ERID-7", STUDENT.key, TOKEN)
    assert authorize.failures == 1
    assert dr.authorized == []

    dr.search_error = None
    authorize("ERID-7", STUDENT.key, TOKEN)
    assert len(dr.searches) == 2  # the failure was not cached as "no plans"
    assert [call[1] for call in dr.authorized] == ["11858700", "11858701"]


def test_store_outage_does_not_stop_authorization() -> None:
    dr = FakeDr()
    dr.plans = PLANS
    dead = RedisStore.from_url("redis://127.0.0.1:1/0", prefix="x:", timeout=0.2)
    authorize = authorizer(dr, dead, PrivateStoreRule(email_domain="university.edu", search=True))
    authorize("ERID-7", STUDENT.key, TOKEN)
    authorize("ERID-7", STUDENT.key, TOKEN)
    assert len(dr.searches) == 2  # nothing could be cached, so it searched each time
    assert [call[1] for call in dr.authorized] == ["11858700", "11858701"] * 2
    assert authorize.failures == 0


def test_the_search_uses_the_applications_token_minted_once(store: KeyValueStore) -> None:
    """No shopper's token is needed to find the plans: ``prepare`` searches with the
    application's own token (one mint per process, reused), and only the step it returns
    needs the shopper's token."""
    dr = FakeDr()
    dr.plans = PLANS
    authorize = authorizer(
        dr,
        store,
        PrivateStoreRule(email_domain="university.edu", search=True),
        PrivateStoreRule(email_address="stu@university.edu", search=True),
    )

    step = authorize.prepare("ERID-7", STUDENT.key)

    assert dr.searches == [
        {"emailDomain": "university.edu"},
        {"emailAddress": "stu@university.edu"},
    ]
    assert dr.app_mints == 1
    assert dr.authorized == []  # nothing authorized before there is a token
    assert step is not None
    step("shopper-token")
    assert {call[0] for call in dr.authorized} == {"shopper-token"}
    assert len(dr.authorized) == 4


def test_a_refused_application_token_is_replaced_once(store: KeyValueStore) -> None:
    dr = FakeDr()
    dr.plans = PLANS
    refused = DrError("revoked", code="invalid_token", status=401)
    original = dr.search_purchase_plans
    seen: list[str] = []

    def search(access_token: str, **rules: str) -> list[PurchasePlan]:
        seen.append(access_token)
        if access_token == "app-1":
            raise refused
        return original(access_token, **rules)

    dr.search_purchase_plans = search  # type: ignore[method-assign]
    authorize = authorizer(dr, store, PrivateStoreRule(email_domain="university.edu", search=True))
    authorize("ERID-7", STUDENT.key, TOKEN)
    assert seen == ["app-1", "app-2"]
    assert [call[1] for call in dr.authorized] == ["11858700", "11858701"]
    assert authorize.failures == 0


def test_nothing_to_authorize_prepares_no_step(store: KeyValueStore) -> None:
    dr = FakeDr()
    authorize = authorizer(dr, store, PrivateStoreRule(email_domain="university.edu", search=True))
    assert authorize.prepare("ERID-8", OUTSIDER.key) is None  # no rule matches
    assert authorize.prepare("ERID-7", STUDENT.key) is None  # the search found no plan
    assert dr.app_mints == 1


def test_the_application_token_is_minted_at_start_up_when_a_rule_searches(
    store: KeyValueStore,
) -> None:
    dr = FakeDr()
    dr.plans = PLANS
    searching = PrivateStoreRule(email_domain="university.edu", search=True)
    fixed = PrivateStoreRule(email_domain="university.edu", purchase_plan_id="P1")
    directory = FakeDirectory(STUDENT)
    PrivateStoreAuthorizer(rules=(fixed,), client=dr, store=store, directory=directory)
    authorize = PrivateStoreAuthorizer(
        rules=(searching,), client=dr, store=store, directory=directory
    )
    deadline = threading.Event()
    for _ in range(500):
        if dr.app_mints:
            break
        deadline.wait(0.01)
    assert dr.app_mints == 1  # only the authorizer with a searching rule minted one
    authorize("ERID-7", STUDENT.key, TOKEN)
    assert len(dr.searches) == 1 and dr.app_mints == 1  # the search used it


class AppMinter:
    def __init__(self) -> None:
        self.mints = 0
        self.fail: DrError | None = None

    def mint_app_token(self, *, deadline: float | None = None) -> DrToken:
        if self.fail is not None:
            raise self.fail
        self.mints += 1
        return DrToken(f"app-{self.mints}", "bearer", 1000)


def test_the_application_token_is_reused_then_renewed_past_half_its_life() -> None:
    now = [0.0]
    minter = AppMinter()
    token = AppToken(minter, clock=lambda: now[0])
    assert token.get() == token.get() == "app-1"
    now[0] = 600.0  # past half its life: renewed by the caller that noticed
    assert token.get() == "app-2"
    minter.fail = DrUnavailable()
    now[0] = 1200.0  # ageing again, DR failing: the current one is still good, so it is used
    assert token.get() == "app-2"
    now[0] = 1600.0  # past its expiry (minus the margin): nothing usable, the failure shows
    with pytest.raises(DrUnavailable):
        token.get()
    minter.fail = None
    assert token.get() == "app-3"
    token.discard("app-3")  # refused by DR: the next get mints afresh
    assert token.get() == "app-4"
    assert minter.mints == 4
