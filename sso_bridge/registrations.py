"""RegistrationLedger: one email becomes at most one account with one ERID, whatever happens.

A registration (``CreateUserProfileRequest``) is one row per canonical email
(`sso_bridge.canonical`): the ERID the account will get, the user key once it exists, the claim
id of the process working on it (a random fencing token, replaced on every takeover) and the
time until which that process holds it (its lease, ``L`` seconds at a time).

Why at most one `UserDirectory.create_user` runs for an email at a time, across processes:

1. A claim is won by inserting the row (the primary key lets one insert win) or by taking over
   a row whose lease ran out, with a compare-and-set on the claim seen: ``UPDATE ... SET
   claim_id = <new>, lease_until = now + L WHERE email = e AND claim_id = <seen> AND user_key
   IS NULL AND lease_until < now``. Of several processes that saw the same stale claim, one
   wins; a claim whose lease runs is never touched. Release and completion are compare-and-set
   on the claim id too, so a former owner never deletes or completes its successor's claim
   (the old "delete any unclaimed row for this email" let every waiter that timed out delete
   a fresh claim and create an account of its own).
2. The owner works only while it holds the lease: a heartbeat thread renews it every L/3 while
   the create runs, so a slow create (a locked or slow merchant table) keeps its claim however
   long it takes. Only a dead or cut-off owner stops renewing.
3. The SQL directory renews the lease once more inside its insert transaction, just before
   COMMIT (``before_commit``); if the claim was lost, the insert rolls back. After a renewal at
   time t nobody takes the claim over before t + L, and a COMMIT takes far less than L, so an
   account is committed only while its creator holds the claim. An owner killed mid-insert
   never sends COMMIT: its insert rolls back. The HTTP directory can only renew before it
   posts; there L must exceed the login API's own bound on a create.
4. Whoever wins a claim, first or by takeover, looks in the directory before creating: an
   account a dead owner committed is found and adopted with the claim's ERID (a takeover keeps
   the ERID), never made a second time.

So creates of one email run one after another, each after a fresh look at the directory, and
the merchant table needs no unique index on email. Leases are compared on each process's own
clock: replicas' clocks must agree to well within L (NTP does). Nothing here holds a password.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Insert, Row, or_, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from sso_bridge.db import DatabaseUnavailable, database_edge
from sso_bridge.identity import IdentityMap, new_erid
from sso_bridge.schema import registrations

log = logging.getLogger(__name__)


class ClaimLost(Exception):
    """This process no longer holds the registration claim (another took it over)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if moment is None or moment.tzinfo:
        return moment
    return moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Claim:
    email: str  # canonical form
    erid: str
    claim_id: str
    user_key: str | None
    created_at: datetime
    lease_until: datetime | None

    def is_recent(self, window: timedelta) -> bool:
        return _now() - self.created_at <= window

    def is_stale(self, now: datetime) -> bool:
        return self.user_key is None and (self.lease_until is None or self.lease_until < now)


def _claim(row: Row[Any]) -> Claim:
    created = _aware(row.created_at)
    assert created is not None  # NOT NULL column
    return Claim(
        email=row.email,
        erid=row.erid,
        claim_id=row.claim_id or row.erid,
        user_key=row.user_key,
        created_at=created,
        lease_until=_aware(row.lease_until),
    )


def _insert_new(engine: Engine, values: dict[str, Any]) -> Insert:
    """``INSERT`` that leaves an existing row for the email alone (whoever inserted it wins)."""
    dialect = engine.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(registrations).values(values).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(registrations).values(values).on_conflict_do_nothing()
    if dialect in ("mysql", "mariadb"):
        statement = mysql.insert(registrations).values(values)
        # A no-op update: MySQL has no DO NOTHING; the winner is told by its claim id.
        return statement.on_duplicate_key_update(email=registrations.c.email)
    raise NotImplementedError(f"registrations do not support {dialect}")


class Lease:
    """The owner's hold on a claim while it creates the account: renewed in the background,
    and once more, synchronously, by `fence` right before the account is committed."""

    def __init__(self, ledger: RegistrationLedger, claim: Claim) -> None:
        self._ledger = ledger
        self._claim = claim
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._beat, name="registration-lease", daemon=True)

    def fence(self) -> None:
        """Renew now or raise ClaimLost: called inside the insert transaction, before COMMIT."""
        self._ledger.renew(self._claim)

    def _beat(self) -> None:
        while not self._stop.wait(self._ledger.lease / 3):
            try:
                self._ledger.renew(self._claim)
            except ClaimLost:
                current = self._ledger.find(self._claim.email)
                if current is not None and current.claim_id == self._claim.claim_id:
                    return  # completed under this very claim: nothing left to hold
                if not self._stop.is_set():  # released just now is no news either
                    self.lost = True
                    log.warning("registration claim taken over while its create was running")
                return
            except (DatabaseUnavailable, SQLAlchemyError) as exc:  # keep trying; the fence decides
                log.warning("registration lease not renewed: %s", type(exc).__name__)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


