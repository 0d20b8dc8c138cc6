"""IdentityMap: merchant user key <-> externalReferenceId (ERID), one-to-one and forever.

The database enforces the invariant (primary key on user_key, unique ERID, unique lower(ERID),
binary comparison, immutability triggers: `identity_guarantees`); this module never
checks-then-inserts. An ERID is created on first use with an INSERT that cannot touch a stored
row (``ON CONFLICT DO NOTHING``; a plain INSERT on MySQL) followed by a read, so concurrent first
sign-ins of one user in any number of processes all read back the single row that won. ERIDs
are random UUIDs, never derived from mutable data such as an email address.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Insert, func, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from sso_bridge.db import database_edge
from sso_bridge.identity_import import ImportItem, ImportReport, check_input
from sso_bridge.schema import identities

__all__ = [
    "IdentityConflict",
    "IdentityMap",
    "ImportItem",
    "ImportRefused",
    "ImportReport",
    "new_erid",
]


def new_erid() -> str:
    return str(uuid.uuid4()).upper()


def _now() -> datetime:
    return datetime.now(UTC)


def _insert_identity(engine: Engine, values: dict[str, Any]) -> Insert:
    """``INSERT`` of a new identity that never modifies a stored one.

    PostgreSQL and SQLite skip a row whose user key exists (``ON CONFLICT DO NOTHING``); MySQL's
    only equivalents rewrite the stored row (``ON DUPLICATE KEY UPDATE``) or hide unrelated
    errors (``INSERT IGNORE``), so there it is a plain INSERT whose duplicate-key error the
    caller treats like the skip. Any other conflict (the ERID) raises everywhere.
    """
    dialect = engine.dialect.name
    if dialect == "postgresql":
        return (
            postgresql.insert(identities)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["user_key"])
        )
    if dialect == "sqlite":
        return (
            sqlite.insert(identities)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["user_key"])
        )
    if dialect in ("mysql", "mariadb"):
        return identities.insert().values(**values)
    raise NotImplementedError(f"identity map does not support {dialect}")


def _insert_ignoring_conflict(
    engine: Engine, table: Any, values: dict[str, Any], conflict_column: str
) -> Insert:
    """``INSERT`` that does nothing when ``conflict_column`` already holds the value."""
    dialect = engine.dialect.name
    if dialect == "postgresql":
        return (
            postgresql.insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[conflict_column])
        )
    if dialect == "sqlite":
        return (
            sqlite.insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[conflict_column])
        )
    if dialect in ("mysql", "mariadb"):
        statement = mysql.insert(table).values(**values)
        return statement.on_duplicate_key_update(
            {conflict_column: statement.inserted[conflict_column]}
        )
    raise NotImplementedError(f"identity map does not support {dialect}")


class IdentityConflict(Exception):
    """An import would give a user a second ERID or an ERID a second user."""


class ImportRefused(IdentityConflict):
    """An import with at least one bad pair; ``report`` says what was wrong with each."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        problems = [item for item in report.items if item.outcome == "refused"]
        super().__init__(
            f"{len(problems)} of {len(report.items)} pair(s) refused: "
            + "; ".join(f"pair {item.position}: {item.reason}" for item in problems)
        )


