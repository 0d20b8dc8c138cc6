"""The IdentityMap contract on SQLite (embedded default) and PostgreSQL (production).

The database itself holds the invariants (one ERID per user, one user per ERID, immutable rows):
raw SQL that would break them must fail, not only our Python code paths.
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
from sso_bridge.identity import IdentityConflict, IdentityMap, ImportReport
from sso_bridge.schema import identities, upgrade

T = TypeVar("T")
ERID_SHAPE = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$")


@pytest.fixture(params=["sqlite", "postgresql"])
def bridge_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bridge.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_database")()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(bridge_url: str) -> Iterator[Engine]:
    engine = make_engine(bridge_url)
    yield engine
    engine.dispose()


def _rows(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        return dict(connection.execute(select(identities.c.user_key, identities.c.erid)).all())


def _erid() -> str:
    return str(uuid.uuid4()).upper()


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

    # A proposed ERID that another user already holds is not reused.
    taken = IdentityMap(engine=engine).erid_for("carol", erid=erids["alice@example.com"])
    assert taken != erids["alice@example.com"] and ERID_SHAPE.match(taken)
    proposed = _erid()
    assert IdentityMap(engine=engine).erid_for("dave", erid=proposed) == proposed


def test_database_refuses_to_change_or_duplicate_identities(engine: Engine) -> None:
    identities_map = IdentityMap(engine=engine)
    erid = identities_map.erid_for("alice")
    other = identities_map.erid_for("bob")
    before = _rows(engine)

    statements: list[tuple[str, dict[str, Any]]] = [
        ("UPDATE sso_bridge_identities SET erid = :new WHERE user_key = 'alice'", {"new": _erid()}),
        ("UPDATE sso_bridge_identities SET user_key = 'mallory' WHERE user_key = 'alice'", {}),
        ("DELETE FROM sso_bridge_identities WHERE user_key = 'alice'", {}),
        ("DELETE FROM sso_bridge_identities", {}),
        (
            "INSERT INTO sso_bridge_identities (user_key, erid, created_at, origin) "
            "VALUES ('mallory', :erid, CURRENT_TIMESTAMP, 'import')",
            {"erid": erid},
        ),
        (
            "INSERT INTO sso_bridge_identities (user_key, erid, created_at, origin) "
            "VALUES ('alice', :erid, CURRENT_TIMESTAMP, 'import')",
            {"erid": _erid()},
        ),
    ]
    for statement, params in statements:
        with pytest.raises(DBAPIError) as caught, engine.begin() as connection:
            connection.execute(text(statement), params)
        if statement.startswith(("UPDATE", "DELETE")):
            assert "immutable" in str(caught.value.orig), statement
        else:
            assert isinstance(caught.value, IntegrityError), statement
        assert _rows(engine) == before, statement

    # The provisioning timestamp is the one column that may be set.
    assert not identities_map.is_provisioned(other)
    identities_map.mark_provisioned(other)
    assert identities_map.is_provisioned(other)
    assert _rows(engine) == before


def test_import_pairs_all_or_nothing(engine: Engine) -> None:
    identities_map = IdentityMap(engine=engine)
    signed_in = identities_map.erid_for("signed-in")
    e1, e2, e3 = _erid(), _erid(), _erid()

    assert identities_map.import_pairs([("1", e1), ("2", e2)]) == ImportReport(2, 0)
    assert identities_map.import_pairs([("1", e1), ("2", e2)]) == ImportReport(0, 2)
    assert identities_map.import_pairs([("signed-in", signed_in), ("3", e3)]) == ImportReport(1, 1)
    expected = {"signed-in": signed_in, "1": e1, "2": e2, "3": e3}
    assert _rows(engine) == expected
    assert IdentityMap(engine=engine).find_user_key(e3) == "3"

    e4 = _erid()
    refused = {
        "second ERID for a user": [("4", e4), ("1", _erid())],
        "second ERID for a signed-in user": [("4", e4), ("signed-in", _erid())],
        "ERID of another user": [("4", e4), ("5", e1)],
        "ERID of a signed-in user": [("4", e4), ("5", signed_in)],
        "user twice in input": [("4", e4), ("4", _erid())],
        "ERID twice in input": [("4", e4), ("5", e4)],
        "pair twice in input": [("4", e4), ("4", e4)],
        "empty user key": [("4", e4), ("", _erid())],
        "empty ERID": [("4", e4), ("5", "")],
    }
    for name, pairs in refused.items():
        with pytest.raises(IdentityConflict):
            identities_map.import_pairs(pairs)
        assert _rows(engine) == expected, name
    assert identities_map.find_erid("4") is None
    assert identities_map.import_pairs([]) == ImportReport(0, 0)


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


def test_concurrent_first_use_creates_one_erid_per_user_on_postgresql(
    postgres_database: Any,
) -> None:
    url = postgres_database()
    setup = make_engine(url)
    upgrade(setup)
    keys = [f"user-{n}" for n in range(5)]

    def calls(index: int) -> list[tuple[str, str]]:
        # Own engine and own map: no in-process cache or pool shared with the other threads.
        engine = make_engine(url)
        try:
            identities_map = IdentityMap(engine=engine)
            order = keys[index % 5 :] + keys[: index % 5]
            return [
                (key, identities_map.erid_for(key)) for key in (order[n % 5] for n in range(25))
            ]
        finally:
            engine.dispose()

    results = [pair for thread in _together(8, calls) for pair in thread]
    assert len(results) == 8 * 25
    seen: dict[str, set[str]] = {}
    for key, erid in results:
        seen.setdefault(key, set()).add(erid)
    stored = _rows(setup)
    assert len(stored) == 5
    assert {key: {erid} for key, erid in stored.items()} == seen
    setup.dispose()
