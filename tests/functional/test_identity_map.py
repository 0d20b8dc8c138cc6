"""The IdentityMap contract, one suite on SQLite, PostgreSQL and MariaDB (all real).

The database itself holds the invariants: one ERID per user key, one user key per ERID, ERIDs
unique ignoring case, keys and ERIDs compared byte for byte (``Bob``, ``bob``, ``bob `` and
``böb`` are four users), rows never rewritten, UPDATE and DELETE refused. Raw SQL that would
break them must fail, not only our Python code paths. MariaDB is the machine's (127.0.0.1:3306,
root): each test gets its own database there, dropped afterwards.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from sso_bridge.db import make_engine
from sso_bridge.directory.passwords import PasswordHasher
from sso_bridge.directory.sql import SqlUserDirectory
from sso_bridge.identity import IdentityConflict, IdentityMap, ImportRefused, ImportReport
from sso_bridge.schema import identities, upgrade
from sso_bridge.settings import DirectorySettings
from tests.functional.conftest import BACKENDS, fresh_bridge_url
from tests.helpers import seed_users

T = TypeVar("T")
ERID_SHAPE = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$")


@pytest.fixture(params=BACKENDS)
def bridge(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an upgraded bridge database on each backend."""
    url = fresh_bridge_url(request.param, request, tmp_path)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(bridge: str) -> Iterator[Engine]:
    engine = make_engine(bridge)
    yield engine
    engine.dispose()


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[SqlUserDirectory]:
    """The sample merchant table (integer key column ``id``: user 1 is demo@example.com)."""
    url = f"sqlite:///{tmp_path / 'merchant.sqlite3'}"
    engine = make_engine(url)
    seed_users(engine)
    yield SqlUserDirectory(
        engine=engine,
        mapping=DirectorySettings(url=url, login_columns=("email", "username")),
        hasher=PasswordHasher(new_scheme="argon2"),
    )
    engine.dispose()


def _canonical(directory: SqlUserDirectory) -> Callable[[str], str | None]:
    def canonical(key: str) -> str | None:
        user = directory.find_by_key(key)
        return None if user is None else user.key

    return canonical