class IdentityMap:
    # ERIDs never change, so a mapping once read is cached in-process for good (bounded size):
    # the token hot path resolves users without a database round trip.
    _CACHE_LIMIT = 100_000

    def __init__(self, *, engine: Engine) -> None:
        self._engine = engine
        self._by_key: dict[str, str] = {}
        self._by_erid: dict[str, str] = {}
        self._cache_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        return self._engine

    def _remember(self, user_key: str, erid: str) -> None:
        with self._cache_lock:
            if len(self._by_key) >= self._CACHE_LIMIT:
                self._by_key.clear()
                self._by_erid.clear()
            self._by_key[user_key] = erid
            self._by_erid[erid] = user_key

    def erid_for(self, user_key: str, *, origin: str = "sign-in", erid: str | None = None) -> str:
        """The user's ERID, created atomically on first use (``erid`` proposes the value)."""
        cached = self._by_key.get(user_key)
        if cached is not None:
            return cached
        return self._create_or_read(user_key, origin, erid)

    @database_edge
    def _create_or_read(self, user_key: str, origin: str, erid: str | None) -> str:
        by_key = select(identities.c.erid).where(identities.c.user_key == user_key)
        for _attempt in range(3):
            values = {
                "user_key": user_key,
                "erid": erid or new_erid(),
                "created_at": _now(),
                "origin": origin,
            }
            try:
                with self._engine.begin() as connection:
                    connection.execute(_insert_identity(self._engine, values))
                    found = connection.execute(by_key).scalar()
            except IntegrityError:
                # The key is taken (MySQL has no "do nothing" that cannot touch the stored row,
                # so its plain INSERT lands here), or the proposed ERID is, in some letter case.
                # A transaction of its own sees the row that won, whoever committed it; if there
                # is none, the ERID was the conflict and a fresh one is tried.
                with self._engine.connect() as connection:
                    found = connection.execute(by_key).scalar()
            if found is not None:
                self._remember(user_key, found)
                return str(found)
            erid = None
        raise IdentityConflict("could not allocate a unique ERID")

    def find_erid(self, user_key: str) -> str | None:
        cached = self._by_key.get(user_key)
        if cached is not None:
            return cached
        return self._read_erid(user_key)

    @database_edge
    def _read_erid(self, user_key: str) -> str | None:
        with self._engine.connect() as connection:
            erid = connection.execute(
                select(identities.c.erid).where(identities.c.user_key == user_key)
            ).scalar()
        if erid is not None:
            self._remember(user_key, erid)
        return erid

    def find_user_key(self, erid: str) -> str | None:
        cached = self._by_erid.get(erid)
        if cached is not None:
            return cached
        return self._read_user_key(erid)

    @database_edge
    def _read_user_key(self, erid: str) -> str | None:
        with self._engine.connect() as connection:
            user_key = connection.execute(
                select(identities.c.user_key).where(identities.c.erid == erid)
            ).scalar()
        if user_key is not None:
            self._remember(user_key, erid)
        return user_key

    @database_edge
    def import_pairs(
        self,
        pairs: Iterable[tuple[str, str]],
        *,
        canonical_key: Callable[[str], str | None],
        dry_run: bool = False,
    ) -> ImportReport:
        """Import existing (user_key, ERID) pairs, all or nothing (rules: `identity_import`).

        ``canonical_key`` maps a key to the key the user directory has for it (None: no such
        user); the canonical key is what is stored. A pair already present is fine. If any pair
        is refused, `ImportRefused` lists every problem and nothing is written; ``dry_run``
        returns the same report, refusals included, and never writes.
        """
        checked = check_input(pairs, canonical_key)
        try:
            with self._engine.begin() as connection:
                items = [self._against_database(connection, item) for item in checked]
                refused = any(item.outcome == "refused" for item in items)
                if refused or dry_run:
                    connection.rollback()
                    report = ImportReport(items=tuple(items), written=False)
                    if refused and not dry_run:
                        raise ImportRefused(report)
                    return report
        except IntegrityError as exc:
            # A concurrent sign-in created one side between our check and our INSERT: the
            # constraints refused it and the whole import rolled back.
            raise IdentityConflict(
                "a pair conflicts with an identity created meanwhile; nothing written, run the "
                "import again"
            ) from exc
        return ImportReport(items=tuple(items), written=True)

    @staticmethod
    def _against_database(connection: Connection, item: ImportItem) -> ImportItem:
        """Classify (and, when new, insert) one checked pair inside the import's transaction."""
        if item.outcome == "refused" or item.user_key is None:
            return item
        existing = connection.execute(
            select(identities.c.user_key, identities.c.erid).where(
                (identities.c.user_key == item.user_key)
                | (func.lower(identities.c.erid) == func.lower(item.erid))
            )
        ).all()
        if any(row.user_key == item.user_key and row.erid == item.erid for row in existing):
            return replace(item, outcome="present")
        for row in existing:
            if row.user_key == item.user_key:
                return item.refuse(f"user {item.user_key} already has ERID {row.erid!r}")
        for row in existing:
            return item.refuse(
                f"ERID {item.erid!r} collides with ERID {row.erid!r} of user {row.user_key} "
                + ("(identical)" if row.erid == item.erid else "(ignoring case)")
            )
        # A plain INSERT: the constraints refuse anything created meanwhile, rolling back all.
        connection.execute(
            identities.insert().values(
                user_key=item.user_key, erid=item.erid, created_at=_now(), origin="import"
            )
        )
        return item

    # --- shopper provisioning (the token flow) ---------------------------------------------

    @database_edge
    def is_provisioned(self, erid: str) -> bool:
        with self._engine.connect() as connection:
            return (
                connection.execute(
                    select(identities.c.shopper_provisioned_at).where(identities.c.erid == erid)
                ).scalar()
                is not None
            )

    @database_edge
    def mark_provisioned(self, erid: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                identities.update()
                .where(identities.c.erid == erid, identities.c.shopper_provisioned_at.is_(None))
                .values(shopper_provisioned_at=_now())
            )

    @database_edge
    def ping(self) -> None:
        with self._engine.connect() as connection:
            connection.execute(select(1))
