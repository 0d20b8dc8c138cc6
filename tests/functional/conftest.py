"""Fixtures for the functional tests: MariaDB databases of the bridge's own, any backend's URL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

MARIADB_URL = os.environ.get("SSO_BRIDGE_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")
#: The bridge's own database, on every backend that must give the identity guarantees.
BACKENDS = ["sqlite", "postgresql", "mariadb"]


@pytest.fixture(scope="session")
def mariadb_admin() -> Iterator[Engine]:
    engine = create_engine(
        MARIADB_URL.replace("mysql://", "mysql+pymysql://", 1), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as exc:
        pytest.fail(
            f"MariaDB is not reachable at {MARIADB_URL} ({exc!r}). These tests need it: start "
            "it with a passwordless root, or point SSO_BRIDGE_TEST_MARIADB_URL at one.",
            pytrace=False,
        )
    yield engine
    engine.dispose()


@pytest.fixture
def mariadb_database(mariadb_admin: Engine) -> Iterator[Callable[[], str]]:
    """A factory of fresh MariaDB databases (the bridge's table names are fixed), dropped after."""
    created: list[str] = []

    def make() -> str:
        name = f"ssob_test_{uuid.uuid4().hex[:12]}"
        with mariadb_admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE `{name}`"))
        created.append(name)
        return MARIADB_URL.rsplit("/", 1)[0] + f"/{name}"

    yield make
    with mariadb_admin.connect() as connection:
        for name in created:
            connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))


def _fresh_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / f'bridge-{uuid.uuid4().hex[:6]}.sqlite3'}"
    if kind == "postgresql":
        return str(request.getfixturevalue("postgres_database")())
    return str(request.getfixturevalue("mariadb_database")())


def fresh_bridge_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of ``kind`` (one of BACKENDS), dropped after the test."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / f'bridge-{uuid.uuid4().hex[:6]}.sqlite3'}"
    if kind == "postgresql":
        return str(request.getfixturevalue("postgres_database")())
    return str(request.getfixturevalue("mariadb_database")())
