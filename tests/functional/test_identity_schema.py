"""The identity guarantees as installed by `db upgrade` and checked at start-up, on every backend.

An install made by the previous release (schema version 1) is upgraded in place: rows kept,
columns made binary, triggers added where they were missing (MySQL/MariaDB). A database that
cannot give the guarantees is refused with one message: an unknown dialect, a MariaDB user
without the TRIGGER privilege, a schema whose triggers were lost.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, select, text
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.exc import DBAPIError

from sso_bridge.db import make_engine
from sso_bridge.identity import IdentityMap
from sso_bridge.schema import (
    HEAD,
    STEPS,
    SchemaOutOfDate,
    SchemaProblem,
    UnsupportedDatabase,
    current_version,
    identities,
    require_current,
    schema_version,
    upgrade,
)
from tests.functional.conftest import BACKENDS, MARIADB_URL, fresh_bridge_url


def _erid() -> str:
    return str(uuid.uuid4()).upper()


def _at_version_1(url: str) -> Engine:
    """The bridge's database as the previous release left it."""
    engine = make_engine(url)
    with engine.begin() as connection:
        schema_version.create(connection)
        connection.execute(schema_version.insert().values(version=1))
        STEPS[0](connection)
    return engine


def _insert(engine: Engine, rows: dict[str, str]) -> None:
    with engine.begin() as connection:
        for key, erid in rows.items():
            connection.execute(
                identities.insert().values(
                    user_key=key, erid=erid, created_at=datetime.now(UTC), origin="sign-in"
                )
            )


def _rows(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        return dict(connection.execute(select(identities.c.user_key, identities.c.erid)).all())


@pytest.fixture(params=BACKENDS)
def old_install(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = _at_version_1(fresh_bridge_url(request.param, request, tmp_path))
    yield engine
    engine.dispose()


def test_upgrade_keeps_every_row_and_installs_the_guarantees(old_install: Engine) -> None:
    engine = old_install
    stored = {"Bob": _erid(), "alice": _erid(), "7": _erid()}
    _insert(engine, stored)
    with pytest.raises(SchemaOutOfDate):
        require_current(engine)

    assert upgrade(engine) == (1, HEAD)
    require_current(engine)  # current, safeguards in place
    assert _rows(engine) == stored

    # What the previous release got wrong on MariaDB now holds: new users that differ from a
    # stored one only by case, accent or a trailing space are new users.
    identities_map = IdentityMap(engine=engine)
    new = {key: identities_map.erid_for(key) for key in ("bob", "Bob ", "Böb")}
    assert len(set(new.values()) | set(stored.values())) == 6
    assert identities_map.erid_for("Bob") == stored["Bob"]
    with pytest.raises(DBAPIError) as caught, engine.begin() as connection:
        connection.execute(text("UPDATE sso_bridge_identities SET erid = 'X' WHERE user_key = '7'"))
    assert "immutable" in str(caught.value.orig)
    assert upgrade(engine) == (HEAD, HEAD)  # idempotent
    assert _rows(engine) == {**stored, **new}


def test_a_lost_trigger_stops_start_up(old_install: Engine) -> None:
    engine = old_install
    upgrade(engine)
    trigger = {
        "postgresql": "sso_bridge_identities_immutable ON sso_bridge_identities",
    }.get(engine.dialect.name, "sso_bridge_identities_no_delete")
    with engine.begin() as connection:
        connection.execute(text(f"DROP TRIGGER {trigger}"))

    with pytest.raises(UnsupportedDatabase) as caught:
        require_current(engine)
    assert "safeguards are missing" in str(caught.value)
    assert "DELETE trigger" in str(caught.value)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_upgrade_refuses_erids_that_differ_only_by_case(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Only possible before this step (imports took them): DR would see one shopper.
    engine = _at_version_1(fresh_bridge_url(kind, request, tmp_path))
    erid = _erid()
    _insert(engine, {"1": erid, "2": erid.lower(), "3": _erid()})

    with pytest.raises(SchemaProblem) as caught:
        upgrade(engine)
    message = str(caught.value)
    assert "differ only by letter case" in message
    assert f"user '1' has '{erid}'" in message and f"user '2' has '{erid.lower()}'" in message
    assert current_version(engine) == 1
    engine.dispose()


class _UnknownDialect(SQLiteDialect_pysqlite):
    """A working database under a dialect name the identity map has never been checked on."""

    name = "ssobunknown"
    supports_statement_cache = True


registry.register("ssobunknown", __name__, "_UnknownDialect")


def test_an_unknown_database_is_refused_by_upgrade_and_start_up(tmp_path: Path) -> None:
    engine = create_engine(f"ssobunknown:///{tmp_path / 'other.db'}")
    for action in (upgrade, require_current):
        with pytest.raises(UnsupportedDatabase) as caught:
            action(engine)
        assert "ssobunknown, which the identity map does not support" in str(caught.value)
    assert inspect(engine).get_table_names() == []  # refused before anything was written
    engine.dispose()


@pytest.fixture
def mariadb_user_without_trigger(
    mariadb_database: Callable[[], str], mariadb_admin: Engine
) -> Iterator[str]:
    """A MariaDB account with every privilege on a fresh database except TRIGGER."""
    url = mariadb_database()
    database = url.rsplit("/", 1)[1]
    user = f"ssob_{uuid.uuid4().hex[:10]}"
    with mariadb_admin.connect() as connection:
        connection.execute(text(f"CREATE USER '{user}'@'%'"))
        connection.execute(
            text(
                "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX "
                f"ON `{database}`.* TO '{user}'@'%'"
            )
        )
    try:
        yield MARIADB_URL.replace("root@", f"{user}@").rsplit("/", 1)[0] + f"/{database}"
    finally:
        with mariadb_admin.connect() as connection:
            connection.execute(text(f"DROP USER IF EXISTS '{user}'@'%'"))


def test_mariadb_without_the_trigger_privilege_is_refused(
    mariadb_user_without_trigger: str,
) -> None:
    engine = make_engine(mariadb_user_without_trigger)
    with pytest.raises(UnsupportedDatabase) as caught:
        upgrade(engine)
    message = str(caught.value)
    assert "refused to create the identity map's triggers" in message
    assert "TRIGGER privilege" in message and "sso-bridge db upgrade" in message
    # The step did not complete: the schema stays out of date and start-up refuses it.
    assert current_version(engine) == 1
    with pytest.raises(SchemaOutOfDate):
        require_current(engine)
    engine.dispose()

    # The command says the same in one message, without a traceback.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSO_BRIDGE_")}
    env["SSO_BRIDGE_DATABASE_URL"] = mariadb_user_without_trigger
    done = subprocess.run(
        [str(Path(sys.prefix) / "bin" / "sso-bridge"), "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout
    assert "upgrade stopped" in done.stderr and "TRIGGER privilege" in done.stderr
    assert "Traceback" not in done.stderr
