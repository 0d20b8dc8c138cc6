"""Finding 3: no failure path may answer faster than a real verification.

Cheap (md5-crypt), unusable (``!``-prefixed), unrecognised and ambiguous accounts answered in
5-7 ms against 305 ms for an unknown login. The times themselves are measured by
``python -m bench.timing``; these tests check the mechanism: every failure verifies a usable hash
(real or dummy) and is then held by the failure floor, and successes are not held.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from passlib.hash import md5_crypt, sha512_crypt
from sqlalchemy import MetaData

from sso_bridge.db import make_engine
from sso_bridge.directory.passwords import PasswordHasher
from sso_bridge.directory.sql import SqlUserDirectory
from sso_bridge.identity import IdentityMap
from sso_bridge.registrations import RegistrationLedger
from sso_bridge.rum.messages import LoginRequest, LoginResponse, UserKey
from sso_bridge.rum.operations import RumOptions, RumService
from sso_bridge.rum.password_cipher import decrypter
from sso_bridge.rum.throttle import LoginThrottle, ThrottlePolicy, Window
from sso_bridge.rum.timing import FailureFloor
from sso_bridge.schema import upgrade
from sso_bridge.sessions import SessionStore
from sso_bridge.settings import load_settings
from sso_bridge.store import InMemoryStore
from sso_bridge.throttle_counters import InMemoryThrottleCounters
from tests.helpers import bridge_config, users_table

ROWS = [
    ("cheap@example.com", md5_crypt.hash("cheap-pw-1"), True),
    ("social@example.com", "!" + sha512_crypt.hash("whatever-1"), True),
    ("garbled@example.com", "not-a-hash-at-all", True),
    ("Twin@example.com", md5_crypt.hash("twin-pw-1"), True),
    ("twin@example.com", md5_crypt.hash("twin-pw-2"), True),
    ("asleep@example.com", md5_crypt.hash("asleep-pw-1"), False),
]


class RecordingHasher(PasswordHasher):
    """The real hasher, remembering which stored hashes it was asked to verify."""

    def __init__(self) -> None:
        super().__init__(new_scheme="argon2")
        self.verified: list[str] = []

    def verify(self, password: str, stored_hash: str, *, salt: str | None = None) -> bool:
        self.verified.append(stored_hash)
        return super().verify(password, stored_hash, salt=salt)


class RecordingFloor(FailureFloor):
    def __init__(self) -> None:
        super().__init__(jitter=0.0)
        self.held: list[float] = []

    def hold(self, started: float) -> float:
        self.held.append(started)
        return super().hold(started)


@pytest.fixture
def service(tmp_path: Path) -> tuple[RumService, RecordingHasher, RecordingFloor]:
    merchant = make_engine(f"sqlite:///{tmp_path / 'merchant.sqlite3'}")
    metadata = MetaData()
    table = users_table(metadata)
    table.c.email.unique = False
    metadata.create_all(merchant)
    with merchant.begin() as connection:
        for email, stored, active in ROWS:
            connection.execute(
                table.insert().values(email=email, username=None, password=stored, active=active)
            )
    bridge = make_engine(f"sqlite:///{tmp_path / 'bridge.sqlite3'}")
    upgrade(bridge)
    settings = load_settings(
        bridge_config(merchant_url=str(merchant.url), bridge_url=str(bridge.url))
    )
    hasher = RecordingHasher()
    floor = RecordingFloor()
    identities = IdentityMap(engine=bridge)
    rum = RumService(
        directory=SqlUserDirectory(engine=merchant, mapping=settings.directory, hasher=hasher),
        identities=identities,
        registrations=RegistrationLedger(engine=bridge, identities=identities, lease=5),
        sessions=SessionStore(store=InMemoryStore(), ttl=60),
        password_decoder=decrypter(None),
        options=RumOptions(),
        throttle=LoginThrottle(
            counters=InMemoryThrottleCounters(),
            fallback=InMemoryThrottleCounters(),
            key=b"k" * 32,
            policy=ThrottlePolicy(account=(Window(60, 3),)),
        ),
        floor=floor,
    )
    return rum, hasher, floor


def sign_in(rum: RumService, login: str, password: str | None) -> LoginResponse:
    return rum.login(LoginRequest(user_key=UserKey(login_id=login), password=password))


@pytest.mark.parametrize(
    ("login", "password"),
    [
        ("nobody@example.com", "any-pw"),  # unknown login
        ("cheap@example.com", "wrong-pw"),  # cheap hash, wrong password
        ("social@example.com", "whatever-1"),  # unusable hash (even its "own" password)
        ("garbled@example.com", "not-a-hash-at-all"),  # unrecognised hash
        ("TWIN@example.com", "twin-pw-2"),  # ambiguous: two rows match, neither exactly
        ("asleep@example.com", "wrong-pw"),  # inactive, wrong password
    ],
)
def test_every_failure_verifies_a_usable_hash_and_is_held_by_the_floor(
    service: tuple[RumService, RecordingHasher, RecordingFloor], login: str, password: str
) -> None:
    rum, hasher, floor = service
    answer = sign_in(rum, login, password)
    assert not answer.successful and answer.error_code == "5"
    assert len(hasher.verified) == 1
    assert hasher.scheme_of(hasher.verified[0]) is not None  # a real cost was paid
    assert len(floor.held) == 1


def test_incomplete_and_throttled_failures_are_held_too(
    service: tuple[RumService, RecordingHasher, RecordingFloor],
) -> None:
    rum, hasher, floor = service
    sign_in(rum, "cheap@example.com", None)
    for n in range(4):  # the fourth is throttled (limit 3)
        sign_in(rum, "cheap@example.com", f"wrong-{n}")
    assert len(floor.held) == 5
    assert len(hasher.verified) == 4  # three real verifications and the throttled one's dummy
    assert hasher.verified.count(hasher.verified[-1]) == 1  # the dummy, not the user's hash


def test_successes_are_not_held_and_real_verifications_set_the_floor(
    service: tuple[RumService, RecordingHasher, RecordingFloor],
) -> None:
    rum, _, floor = service
    assert sign_in(rum, "cheap@example.com", "cheap-pw-1").successful
    inactive = sign_in(rum, "asleep@example.com", "asleep-pw-1")
    assert inactive.error_code == "6"
    assert floor.held == []
    assert floor.floor() > 0.0
