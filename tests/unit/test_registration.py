"""CreateUserProfileRequest when the user store fails half-way: DR's retry must get the same ERID
and never a second account, whether or not the account was made before the failure."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text

from sso_bridge.db import make_engine
from sso_bridge.directory.base import DirectoryUnavailable, DirectoryUser, EmailTaken, NewUser
from sso_bridge.identity import IdentityMap
from sso_bridge.registrations import ClaimLost, RegistrationLedger
from sso_bridge.rum.messages import CreateUserProfileRequest, LoginResponse, UserInfo, UserKey
from sso_bridge.rum.operations import RumOptions, RumService
from sso_bridge.rum.password_cipher import PlainPassword
from sso_bridge.schema import _IMMUTABLE_SQLITE, HEAD, upgrade
from sso_bridge.sessions import SessionStore
from sso_bridge.store import InMemoryStore


class FlakyDirectory:
    """An in-memory user store whose next create can fail before or after making the account."""

    def __init__(self) -> None:
        self.users: dict[str, DirectoryUser] = {}
        self.passwords: dict[str, str] = {}
        self.fail_next: str | None = None  # "before" | "after"

    def create_user(
        self, new_user: NewUser, *, before_commit: Callable[[], None] | None = None
    ) -> DirectoryUser:
        failure, self.fail_next = self.fail_next, None
        if failure == "before":
            raise DirectoryUnavailable("timeout")
        if self.find_by_email(new_user.email) is not None:
            raise EmailTaken()
        key = str(len(self.users) + 1)
        user = DirectoryUser(key=key, login=new_user.login, email=new_user.email)
        self.users[key] = user
        self.passwords[key] = new_user.password
        if failure == "after":
            raise DirectoryUnavailable("timeout after the write")
        return user

    def find_by_email(self, email: str) -> DirectoryUser | None:
        return next(
            (u for u in self.users.values() if (u.email or "").lower() == email.lower()), None
        )

    def find_by_login(self, login: str) -> DirectoryUser | None:
        return self.find_by_email(login)

    def find_by_key(self, key: str) -> DirectoryUser | None:
        return self.users.get(key)

    def verify_password(self, user: DirectoryUser, password: str) -> bool:
        return self.passwords.get(user.key) == password

    def authenticate(self, login: str, password: str) -> DirectoryUser | None:
        user = self.find_by_login(login)
        return user if user and self.verify_password(user, password) else None

    def dummy_verify(self, password: str) -> None:
        return None

    def ping(self) -> None:
        return None


def service(tmp_path: Path, directory: FlakyDirectory) -> tuple[RumService, IdentityMap]:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.sqlite3'}")
    upgrade(engine)
    identities = IdentityMap(engine=engine)
    rum = RumService(
        directory=directory,
        identities=identities,
        registrations=RegistrationLedger(engine=engine, identities=identities, lease=0.3),
        sessions=SessionStore(store=InMemoryStore(), ttl=60),
        password_decoder=PlainPassword(),
        options=RumOptions(registration_wait=0.45),
    )
    return rum, identities


def create(email: str, password: str = "pw-1") -> CreateUserProfileRequest:
    return CreateUserProfileRequest(
        user_info=UserInfo(user_key=UserKey(login_id=email), email=email), password=password
    )


@pytest.mark.parametrize("failure", ["before", "after"])
def test_retry_after_a_failed_create_gets_one_account_and_one_erid(
    tmp_path: Path, failure: str
) -> None:
    directory = FlakyDirectory()
    rum, identities = service(tmp_path, directory)
    directory.fail_next = failure
    with pytest.raises(DirectoryUnavailable):  # the view answers 503: DR will retry
        rum.create_user(create("new@example.com"))
    answer = rum.create_user(create("new@example.com"))
    assert answer.successful, answer
    assert len(directory.users) == 1
    erid = answer.user_key.external_reference_id if answer.user_key else None
    assert erid and identities.find_erid("1") == erid
    again = rum.create_user(create("new@example.com"))
    assert again.user_key and again.user_key.external_reference_id == erid
    other = rum.create_user(create("new@example.com", password="someone-else"))
    assert (other.successful, other.error_message) == (False, "Email already used")


class SlowDirectory(FlakyDirectory):
    """Check-then-insert with a pause in between and no unique index on email: a merchant table
    whose insert is slow (a trigger, a lock), so overlapping creates of one email would all pass
    the check."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self._lock = threading.Lock()

    def create_user(
        self, new_user: NewUser, *, before_commit: Callable[[], None] | None = None
    ) -> DirectoryUser:
        if self.find_by_email(new_user.email) is not None:
            raise EmailTaken()
        time.sleep(self.delay)
        if before_commit is not None:
            before_commit()
        with self._lock:
            key = str(len(self.users) + 1)
            user = DirectoryUser(key=key, login=new_user.login, email=new_user.email)
            self.users[key] = user
            self.passwords[key] = new_user.password
        return user


def _erid(answer: LoginResponse) -> str | None:
    return answer.user_key.external_reference_id if answer.user_key else None