class RegistrationLedger:
    def __init__(self, *, engine: Engine, identities: IdentityMap, lease: float = 4.0) -> None:
        if lease <= 0:
            raise ValueError("lease must be positive")
        self._engine = engine
        self._identities = identities
        self.lease = lease

    def _lease_end(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.lease)

    def _mine(self, claim: Claim) -> Any:
        return (
            (registrations.c.email == claim.email)
            & (registrations.c.claim_id == claim.claim_id)
            & registrations.c.user_key.is_(None)
        )

    @database_edge
    def find(self, email: str) -> Claim | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(registrations).where(registrations.c.email == email)
            ).first()
        return None if row is None else _claim(row)

    @database_edge
    def claim(self, email: str) -> tuple[Claim, bool]:
        """Claim ``email`` (canonical) for a new account, or take over its stale claim.

        Returns (claim, ours). Not ours: someone holds a live lease, or the registration is
        complete (``user_key`` set).
        """
        now = _now()
        seen = self.find(email)
        if seen is not None:  # the common case for a waiter: read, write nothing
            if not seen.is_stale(now):
                return seen, False
            taken = self._take_over(seen)
            return (taken, True) if taken is not None else (seen, False)
        claim_id = str(uuid.uuid4())
        values = {
            "email": email,
            "erid": new_erid(),
            "user_key": None,
            "created_at": now,
            "claim_id": claim_id,
            "lease_until": self._lease_end(now),
        }
        with self._engine.begin() as connection:
            connection.execute(_insert_new(self._engine, values))
            row = connection.execute(
                select(registrations).where(registrations.c.email == email)
            ).one()
        found = _claim(row)
        if found.claim_id == claim_id:
            return found, True
        if found.is_stale(now):
            taken = self._take_over(found)
            if taken is not None:
                return taken, True
        return found, False

    @database_edge
    def _take_over(self, seen: Claim) -> Claim | None:
        now = _now()
        claim_id = str(uuid.uuid4())
        until = self._lease_end(now)
        with self._engine.begin() as connection:
            changed = connection.execute(
                registrations.update()
                .where(
                    self._mine(seen),
                    or_(registrations.c.lease_until.is_(None), registrations.c.lease_until < now),
                )
                .values(claim_id=claim_id, lease_until=until)
            ).rowcount
        if changed != 1:
            return None
        log.info("took over a stale registration claim")
        return replace(seen, claim_id=claim_id, lease_until=until)

    @database_edge
    def renew(self, claim: Claim) -> None:
        """Extend the lease of ``claim``; ClaimLost when it is no longer this claim."""
        with self._engine.begin() as connection:
            changed = connection.execute(
                registrations.update()
                .where(self._mine(claim))
                .values(lease_until=self._lease_end(_now()))
            ).rowcount
        if changed != 1:
            raise ClaimLost()

    def holding(self, claim: Claim) -> Lease:
        """``with ledger.holding(claim) as lease:`` keeps the lease while the body runs."""
        return Lease(self, claim)

    @database_edge
    def complete(self, claim: Claim, user_key: str) -> str:
        """Bind the claim's ERID to ``user_key``; returns the user's ERID.

        Compare-and-set on the claim: ClaimLost if another process took it over meanwhile
        (unless it already completed it with this same account).
        """
        with self._engine.begin() as connection:
            changed = connection.execute(
                registrations.update()
                .where(self._mine(claim))
                .values(user_key=user_key, lease_until=None)
            ).rowcount
        if changed != 1:
            current = self.find(claim.email)
            if current is None or current.user_key != user_key:
                raise ClaimLost()
        # The claimed ERID is proposed; if the user signed in between create and now, the ERID
        # minted then stays (erid_for never replaces one), and that is what every answer says.
        return self._identities.erid_for(user_key, origin="registration", erid=claim.erid)

    @database_edge
    def release(self, claim: Claim) -> None:
        """Undo a claim whose create was refused, so nothing is left behind (no-op if lost)."""
        with self._engine.begin() as connection:
            connection.execute(registrations.delete().where(self._mine(claim)))

    @database_edge
    def drop_completed(self, claim: Claim) -> None:
        """Forget a completed registration whose account is gone from the directory, so the
        email can be registered again (its old identity stays in the map)."""
        with self._engine.begin() as connection:
            connection.execute(
                registrations.delete().where(
                    registrations.c.email == claim.email,
                    registrations.c.claim_id == claim.claim_id,
                    registrations.c.user_key == claim.user_key,
                )
            )
