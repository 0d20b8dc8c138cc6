"""SQLAlchemy engines for the bridge's own store and for the merchant's user database."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.pool import StaticPool

_P = ParamSpec("_P")
_R = TypeVar("_R")


class DatabaseUnavailable(Exception):
    """The bridge's own database failed or could not be reached (an infrastructure error,
    translated at the adapter's edge: nothing above the identity map or the registration
    ledger sees a SQLAlchemy exception). The message is the driver error's type only."""


def database_edge(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Translate SQLAlchemy's connection and operational errors into DatabaseUnavailable."""

    @functools.wraps(method)
    def translated(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            raise DatabaseUnavailable(type(exc).__name__) from exc

    return translated

# Plain URLs work as written: SQLAlchemy would otherwise pick drivers we do not ship (psycopg2,
# mysqlclient). The drivers we depend on are psycopg 3 and PyMySQL.
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}


def normalise_url(url: str) -> URL:
    parsed = make_url(url)
    driver = _DEFAULT_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def make_engine(url: str, *, pool_size: int = 5, timeout: float = 2.0) -> Engine:
    """An engine with a connection pool (never a connection per request) and bounded waits."""
    parsed = normalise_url(url)
    # hide_parameters: SQL errors must never carry bound values (hashes, emails) into logs.
    # pool_pre_ping: a pooled connection the server dropped (restart, failover, idle reaper) is
    # found dead at checkout and replaced, instead of failing one request each as a 503. It
    # costs one round trip per checkout, far below a query and a password hash.
    kwargs: dict[str, Any] = {"pool_recycle": 1800, "hide_parameters": True, "pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": timeout}
        if parsed.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool  # one shared in-memory database per engine
    else:
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = pool_size
        kwargs["pool_timeout"] = timeout
        if parsed.get_backend_name() == "postgresql":
            # A statement that runs past 5 s is cancelled: no request waits on a stuck query.
            kwargs["connect_args"] = {
                "connect_timeout": max(1, int(timeout)),
                "options": "-c statement_timeout=5000",
            }
        else:
            kwargs["connect_args"] = {
                "connect_timeout": max(1, int(timeout)),
                "read_timeout": max(1, int(timeout * 2)),
            }
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers and one writer work at once; busy_timeout makes concurrent writers wait
    # instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
