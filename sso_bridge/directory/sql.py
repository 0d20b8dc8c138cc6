"""SqlUserDirectory: the merchant's own user table, read and written in place via SQLAlchemy.

The table is described by the configured column mapping, not reflected: nothing is read from the
database's catalogue, and columns the mapping does not name are never touched (except the
configured create defaults when a user registers).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    FromClause,
    Integer,
    String,
    TableClause,
    and_,
    column,
    func,
    inspect,
    literal,
    or_,
    select,
    table,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from sso_bridge.canonical import canonical
from sso_bridge.directory.base import (
    AmbiguousLogin,
    DirectoryUnavailable,
    DirectoryUser,
    EmailTaken,
    NewUser,
    RegistrationClosed,
    is_truthy,
)
from sso_bridge.directory.gate import VerificationGate
from sso_bridge.directory.mapping import ColumnRef, parse_join, parse_reference
from sso_bridge.directory.passwords import PasswordHasher
from sso_bridge.directory.passwords.hasher import Dummy, typical_sample
from sso_bridge.directory.presets import PRESETS
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
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()  # binary keys (Shopware 6's BINARY(16) ids) travel as hex
    return None if value is None else str(value)


def _python_type(column_type: Any) -> type | None:
    try:
        found: type = column_type.python_type
    except (AttributeError, NotImplementedError):
        return None  # a dialect-specific type SQLAlchemy cannot map
    return found


def _salt(value: Any) -> str | None:
    """A salt column's value for the hasher; empty means none (self-salted hashes clear it)."""
    text = _text(value)
    return text or None


def _slug(login: str) -> str:
    """WordPress's user_nicename: sanitize_title_with_dashes(user_login[:50]) for ASCII logins
    (dots and spaces become dashes, other characters go); WordPress de-duplicates it with
    suffixes, which only its author pages use."""
    slug = re.sub(r"[^a-z0-9 _-]", "", login[:50].lower().replace(".", "-"))
    slug = re.sub(r"-+", "-", re.sub(r"\s+", "-", slug)).strip("-")
    return slug or uuid.uuid4().hex[:12]


def _default_value(value: Any, new_user: NewUser) -> Any:
    """Create defaults computed per row: ``now``, ``uuid``, ``token32`` (32 hex digits),
    ``login``, ``email``, ``login_upper``/``email_upper`` (ASP.NET's normalised names) and
    ``login_slug`` (WordPress's nicename); any other value is written as it is."""
    login = new_user.login or new_user.email
    computed: dict[str, Callable[[], Any]] = {
        "now": lambda: datetime.now(UTC).replace(tzinfo=None),
        "uuid": lambda: str(uuid.uuid4()),
        "token32": lambda: secrets.token_hex(16),
        "login": lambda: login,
        "email": lambda: new_user.email,
        "login_upper": login.upper,
        "email_upper": new_user.email.upper,
        "login_slug": lambda: _slug(login),
    }
    maker = computed.get(value) if isinstance(value, str) else None
    return maker() if maker is not None else value


@dataclass(frozen=True)
class _SqlUser(DirectoryUser):
    """A row of the table: the user, plus its salt column when the mapping has one."""

    password_salt: str | None = field(default=None, repr=False)


