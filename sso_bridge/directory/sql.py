"""SqlUserDirectory: the merchant's own user table, read and written in place via SQLAlchemy.

The table is described by the configured column mapping, not reflected: nothing is read from the
database's catalogue, and columns the mapping does not name are never touched (except the
configured create defaults when a user registers).
"""

from __future__ import annotations

import logging
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnClause,
    Engine,
    Integer,
    String,
    TableClause,
    column,
    func,
    inspect,
    literal,
    or_,
    select,
    table,
)
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from sso_bridge.canonical import canonical
from sso_bridge.directory.base import (
    AmbiguousLogin,
    DirectoryUnavailable,
    DirectoryUser,
    EmailTaken,
    NewUser,
    is_truthy,
)
from sso_bridge.directory.gate import VerificationGate
from sso_bridge.directory.passwords import PasswordHasher, typical_hash
from sso_bridge.settings import DirectorySettings

log = logging.getLogger(__name__)

_CALIBRATION_SAMPLE = 200


def _is_active(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool | int):
        return bool(value)
    return is_truthy(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _default_value(value: Any) -> Any:
    """Create defaults: ``"now"`` is the current time, ``"uuid"`` a fresh UUID."""
    if value == "now":
        return datetime.now(UTC).replace(tzinfo=None)
    if value == "uuid":
        return str(uuid.uuid4())
    return value


class SqlUserDirectory:
    def __init__(
        self,
        *,
        engine: Engine,
        mapping: DirectorySettings,
        hasher: PasswordHasher,
        gate: VerificationGate | None = None,
        upgrade_hashes: bool = False,
    ) -> None:
        self._gate = gate or VerificationGate(limit=4, wait=5.0)
        self._upgrade_hashes = upgrade_hashes
        self._engine = engine
        self._mapping = mapping
        self._hasher = hasher
        self._dummy_hash: str | None = None
        self._integer_key: bool | None = None
        self._calibration_lock = threading.Lock()
        names = {
            mapping.key_column,
            mapping.password_column,
            *mapping.login_columns,
            *(
                c
                for c in (
                    mapping.email_column,
                    mapping.first_name_column,
                    mapping.last_name_column,
                    mapping.active_column,
                    mapping.phone_column,
                    mapping.locale_column,
                )
                if c
            ),
        }
        self._columns: dict[str, ColumnClause[Any]] = {name: column(name) for name in names}
        self._table: TableClause = table(mapping.table, *self._columns.values())
        self._profile_query = select(*self._columns.values()).select_from(self._table)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def hasher(self) -> PasswordHasher:
        return self._hasher

    # --- reading --------------------------------------------------------------------------

    def _to_user(self, row: Mapping[str, Any], login: str | None = None) -> DirectoryUser:
        m = self._mapping

        def get(name: str | None) -> str | None:
            return _text(row[name]) if name else None

        return DirectoryUser(
            key=str(row[m.key_column]),
            login=login or get(m.login_columns[0]) or "",
            email=get(m.email_column),
            first_name=get(m.first_name_column),
            last_name=get(m.last_name_column),
            phone=get(m.phone_column),
            locale=get(m.locale_column),
            active=_is_active(row[m.active_column]) if m.active_column else True,
            password_hash=get(m.password_column),
        )

    def _rows(self, where: Any, limit: int) -> list[Mapping[str, Any]]:
        try:
            with self._engine.connect() as connection:
                result = connection.execute(self._profile_query.where(where).limit(limit))
                return [dict(row._mapping) for row in result]
        except (OperationalError, InterfaceError) as exc:
            raise DirectoryUnavailable(type(exc).__name__) from exc

    def _candidates(
        self, value: str, names: Sequence[str], *, wide: bool, limit: int = 10
    ) -> list[Mapping[str, Any]]:
        """Rows whose ``names`` columns may equal ``value`` case-insensitively, to be compared
        in canonical form in Python (the database's lower() and Python's disagree, e.g. on
        "İ"). Narrow, for sign-in (the hot path): ``lower(col)`` against the database's own
        lower() of the value and against its canonical form, one expression that an index on
        lower(col) serves. Wide, for registration: also upper() (Django's iexact) and plain
        equality, which MySQL decides in the column's case- and accent-insensitive collation."""
        if not names:
            return []
        raw = literal(value, String())
        tests: list[Any] = []
        for name in names:
            column_ = self._columns[name]
            tests += [
                func.lower(column_) == func.lower(raw),
                func.lower(column_) == canonical(value),
            ]
            if wide:
                tests += [func.upper(column_) == func.upper(raw), column_ == raw]
        return self._rows(or_(*tests), limit=limit)

    def find_by_login(self, login: str) -> DirectoryUser | None:
        wanted = login.strip()
        if not wanted:
            return None
        key = canonical(wanted)
        rows = self._candidates(wanted, self._mapping.login_columns, wide=False)
        # The first login column that matches decides. Several accounts matching in one column
        # (duplicates that differ by case or look-alike characters): the one whose login is
        # exactly what was typed signs in; without one, it is refused, never guessed.
        for name in self._mapping.login_columns:
            matches = {
                str(row[self._mapping.key_column]): row
                for row in rows
                if row[name] is not None and canonical(str(row[name])) == key
            }
            if len(matches) > 1:
                exact = [row for row in matches.values() if str(row[name]).strip() == wanted]
                if len(exact) != 1:
                    raise AmbiguousLogin(f"{len(matches)} accounts match in column {name}")
                return self._to_user(exact[0], login=wanted)
            if matches:
                return self._to_user(next(iter(matches.values())), login=wanted)
        return None

    def find_by_key(self, key: str) -> DirectoryUser | None:
        key_column = self._columns[self._mapping.key_column]
        value = self._key_param(key)
        if value is None:
            return None
        rows = self._rows(key_column == value, limit=1)
        return self._to_user(rows[0]) if rows else None

    def find_by_email(self, email: str) -> DirectoryUser | None:
        """The account that has ``email``, or one the database would match with it: any row a
        case-insensitive match of the database finds counts (a registration that could collide
        is refused); the exact, then the canonical match is preferred."""
        wanted = email.strip()
        if not wanted:
            return None
        # Without an email column, logins are the emails (and several matches are no error).
        names = (
            [self._mapping.email_column]
            if self._mapping.email_column
            else list(self._mapping.login_columns)
        )
        rows = self._candidates(wanted, names, wide=True)
        if not rows:
            return None
        key = canonical(wanted)

        def closeness(row: Mapping[str, Any]) -> tuple[bool, bool]:
            found = [str(row[name] or "").strip() for name in names]
            return (wanted not in found, key not in {canonical(value) for value in found})

        return self._to_user(min(rows, key=closeness))

    def _key_param(self, key: str) -> int | str | None:
        """Keys travel as strings; an integer key column must be compared with an integer
        (PostgreSQL refuses ``integer = varchar``). The column's type is read once."""
        if self._integer_key is None:
            try:
                columns = inspect(self._engine).get_columns(self._mapping.table)
            except (OperationalError, InterfaceError) as exc:
                raise DirectoryUnavailable(type(exc).__name__) from exc
            types = {c["name"]: c["type"] for c in columns}
            key_type = types.get(self._mapping.key_column)
            self._integer_key = isinstance(key_type, Integer)
        if not self._integer_key:
            return key
        return int(key) if key.isascii() and key.isdigit() and len(key) <= 18 else None

    # --- passwords --------------------------------------------------------------------------

    def _dummy(self) -> str:
        """A hash as costly as the table's typical one, for logins that match nobody."""
        if self._dummy_hash is not None:
            return self._dummy_hash
        with self._calibration_lock:
            if self._dummy_hash is None:
                password = self._columns[self._mapping.password_column]
                query = select(password).select_from(self._table).where(password.is_not(None))
                try:
                    with self._engine.connect() as connection:
                        samples = [
                            str(value)
                            for value in connection.execute(
                                query.limit(_CALIBRATION_SAMPLE)
                            ).scalars()
                        ]
                except (OperationalError, InterfaceError) as exc:
                    raise DirectoryUnavailable(type(exc).__name__) from exc
                sample = typical_hash(samples, self._hasher)
                self._dummy_hash = (
                    self._hasher.dummy_hash_like(sample)
                    if sample
                    else self._hasher.hash_password(secrets.token_urlsafe(16))
                )
        return self._dummy_hash

    def _verify(self, password: str, stored_hash: str) -> bool:
        with self._gate.admit():
            return self._hasher.verify(password, stored_hash)

    def verify_password(self, user: DirectoryUser, password: str) -> bool:
        """Verify against the user's hash; a row without a usable one (empty, ``!``-prefixed as
        social-login accounts have, an unrecognised format) costs a dummy verification instead,
        so it cannot be told apart from a wrong password by its speed."""
        stored = user.password_hash
        if not stored or self._hasher.scheme_of(stored) is None:
            self._verify(password, self._dummy())
            return False
        if not self._verify(password, stored):
            return False
        if self._upgrade_hashes and self._hasher.needs_upgrade(stored):
            self._upgrade(user, password)
        return True

    def dummy_verify(self, password: str) -> None:
        """Spend what a real verification of the table's typical hash costs, for nothing."""
        self._verify(password, self._dummy())

    def authenticate(self, login: str, password: str) -> DirectoryUser | None:
        try:
            user = self.find_by_login(login)
        except AmbiguousLogin:
            self.dummy_verify(password)
            raise
        if user is None:
            self.dummy_verify(password)
            return None
        return user if self.verify_password(user, password) else None

    def _upgrade(self, user: DirectoryUser, password: str) -> None:
        """Opt-in: rewrite a legacy hash in the configured scheme once the password is proven.

        Only the row still holding the hash we verified is updated, so a password changed
        meanwhile by the merchant's site is never overwritten.
        """
        m = self._mapping
        key_value = self._key_param(user.key)
        password_column = self._columns[m.password_column]
        statement = (
            self._table.update()
            .where(self._columns[m.key_column] == key_value, password_column == user.password_hash)
            .values({m.password_column: self._hasher.hash_password(password)})
        )
        try:
            with self._engine.begin() as connection:
                connection.execute(statement)
            log.info("upgraded a legacy password hash", extra={"user_key": user.key})
        except (OperationalError, InterfaceError) as exc:
            log.warning("password hash upgrade skipped: %s", type(exc).__name__)

    def warm_up(self) -> None:
        """Calibrate the dummy hash now rather than on the first unknown login."""
        self._dummy()

    # --- writing ----------------------------------------------------------------------------

    def create_user(
        self, new_user: NewUser, *, before_commit: Callable[[], None] | None = None
    ) -> DirectoryUser:
        email_columns = [self._mapping.email_column] if self._mapping.email_column else []
        if self._candidates(new_user.email, email_columns, wide=True, limit=1) or (
            self._candidates(
                new_user.login or new_user.email, self._mapping.login_columns, wide=True, limit=1
            )
        ):
            raise EmailTaken()
        m = self._mapping
        values: dict[str, Any] = {
            name: _default_value(value) for name, value in m.create_defaults.items()
        }
        values[m.password_column] = self._hasher.hash_password(new_user.password)
        for name in m.login_columns:
            values.setdefault(name, new_user.login or new_user.email)
        optional = {
            m.email_column: new_user.email,
            m.first_name_column: new_user.first_name,
            m.last_name_column: new_user.last_name,
            m.phone_column: new_user.phone,
            m.locale_column: new_user.locale,
        }
        values.update({name: value for name, value in optional.items() if name})
        if m.active_column:
            values.setdefault(m.active_column, True)
        target = table(
            m.table,
            *(column(name) for name in values),
            *([] if m.key_column in values else [column(m.key_column)]),
        )
        statement = target.insert().values(values)
        try:
            with self._engine.begin() as connection:
                if m.key_column in values:
                    connection.execute(statement)
                    key = str(values[m.key_column])
                elif self._engine.dialect.insert_returning:
                    key = str(
                        connection.execute(statement.returning(target.c[m.key_column])).scalar_one()
                    )
                else:
                    key = str(connection.execute(statement).lastrowid)
                if before_commit is not None:
                    before_commit()  # e.g. the registration lease: the row commits only after it
        except IntegrityError as exc:
            raise EmailTaken() from exc
        except (OperationalError, InterfaceError) as exc:
            raise DirectoryUnavailable(type(exc).__name__) from exc
        created = self.find_by_key(key)
        if created is None:
            raise DirectoryUnavailable("created user could not be read back")
        return created

    def ping(self) -> None:
        try:
            with self._engine.connect() as connection:
                connection.execute(select(1))
        except (OperationalError, InterfaceError) as exc:
            raise DirectoryUnavailable(type(exc).__name__) from exc

    def password_samples(self, limit: int) -> list[tuple[str, str | None]]:
        """Up to `limit` (hash, salt column value) pairs of rows with a password, for doctor.

        Placeholder: the salt column arrives with the presets branch, which replaces this
        method; until then the salt is always None.
        """
        password = self._columns[self._mapping.password_column]
        query = select(password).select_from(self._table).where(password.is_not(None))
        try:
            with self._engine.connect() as connection:
                values = connection.execute(query.limit(limit)).scalars().all()
        except (OperationalError, InterfaceError) as exc:
            raise DirectoryUnavailable(type(exc).__name__) from exc
        return [(str(value), None) for value in values]
