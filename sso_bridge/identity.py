"""IdentityMap: merchant user key <-> externalReferenceId (ERID), one-to-one and forever.

The database enforces the invariant (primary key on user_key, unique ERID, immutability
triggers); this module never checks-then-inserts. An ERID is created on first use with an
``INSERT ... ON CONFLICT DO NOTHING`` followed by a read, so concurrent first sign-ins of one user
in any number of processes all read back the single row that won. ERIDs are random UUIDs,
never derived from mutable data such as an email address.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Insert, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from sso_bridge.schema import identities


def new_erid() -> str:
    return str(uuid.uuid4()).upper()


def _now() -> datetime:
    return datetime.now(UTC)


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


@dataclass(frozen=True)
class ImportReport:
    added: int
    already_present: int


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
        for _attempt in range(3):
            values = {
                "user_key": user_key,
                "erid": erid or new_erid(),
                "created_at": _now(),
                "origin": origin,
            }
            try:
                with self._engine.begin() as connection:
                    connection.execute(
                        _insert_ignoring_conflict(self._engine, identities, values, "user_key")
                    )
                    found = connection.execute(
                        select(identities.c.erid).where(identities.c.user_key == user_key)
                    ).scalar_one()
            except IntegrityError:
                # Only a collision on the ERID itself lands here (the user_key conflict is
                # ignored): a proposed ERID already taken. Retry with a fresh random one.
                erid = None
                continue
            self._remember(user_key, found)
            return str(found)
        raise IdentityConflict("could not allocate a unique ERID")

    def find_erid(self, user_key: str) -> str | None:
        cached = self._by_key.get(user_key)
        if cached is not None:
            return cached
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
        with self._engine.connect() as connection:
            user_key = connection.execute(
                select(identities.c.user_key).where(identities.c.erid == erid)
            ).scalar()
        if user_key is not None:
            self._remember(user_key, erid)
        return user_key

    def import_pairs(self, pairs: Iterable[tuple[str, str]]) -> ImportReport:
        """Import existing (user_key, ERID) pairs, all or nothing.

        A pair already present is fine; any pair that would give a user a second ERID, an ERID a
        second user, or repeats a key/ERID within the input is refused and nothing is written.
        """
        wanted = list(pairs)
        problems: list[str] = []
        keys: dict[str, str] = {}
        erids: dict[str, str] = {}
        for user_key, erid in wanted:
            if not user_key or not erid:
                problems.append(f"empty user key or ERID in pair ({user_key!r}, {erid!r})")
            if user_key in keys:
                problems.append(
                    f"user {user_key!r} appears with two ERIDs in the input"
                    if keys[user_key] != erid
                    else f"pair ({user_key!r}, {erid!r}) appears twice in the input"
                )
            if erid in erids and erids[erid] != user_key:
                problems.append(f"ERID {erid!r} appears for two users in the input")
            keys.setdefault(user_key, erid)
            erids.setdefault(erid, user_key)
        if problems:
            raise IdentityConflict("; ".join(problems))
        added = present = 0
        try:
            with self._engine.begin() as connection:
                for user_key, erid in wanted:
                    existing = connection.execute(
                        select(identities.c.user_key, identities.c.erid).where(
                            (identities.c.user_key == user_key) | (identities.c.erid == erid)
                        )
                    ).all()
                    if any(row.user_key == user_key and row.erid == erid for row in existing):
                        present += 1
                        continue
                    for row in existing:
                        problems.append(
                            f"({user_key!r}, {erid!r}) conflicts with existing "
                            f"({row.user_key!r}, {row.erid!r})"
                        )
                    if existing:
                        continue
                    # A plain INSERT: if a concurrent sign-in created either side meanwhile, the
                    # unique constraints reject it and the whole import rolls back.
                    connection.execute(
                        identities.insert().values(
                            user_key=user_key, erid=erid, created_at=_now(), origin="import"
                        )
                    )
                    added += 1
                if problems:
                    raise IdentityConflict("; ".join(problems))
        except IntegrityError as exc:
            raise IdentityConflict("a pair conflicts with an identity created meanwhile") from exc
        return ImportReport(added=added, already_present=present)

    # --- shopper provisioning (the token flow) ---------------------------------------------

    def is_provisioned(self, erid: str) -> bool:
        with self._engine.connect() as connection:
            return (
                connection.execute(
                    select(identities.c.shopper_provisioned_at).where(identities.c.erid == erid)
                ).scalar()
                is not None
            )

    def mark_provisioned(self, erid: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                identities.update()
                .where(identities.c.erid == erid, identities.c.shopper_provisioned_at.is_(None))
                .values(shopper_provisioned_at=_now())
            )

    def ping(self) -> None:
        with self._engine.connect() as connection:
            connection.execute(select(1))