@dataclass
class _RelatedRow:
    """A row a registration writes in a related table, joined to the new user's row."""

    table: str
    their_column: str
    our_column: str
    values: dict[str, Any] = field(default_factory=dict)


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
        self._dummy_hash: Dummy | None = None
        self._integer_key: bool | None = None
        self._binary_key = False
        self._calibration_lock = threading.Lock()
        references = (
            mapping.key_column,
            mapping.password_column,
            mapping.salt_column,
            *mapping.login_columns,
            mapping.email_column,
            mapping.first_name_column,
            mapping.last_name_column,
            mapping.active_column,
            mapping.blocked_column,
            mapping.phone_column,
            mapping.locale_column,
        )
        self._parsed = {name: parse_reference(name) for name in dict.fromkeys(references) if name}
        own = {ref.column for ref in self._parsed.values() if ref.table is None}
        own |= {parse_join(join).ours for join in mapping.joins.values()}
        self._table: TableClause = table(mapping.table, *(column(name) for name in sorted(own)))
        self._columns, source = self._joined()
        # Labels, not the references themselves: a reference may be longer than an identifier.
        self._labels = {name: f"c{index}" for index, name in enumerate(self._columns)}
        self._profile_query = select(
            *(self._columns[name].label(label) for name, label in self._labels.items())
        ).select_from(source)

    def _joined(self) -> tuple[dict[str, ColumnElement[Any]], FromClause]:
        """Each reference's column (in the user table or its related table's alias), and the
        user table LEFT JOINed to one alias per related table (per key/value row)."""
        m = self._mapping
        wanted: dict[tuple[str, str | None, str | None], set[str]] = {}
        for ref in self._parsed.values():
            if ref.table is not None:
                wanted.setdefault((ref.table, ref.key, ref.value), set()).add(ref.column)
        source: FromClause = self._table
        aliases: dict[tuple[str, str | None, str | None], FromClause] = {}
        for (table_name, key, value), names in sorted(wanted.items(), key=str):
            join = parse_join(m.joins[table_name])
            read = {join.theirs, *names, *([key] if key else [])}
            alias = table(table_name, *(column(name) for name in sorted(read))).alias(
                f"r{len(aliases)}"
            )
            on = alias.c[join.theirs] == self._table.c[join.ours]
            if key is not None:
                on = and_(on, alias.c[key] == value)
            aliases[(table_name, key, value)] = alias
            source = source.outerjoin(alias, on)
        columns: dict[str, ColumnElement[Any]] = {
            name: self._table.c[ref.column]
            if ref.table is None
            else aliases[(ref.table, ref.key, ref.value)].c[ref.column]
            for name, ref in self._parsed.items()
        }
        return columns, source

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

        active = _is_active(row[m.active_column]) if m.active_column else True
        if m.blocked_column and row[m.blocked_column] is not None:
            active = active and not _is_active(row[m.blocked_column])
        return _SqlUser(
            key=_text(row[m.key_column]) or "",
            login=login or get(m.login_columns[0]) or "",
            email=get(m.email_column),
            first_name=get(m.first_name_column),
            last_name=get(m.last_name_column),
            phone=get(m.phone_column),
            locale=get(m.locale_column),
            active=active,
            password_hash=get(m.password_column),
            password_salt=_salt(row[m.salt_column]) if m.salt_column else None,
        )

    def _rows(self, where: Any, limit: int) -> list[Mapping[str, Any]]:
        try:
            with self._engine.connect() as connection:
                result = connection.execute(self._profile_query.where(where).limit(limit))
                return [
                    {name: row._mapping[label] for name, label in self._labels.items()}
                    for row in result
                ]
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
                _text(row[self._mapping.key_column]): row
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

    def _key_param(self, key: str) -> int | str | bytes | None:
        """Keys travel as strings; an integer key column must be compared with an integer
        (PostgreSQL refuses ``integer = varchar``), a binary one with bytes (sent as hex).
        The column's type is read once."""
        if self._integer_key is None:
            try:
                columns = inspect(self._engine).get_columns(self._mapping.table)
            except (OperationalError, InterfaceError) as exc:
                raise DirectoryUnavailable(type(exc).__name__) from exc
            types = {c["name"]: c["type"] for c in columns}
            key_type = types.get(self._mapping.key_column)
            self._binary_key = _python_type(key_type) is bytes
            self._integer_key = isinstance(key_type, Integer)
        if self._binary_key:
            try:
                return bytes.fromhex(key)
            except ValueError:
                return None
        if not self._integer_key:
            return key
        return int(key) if key.isascii() and key.isdigit() and len(key) <= 18 else None

    # --- passwords --------------------------------------------------------------------------

    def password_samples(self, limit: int) -> list[tuple[str, str | None]]:
        """Up to ``limit`` stored hashes (non-null), each with its salt column value or None."""
        m = self._mapping
        password = self._table.c[m.password_column]
        salt = self._table.c[m.salt_column] if m.salt_column else literal(None)
        query = (
            select(password, salt)
            .select_from(self._table)
            .where(password.is_not(None))
            .limit(limit)
        )
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(query).all()
        except (OperationalError, InterfaceError) as exc:
            raise DirectoryUnavailable(type(exc).__name__) from exc
        return [(str(stored), _salt(salt_value)) for stored, salt_value in rows]

    def _dummy(self) -> Dummy:
        """A hash as costly as the table's typical one (with its salt column value, for the
        formats that keep one), for logins that match nobody."""
        if self._dummy_hash is not None:
            return self._dummy_hash
        with self._calibration_lock:
            if self._dummy_hash is None:
                sample = typical_sample(self.password_samples(_CALIBRATION_SAMPLE), self._hasher)
                self._dummy_hash = (
                    self._hasher.dummy_like(sample[0], salt=sample[1])
                    if sample
                    else Dummy(self._hasher.hash_password(secrets.token_urlsafe(16)), None)
                )
        return self._dummy_hash

    def _verify(self, password: str, stored_hash: str, salt: str | None) -> bool:
        with self._gate.admit():
            return self._hasher.verify(password, stored_hash, salt=salt)

    def _verify_dummy(self, password: str) -> None:
        dummy = self._dummy()
        self._verify(password, dummy.hash, dummy.salt)

    def verify_password(self, user: DirectoryUser, password: str) -> bool:
        """Verify against the user's hash; a row without a usable one (empty, ``!``-prefixed as
        social-login accounts have, an unrecognised format) costs a dummy verification instead,
        so it cannot be told apart from a wrong password by its speed."""
        stored = user.password_hash
        salt = user.password_salt if isinstance(user, _SqlUser) else None
        if not stored or self._hasher.scheme_of(stored, salt=salt) is None:
            self._verify_dummy(password)
            return False
        if not self._verify(password, stored, salt):
            return False
        if self._upgrade_hashes and self._hasher.needs_upgrade(stored, salt=salt):
            self._upgrade(user, password)
        return True

    def dummy_verify(self, password: str) -> None:
        """Spend what a real verification of the table's typical hash costs, for nothing."""
        self._verify_dummy(password)

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
        meanwhile by the merchant's site is never overwritten. The formats written keep their
        salt inside the hash, so a salt column is emptied (its columns are NOT NULL: "").
        """
        m = self._mapping
        key_value = self._key_param(user.key)
        password_column = self._table.c[m.password_column]
        values: dict[str, Any] = {m.password_column: self._hasher.hash_password(password)}
        if m.salt_column:
            values[m.salt_column] = ""
        statement = (
            self._table.update()
            .where(self._table.c[m.key_column] == key_value, password_column == user.password_hash)
            .values(values)
        )
        try:
            with self._engine.begin() as connection:
                connection.execute(statement)
            log.info("upgraded a legacy password hash", extra={"user_key": user.key})
        except DBAPIError as exc:
            # Any refusal (unavailable, or a column too narrow for the new format): the sign-in
            # it follows has succeeded all the same.
            log.warning("password hash upgrade skipped: %s", type(exc).__name__)

    # --- writing ----------------------------------------------------------------------------

    def create_user(
        self, new_user: NewUser, *, before_commit: Callable[[], None] | None = None
    ) -> DirectoryUser:
        m = self._mapping
        if not m.registrations:
            preset = PRESETS.get(m.preset or "")
            reason = preset.registration_refusal if preset else None
            log.info("registration refused: %s", reason or "DIRECTORY__REGISTRATIONS is false")
            raise RegistrationClosed("Registration is not supported by this shop's user table")
        email_columns = [m.email_column] if m.email_column else []
        if self._candidates(new_user.email, email_columns, wide=True, limit=1) or (
            self._candidates(new_user.login or new_user.email, m.login_columns, wide=True, limit=1)
        ):
            raise EmailTaken()
        values, related = self._new_row(new_user)
        target = table(
            m.table,
            *(column(name) for name in values),
            *([] if m.key_column in values else [column(m.key_column)]),
        )
        statement = target.insert().values(values)
        try:
            with self._engine.begin() as connection:
                key_value: Any
                if m.key_column in values:
                    connection.execute(statement)
                    key_value = values[m.key_column]
                elif self._engine.dialect.insert_returning:
                    key_value = connection.execute(
                        statement.returning(target.c[m.key_column])
                    ).scalar_one()
                else:
                    key_value = connection.execute(statement).lastrowid
                for related_row in related:
                    row = {
                        **related_row.values,
                        related_row.their_column: key_value
                        if related_row.our_column == m.key_column
                        else values[related_row.our_column],
                    }
                    connection.execute(
                        table(related_row.table, *(column(name) for name in row))
                        .insert()
                        .values(row)
                    )
                if before_commit is not None:
                    before_commit()  # e.g. the registration lease: the row commits only after it
        except IntegrityError as exc:
            raise EmailTaken() from exc
        except (OperationalError, InterfaceError) as exc:
            raise DirectoryUnavailable(type(exc).__name__) from exc
        created = self.find_by_key(_text(key_value) or "")
        if created is None:
            raise DirectoryUnavailable("created user could not be read back")
        return created

    def _new_row(self, new_user: NewUser) -> tuple[dict[str, Any], list[_RelatedRow]]:
        """The user table's values for ``new_user``, and the related tables' rows (their join
        column is filled once the user row has its key). Create defaults may name related
        columns too (WordPress's ``wp_capabilities`` usermeta row)."""
        m = self._mapping
        login = new_user.login or new_user.email
        values: dict[str, Any] = {}
        related: dict[tuple[str, str | None, str | None], _RelatedRow] = {}

        def put_related(table_name: str, ref: ColumnRef, value: Any) -> None:
            join = parse_join(m.joins[table_name])
            if join.ours != m.key_column and join.ours not in values:
                # Nothing to join the related row on before the insert: refuse, write nothing.
                raise RegistrationClosed("Registration is not supported by this shop's user table")
            row = related.setdefault(
                (table_name, ref.key, ref.value),
                _RelatedRow(table=table_name, their_column=join.theirs, our_column=join.ours),
            )
            if ref.key is not None:
                row.values[ref.key] = ref.value
            row.values[ref.column] = value

        later: list[tuple[str, ColumnRef, Any]] = []
        for name, value in m.create_defaults.items():
            ref = parse_reference(name)
            if ref.table is None:
                values[name] = _default_value(value, new_user)
            else:
                later.append((ref.table, ref, _default_value(value, new_user)))
        values[m.password_column] = self._hasher.hash_password(new_user.password)
        if m.salt_column:
            values[m.salt_column] = ""  # the written formats carry their salt
        given: dict[str, Any] = {}
        for name in m.login_columns:
            given.setdefault(name, login)
        optional = {
            m.email_column: new_user.email,
            m.first_name_column: new_user.first_name,
            m.last_name_column: new_user.last_name,
            m.phone_column: new_user.phone,
            m.locale_column: new_user.locale,
        }
        given.update({name: value for name, value in optional.items() if name})
        if m.active_column:
            given.setdefault(m.active_column, True)
        if m.blocked_column:
            given.setdefault(m.blocked_column, False)
        flags = {m.active_column, m.blocked_column, *m.login_columns}
        for name, value in given.items():
            ref = self._parsed[name]
            if ref.table is None:
                # A create default stands in for what the request left out (NOT NULL columns)
                # and, for login and flag columns, wins over the bridge's own choice.
                if name not in values or (value is not None and name not in flags):
                    values[name] = value
            elif value is not None:
                later.append((ref.table, ref, value))
        for table_name, ref, value in later:
            put_related(table_name, ref, value)
        return values, list(related.values())

    def ping(self) -> None:
        try:
            with self._engine.connect() as connection:
                connection.execute(select(1))
        except (OperationalError, InterfaceError) as exc:
            raise DirectoryUnavailable(type(exc).__name__) from exc