def test_racing_creates_slower_than_the_wait_make_one_account_and_one_erid(
    tmp_path: Path,
) -> None:
    # The create takes longer than both the waiters' patience and the claim's lease: waiters
    # must neither delete the owner's fresh claim nor start a create of their own.
    directory = SlowDirectory(delay=1.0)
    rum, identities = service(tmp_path, directory)
    barrier = threading.Barrier(6)

    def register(_index: int) -> LoginResponse | None:
        barrier.wait()
        try:
            return rum.create_user(create("race@example.com"))
        except DirectoryUnavailable:  # 503: DR retries
            return None

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(register, range(6)))
    retried = None
    for _attempt in range(40):  # DR's retry, after the burst
        try:
            retried = rum.create_user(create("race@example.com"))
            break
        except DirectoryUnavailable:
            time.sleep(0.1)
    assert retried is not None and retried.successful, retried
    assert len(directory.users) == 1, directory.users
    erid = identities.find_erid("1")
    assert erid is not None
    successes = [a for a in [*answers, retried] if a is not None and a.successful]
    assert {_erid(a) for a in successes} == {erid}


def _ledger(tmp_path: Path, lease: float) -> RegistrationLedger:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    upgrade(engine)
    return RegistrationLedger(engine=engine, identities=IdentityMap(engine=engine), lease=lease)


def test_a_claim_changes_hands_only_by_compare_and_set_on_its_own_id(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, lease=0.2)
    first, ours = ledger.claim("late@example.com")
    assert ours
    second, ours = ledger.claim("late@example.com")
    assert (ours, second.claim_id) == (False, first.claim_id)  # live lease: nobody takes it
    time.sleep(0.3)  # the first owner stops renewing (dead, or cut off)
    taken, ours = ledger.claim("late@example.com")
    assert ours and taken.claim_id != first.claim_id and taken.erid == first.erid
    # The first owner comes back: it can neither renew, release nor complete its successor's.
    with pytest.raises(ClaimLost):
        ledger.renew(first)
    ledger.release(first)
    with pytest.raises(ClaimLost):
        ledger.complete(first, "7")
    assert ledger.find("late@example.com") == taken
    assert ledger.complete(taken, "8") == taken.erid
    done = ledger.find("late@example.com")
    assert done is not None and done.user_key == "8"
    again, ours = ledger.claim("late@example.com")  # a completed claim is never taken over
    assert (ours, again.user_key) == (False, "8")


def test_of_many_processes_that_see_one_stale_claim_one_takes_it_over(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, lease=0.2)
    stale, _ = ledger.claim("stale@example.com")
    time.sleep(0.3)
    barrier = threading.Barrier(8)

    def take(_index: int) -> bool:
        barrier.wait()
        return ledger.claim("stale@example.com")[1]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(take, range(8))) == 1
    current = ledger.find("stale@example.com")
    assert current is not None and current.claim_id != stale.claim_id


def test_the_lease_is_renewed_while_its_owner_works(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, lease=0.3)
    claim, _ = ledger.claim("slow@example.com")
    with ledger.holding(claim) as lease:
        time.sleep(1.0)  # more than three leases
        assert ledger.claim("slow@example.com")[1] is False
        lease.fence()
    assert not lease.lost
    assert ledger.complete(claim, "9") == claim.erid


def test_upgrade_from_version_1_keeps_pending_registrations_and_frees_them(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'v1.sqlite3'}")
    with engine.begin() as connection:  # the schema as version 1 shipped it
        for statement in (
            "CREATE TABLE sso_bridge_schema (version INTEGER NOT NULL)",
            "INSERT INTO sso_bridge_schema VALUES (1)",
            """CREATE TABLE sso_bridge_identities (user_key VARCHAR(255) PRIMARY KEY,
               erid VARCHAR(64) NOT NULL UNIQUE, created_at DATETIME NOT NULL,
               origin VARCHAR(16) NOT NULL, shopper_provisioned_at DATETIME)""",
            """CREATE TABLE sso_bridge_registrations (email VARCHAR(320) PRIMARY KEY,
               erid VARCHAR(64) NOT NULL UNIQUE, user_key VARCHAR(255),
               created_at DATETIME NOT NULL)""",
            """INSERT INTO sso_bridge_registrations VALUES
               ('old@example.com', 'OLD-ERID', NULL, '2026-01-01 00:00:00.000000')""",
            *_IMMUTABLE_SQLITE,  # version 1's triggers (the upgrade checks they are there)
        ):
            connection.execute(text(statement))
    assert upgrade(engine) == (1, HEAD)
    ledger = RegistrationLedger(engine=engine, identities=IdentityMap(engine=engine), lease=5)
    old = ledger.find("old@example.com")
    assert old is not None and (old.claim_id, old.lease_until) == ("OLD-ERID", None)
    taken, ours = ledger.claim("old@example.com")  # nobody works on it: taken over at once
    assert ours and taken.erid == "OLD-ERID" and taken.claim_id != "OLD-ERID"