def _rows(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        return dict(connection.execute(select(identities.c.user_key, identities.c.erid)).all())


def _erid() -> str:
    return str(uuid.uuid4()).upper()


# --- one ERID per key, one key per ERID -------------------------------------------------------


def test_erid_for_is_idempotent_and_lookups_work_both_ways(engine: Engine) -> None:
    first = IdentityMap(engine=engine)
    keys = ["alice@example.com", "42", "bob", "Zed"]
    erids = {key: first.erid_for(key) for key in keys}
    assert len(set(erids.values())) == len(keys)
    for key, erid in erids.items():
        assert ERID_SHAPE.match(erid), erid
        assert erid == erid.upper()
        if not re.fullmatch(r"[0-9a-fA-F-]*", key):  # "42" may occur in a UUID by chance
            assert key.upper() not in erid and key not in erid
        assert first.erid_for(key) == erid
        assert first.erid_for(key, origin="registration") == erid
        assert first.erid_for(key, erid=_erid()) == erid  # a proposal never replaces one

    # A second map (no shared cache) reads the same mapping from the database.
    second = IdentityMap(engine=engine)
    for key, erid in erids.items():
        assert second.find_erid(key) == erid
        assert IdentityMap(engine=engine).find_user_key(erid) == key
        assert second.erid_for(key) == erid
    assert _rows(engine) == erids

    assert second.find_erid("nobody") is None
    assert second.find_user_key(_erid()) is None
    assert second.find_user_key(erids["bob"].lower()) is None  # exact match only
    assert _rows(engine) == erids  # lookups never create

    # A proposed ERID that another user already holds, in any letter case, is not reused.
    for taken_by_alice in (erids["alice@example.com"], erids["alice@example.com"].lower()):
        taken = IdentityMap(engine=engine).erid_for(f"carol-{taken_by_alice}", erid=taken_by_alice)
        assert taken.lower() != taken_by_alice.lower() and ERID_SHAPE.match(taken)
    proposed = _erid()
    assert IdentityMap(engine=engine).erid_for("dave", erid=proposed) == proposed


def test_keys_compare_byte_for_byte_and_stored_rows_are_never_rewritten(engine: Engine) -> None:
    # Issue 8, finding 3: on MariaDB these four got one ERID (a case- and accent-insensitive,
    # trailing-space-padding collation), and the upsert rewrote the stored key to the last one.
    keys = ["Bob", "bob", "bob ", "böb", "BOB", " bob"]
    first = IdentityMap(engine=engine)
    erids = {key: first.erid_for(key) for key in keys}
    assert len(set(erids.values())) == len(keys), erids
    assert _rows(engine) == erids  # every key stored exactly as given, none rewritten

    fresh = IdentityMap(engine=engine)  # no in-process cache: the database answers
    for key, erid in erids.items():
        assert fresh.find_erid(key) == erid, repr(key)
        assert fresh.find_user_key(erid) == key
        assert fresh.erid_for(key) == erid
    assert fresh.find_erid("BoB") is None and fresh.find_erid("bob  ") is None
    assert _rows(engine) == erids


# --- the database refuses what would break the invariant -------------------------------------


def test_database_refuses_to_change_or_duplicate_identities(engine: Engine) -> None:
    identities_map = IdentityMap(engine=engine)
    erid = identities_map.erid_for("alice")
    other = identities_map.erid_for("bob")
    before = _rows(engine)

    insert = (
        "INSERT INTO sso_bridge_identities (user_key, erid, created_at, origin) "
        "VALUES (:key, :erid, CURRENT_TIMESTAMP, 'import')"
    )
    statements: list[tuple[str, dict[str, Any]]] = [
        ("UPDATE sso_bridge_identities SET erid = :new WHERE user_key = 'alice'", {"new": _erid()}),
        ("UPDATE sso_bridge_identities SET erid = :new WHERE user_key = 'alice'", {"new": other}),
        (
            "UPDATE sso_bridge_identities SET erid = :new WHERE user_key = 'alice'",
            {"new": erid.lower()},
        ),
        ("UPDATE sso_bridge_identities SET user_key = 'mallory' WHERE user_key = 'alice'", {}),
        ("UPDATE sso_bridge_identities SET user_key = 'Alice' WHERE user_key = 'alice'", {}),
        ("DELETE FROM sso_bridge_identities WHERE user_key = 'alice'", {}),
        ("DELETE FROM sso_bridge_identities", {}),
        (insert, {"key": "mallory", "erid": erid}),
        (insert, {"key": "mallory", "erid": erid.lower()}),  # a case-twin of an ERID
        (insert, {"key": "alice", "erid": _erid()}),
    ]
    for statement, params in statements:
        with pytest.raises(DBAPIError) as caught, engine.begin() as connection:
            connection.execute(text(statement), params)
        if statement.startswith(("UPDATE", "DELETE")):
            assert "immutable" in str(caught.value.orig), (statement, caught.value.orig)
        else:
            assert isinstance(caught.value, IntegrityError), statement
        assert _rows(engine) == before, statement

    # The provisioning timestamp is the one column that may be set.
    assert not identities_map.is_provisioned(other)
    identities_map.mark_provisioned(other)
    assert identities_map.is_provisioned(other)
    assert _rows(engine) == before


def _together(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(i)`` in ``count`` threads released at the same moment; re-raise any error."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = work(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def test_concurrent_first_use_creates_one_erid_per_user(bridge: str) -> None:
    keys = [f"user-{n}" for n in range(4)] + ["Twin", "twin"]

    def calls(index: int) -> list[tuple[str, str]]:
        # Own engine and own map: no in-process cache or pool shared with the other threads.
        engine = make_engine(bridge)
        try:
            identities_map = IdentityMap(engine=engine)
            order = keys[index % 6 :] + keys[: index % 6]
            return [(key, identities_map.erid_for(key)) for key in order * 3]
        finally:
            engine.dispose()

    results = [pair for thread in _together(8, calls) for pair in thread]
    assert len(results) == 8 * 18
    seen: dict[str, set[str]] = {}
    for key, erid in results:
        seen.setdefault(key, set()).add(erid)
    setup = make_engine(bridge)
    stored = _rows(setup)
    setup.dispose()
    assert len(stored) == len(keys)
    assert {key: {erid} for key, erid in stored.items()} == seen


# --- import -------------------------------------------------------------------------------------


def test_import_pairs_all_or_nothing(engine: Engine, directory: SqlUserDirectory) -> None:
    identities_map = IdentityMap(engine=engine)
    canonical = _canonical(directory)
    signed_in = identities_map.erid_for("6")
    e1, e2, e3 = _erid(), _erid(), _erid()

    def counts(report: ImportReport) -> tuple[int, int, int]:
        return report.added, report.already_present, report.refused

    assert counts(identities_map.import_pairs([("1", e1), ("2", e2)], canonical_key=canonical)) == (
        2,
        0,
        0,
    )
    assert counts(identities_map.import_pairs([("1", e1), ("2", e2)], canonical_key=canonical)) == (
        0,
        2,
        0,
    )
    again = identities_map.import_pairs([("6", signed_in), ("3", e3)], canonical_key=canonical)
    assert counts(again) == (1, 1, 0) and again.written
    expected = {"6": signed_in, "1": e1, "2": e2, "3": e3}
    assert _rows(engine) == expected
    assert IdentityMap(engine=engine).find_user_key(e3) == "3"

    e4 = _erid()
    refused = {
        "second ERID for a user": [("4", e4), ("1", _erid())],
        "second ERID for a signed-in user": [("4", e4), ("6", _erid())],
        "ERID of another user": [("4", e4), ("5", e1)],
        "ERID of a signed-in user": [("4", e4), ("5", signed_in)],
        "user twice in input": [("4", e4), ("4", _erid())],
        "ERID twice in input": [("4", e4), ("5", e4)],
        "pair twice in input": [("4", e4), ("4", e4)],
        "empty user key": [("4", e4), ("", _erid())],
        "empty ERID": [("4", e4), ("5", "")],
    }
    for name, pairs in refused.items():
        with pytest.raises(ImportRefused) as caught:
            identities_map.import_pairs(pairs, canonical_key=canonical)
        assert isinstance(caught.value, IdentityConflict)
        assert caught.value.report.refused >= 1 and not caught.value.report.written, name
        assert _rows(engine) == expected, name
    assert identities_map.find_erid("4") is None
    assert counts(identities_map.import_pairs([], canonical_key=canonical)) == (0, 0, 0)


def test_import_canonicalises_keys_and_refuses_every_bad_pair_at_once(
    engine: Engine, directory: SqlUserDirectory
) -> None:
    # Issue 8, finding 2: each of these was accepted.
    identities_map = IdentityMap(engine=engine)
    canonical = _canonical(directory)
    held = identities_map.erid_for("5")  # user 5 signed in: an upper-case UUID
    seven = identities_map.erid_for("7")  # so did user 7
    e2, e3 = _erid(), _erid()
    before = _rows(engine)
    pairs = [
        ("2", e2),  # fine on its own
        ("007", _erid()),  # user 7 under another spelling: a second ERID for him
        ("9999999", _erid()),  # no such user
        ("demo@example.com", _erid()),  # an email, not a key
        ("3", held.lower()),  # the ERID of user 5 but for its case
        ("4", "ABC\u200bDEF"),  # zero-width space
        ("1", " " + e3),  # leading whitespace
        ("6", "ERID-WITH SPACE"),
        ("6", "erid\x07bell"),  # a control character
        ("1", "x" * 65),  # longer than the column
    ]
    with pytest.raises(ImportRefused) as caught:
        identities_map.import_pairs(pairs, canonical_key=canonical)
    report = caught.value.report
    assert _rows(engine) == before  # nothing written, not even user 2
    assert [item.outcome for item in report.items] == ["add"] + ["refused"] * 9
    reasons = {item.position: item.reason for item in report.items}
    assert f"user 7 already has ERID {seven!r}" in reasons[2]
    assert "no user has this key" in reasons[3] and "no user has this key" in reasons[4]
    assert "an email is not a user key" in reasons[4]
    assert "ignoring case" in reasons[5] and held in reasons[5]
    assert "ZERO WIDTH SPACE" in reasons[6]
    assert "leading or trailing whitespace" in reasons[7]
    assert "SPACE" in reasons[8]
    assert "U+0007" in reasons[9]
    assert "64" in reasons[10]
    # Every problem is named in the exception's message, too.
    message = str(caught.value)
    for position in range(2, 11):
        assert reasons[position] in message

    # 0004 is user 4: the canonical key is stored, and the same user under another spelling
    # is "already present" or refused, never a second ERID.
    e4 = _erid()
    done = identities_map.import_pairs([("0004", e4)], canonical_key=canonical)
    assert (done.added, done.items[0].user_key) == (1, "4")
    assert _rows(engine) == {**before, "4": e4}
    assert identities_map.find_erid("4") == e4
    assert identities_map.import_pairs([("4", e4)], canonical_key=canonical).already_present == 1
    with pytest.raises(ImportRefused) as caught:
        identities_map.import_pairs([("04", _erid())], canonical_key=canonical)
    assert f"user 4 already has ERID {e4!r}" in caught.value.report.items[0].reason

    # Case-twins within the file, and keys that are one user within the file.
    with pytest.raises(ImportRefused) as caught:
        identities_map.import_pairs(
            [("1", e3), ("2", e3.lower()), ("3", e2), ("03", _erid())], canonical_key=canonical
        )
    outcomes = [(item.outcome, item.reason) for item in caught.value.report.items]
    assert outcomes[0][0] == "add" and outcomes[2][0] == "add"
    assert outcomes[1][0] == "refused" and "ignoring case" in outcomes[1][1]
    assert outcomes[3][0] == "refused" and "user 3 appears twice" in outcomes[3][1]
    assert _rows(engine) == {**before, "4": e4}


def test_import_dry_run_reports_and_writes_nothing(
    engine: Engine, directory: SqlUserDirectory
) -> None:
    identities_map = IdentityMap(engine=engine)
    canonical = _canonical(directory)
    present = identities_map.erid_for("1")
    e2 = _erid()
    before = _rows(engine)

    clean = identities_map.import_pairs(
        [("1", present), ("02", e2)], canonical_key=canonical, dry_run=True
    )
    assert [(i.outcome, i.user_key) for i in clean.items] == [("present", "1"), ("add", "2")]
    assert not clean.written and _rows(engine) == before

    mixed = identities_map.import_pairs(
        [("1", present), ("02", e2), ("9999999", _erid())], canonical_key=canonical, dry_run=True
    )
    assert (mixed.added, mixed.already_present, mixed.refused) == (1, 1, 1)
    assert not mixed.written and _rows(engine) == before

    real = identities_map.import_pairs([("02", e2)], canonical_key=canonical)
    assert real.written and _rows(engine) == {**before, "2": e2}
