"""Fixtures: real PostgreSQL and Redis of the machine (fail loudly when absent), SQLite for speed.

Every test gets its own PostgreSQL databases (created and dropped here) and its own Redis key
prefix in a dedicated DB number, so runs never collide and nothing is left behind.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from sso_bridge import create_app
from sso_bridge.db import make_engine
from sso_bridge.schema import upgrade
from tests.helpers import bridge_config, leaked_secrets, seed_users


class _EveryLogLine(logging.Handler):
    """Keeps every log line of the run, formatted as production formats it (extras included)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        from sso_bridge.logs import JsonFormatter

        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a broken record must not break the test that logged it
            self.lines.append(record.getMessage())


_LOG_CAPTURE = _EveryLogLine()


def pytest_sessionstart(session: pytest.Session) -> None:
    root = logging.getLogger()
    root.addHandler(_LOG_CAPTURE)
    root.setLevel(logging.DEBUG)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A log capture over the whole suite must hold no test password, secret or token."""
    leaks = {secret for line in _LOG_CAPTURE.lines for secret in leaked_secrets(line)}
    if leaks:
        lines = [line for line in _LOG_CAPTURE.lines if leaked_secrets(line)][:5]
        print(f"\nSECRETS IN LOGS ({len(leaks)}): first lines:\n" + "\n".join(lines))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        print(f"\nlog check: {len(_LOG_CAPTURE.lines)} log lines, no secret in any")


POSTGRES_ADMIN_URL = os.environ.get(
    "SSO_BRIDGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SSO_BRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Any]:
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({exc!r}). The "
            "functional tests need it: start it (pg_ctlcluster <version> main start) or "
            "point SSO_BRIDGE_TEST_POSTGRES_URL at one.",
            pytrace=False,
        )
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_database(postgres_admin: Any) -> Iterator[Any]:
    """A factory of fresh, empty PostgreSQL databases, dropped after the test."""
    created: list[str] = []

    def make() -> str:
        name = f"ssob_test_{uuid.uuid4().hex[:12]}"
        with postgres_admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    yield make
    with postgres_admin.connect() as connection:
        for name in created:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_server() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({exc!r}). The functional tests "
            "need it: start redis-server on 127.0.0.1:6379 or point "
            "SSO_BRIDGE_TEST_REDIS_URL at one.",
            pytrace=False,
        )
    return client


@pytest.fixture
def redis_prefix(redis_server: redis.Redis) -> Iterator[str]:
    prefix = f"ssob-test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    keys = list(redis_server.scan_iter(match=prefix + "*", count=1000))
    if keys:
        redis_server.delete(*keys)


@pytest.fixture
def sqlite_config(tmp_path: Any) -> dict[str, Any]:
    """A fast, self-contained configuration: SQLite merchant DB, SQLite identity map, no Redis."""
    merchant = f"sqlite:///{tmp_path / 'merchant.sqlite3'}"
    bridge = f"sqlite:///{tmp_path / 'bridge.sqlite3'}"
    seed_users(make_engine(merchant))
    upgrade(make_engine(bridge))
    return bridge_config(merchant_url=merchant, bridge_url=bridge)


@pytest.fixture
def real_config(postgres_database: Any, redis_prefix: str) -> dict[str, Any]:
    """The production shape: PostgreSQL merchant DB and identity map, real Redis."""
    merchant, bridge = postgres_database(), postgres_database()
    seed_users(make_engine(merchant))
    upgrade(make_engine(bridge))
    return bridge_config(
        merchant_url=merchant, bridge_url=bridge, redis_url=REDIS_URL, redis_prefix=redis_prefix
    )


@pytest.fixture
def app(real_config: dict[str, Any]) -> Flask:
    return create_app(real_config)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # Fixtures read the outcome of their test (the browser test saves a screenshot on failure).
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
