"""One SqlUserDirectory contract, run against SQLite, PostgreSQL and MariaDB.

MariaDB is the machine's (127.0.0.1:3306, root, database ``test``): each run works in its own,
uniquely named tables there and drops them afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    func,
    select,
)

from sso_bridge.db import make_engine
from sso_bridge.directory.base import AmbiguousLogin, DirectoryUser, EmailTaken, NewUser
from sso_bridge.directory.passwords import PasswordHasher
from sso_bridge.directory.sql import SqlUserDirectory
from sso_bridge.settings import DirectorySettings
from tests.helpers import FAST

MARIADB_URL = os.environ.get("SSO_BRIDGE_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")
JOINED = datetime(2020, 1, 2, 3, 4, 5)


@dataclass
class Backend:
    engine: Engine
    url: str
    users: str  # table with a unique email column
    loose: str  # same shape, no unique constraint (duplicates differing by case)


def _table(metadata: MetaData, name: str, *, unique: bool) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("email", String(320), nullable=False, unique=unique),
        Column("username", String(150), nullable=True),
        Column("password", String(255), nullable=False),
        Column("first_name", String(100)),
        Column("last_name", String(100)),
        Column("active", Boolean, nullable=False),
        Column("date_joined", DateTime, nullable=False),  # required, no server default
    )


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    kind = request.param
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'merchant.sqlite3'}"
    elif kind == "postgresql":
        url = request.getfixturevalue("postgres_database")()
    else:
        url = MARIADB_URL
    engine = make_engine(url)
    if kind == "mariadb":
        try:
            with engine.connect() as connection:
                connection.execute(select(1))
        except Exception as exc:
            pytest.fail(
                f"MariaDB is not reachable at {MARIADB_URL} ({exc!r}). These tests need it: "
                "start it (systemctl start mariadb, or mysqld_safe) with a passwordless root "
                "and a `test` database, or point SSO_BRIDGE_TEST_MARIADB_URL at one.",
                pytrace=False,
            )
    suffix = uuid.uuid4().hex[:10]
    metadata = MetaData()
    _table(metadata, f"ssob_users_{suffix}", unique=True)
    _table(metadata, f"ssob_loose_{suffix}", unique=False)
    metadata.create_all(engine)
    try:
        yield Backend(engine, url, f"ssob_users_{suffix}", f"ssob_loose_{suffix}")
    finally:
        metadata.drop_all(engine)  # matters for MariaDB's shared `test` database
        engine.dispose()


def _seed(engine: Engine, name: str, rows: list[dict[str, Any]]) -> dict[str, str]:
    table = _table(MetaData(), name, unique=False)
    keys: dict[str, str] = {}
    with engine.begin() as connection:
        for row in rows:
            values = {"first_name": "F", "last_name": "L", "date_joined": JOINED, **row}
            result = connection.execute(table.insert().values(**values))
            assert result.inserted_primary_key is not None
            keys[row["email"]] = str(result.inserted_primary_key[0])
    return keys


def _directory(backend: Backend, table: str) -> SqlUserDirectory:
    mapping = DirectorySettings(
        url=backend.url,
        table=table,
        login_columns=("email", "username"),
        new_password_scheme="argon2",
        create_defaults={"date_joined": "now"},
    )
    return SqlUserDirectory(
        engine=backend.engine, mapping=mapping, hasher=PasswordHasher(new_scheme="argon2")
    )


def _count(engine: Engine, name: str) -> int:
    table = _table(MetaData(), name, unique=False)
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_sql_directory_contract(backend: Backend) -> None:
    keys = _seed(
        backend.engine,
        backend.users,
        [
            {
                "email": "Alice@Example.com",
                "username": "alice",
                "password": FAST["argon2"].hash("alice-pw"),
                "first_name": "Alice",
                "last_name": "Anders",
                "active": True,
            },
            {
                "email": "bob@example.com",
                "username": "Bob.Smith",
                "password": FAST["bcrypt"].hash("bob-pw"),
                "active": False,
            },
            {
                "email": "nousername@example.com",
                "username": None,
                "password": FAST["django"].hash("nu-pw"),
                "active": True,
            },
        ],
    )
    alice_key, bob_key = keys["Alice@Example.com"], keys["bob@example.com"]
    directory = _directory(backend, backend.users)

    # Case-insensitive login over both login columns, surrounding blanks ignored.
    for login in (
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
        " Alice@Example.com ",
        "ALICE",
        "alice",
    ):
        found = directory.find_by_login(login)
        assert found is not None, login
        assert found.key == alice_key
        assert found.email == "Alice@Example.com"
        assert (found.first_name, found.last_name) == ("Alice", "Anders")
        assert found.active is True
        assert found.login == login.strip()
    for login in ("", "   ", "alice@example", "%", "alic_", "nobody@example.com"):
        assert directory.find_by_login(login) is None, login
    found = directory.find_by_login("nousername@example.com")
    assert found is not None and found.key == keys["nousername@example.com"]

    # The inactive flag is read, and authentication still says whose password it is.
    bob = directory.find_by_login("bob.smith")
    assert bob is not None and bob.key == bob_key and bob.active is False
    signed_in = directory.authenticate("BOB@example.com", "bob-pw")
    assert signed_in is not None and signed_in.key == bob_key and signed_in.active is False

    # find_by_key: keys travel as strings, the column is an integer.
    by_key = directory.find_by_key(alice_key)
    assert by_key is not None and by_key.email == "Alice@Example.com"
    assert by_key.login == "Alice@Example.com"  # first login column
    for key in ("999999", "abc", "1 OR 1=1", "", "-1", "99999999999999999999999"):
        assert directory.find_by_key(key) is None, key
    found_email = directory.find_by_email("BOB@EXAMPLE.COM")
    assert found_email is not None and found_email.key == bob_key

    # authenticate: right password, wrong password, unknown login.
    ok = directory.authenticate("alice", "alice-pw")
    assert isinstance(ok, DirectoryUser) and ok.key == alice_key
    assert directory.authenticate("alice", "Alice-pw") is None
    assert directory.authenticate("alice", "alice-pw ") is None
    assert directory.authenticate("nobody@example.com", "alice-pw") is None
    assert directory.authenticate("nousername@example.com", "nu-pw") is not None

    # create_user: argon2id hash that verifies, new key returned, "now" fills date_joined.
    before = _count(backend.engine, backend.users)
    started = datetime.now(UTC).replace(tzinfo=None)
    created = directory.create_user(
        NewUser(
            login="carol@example.com",
            email="carol@example.com",
            password="contraseña-Carol-1",
            first_name="Carol",
            last_name="Núñez",
        )
    )
    assert _count(backend.engine, backend.users) == before + 1
    assert created.key not in (alice_key, bob_key)
    assert created.email == "carol@example.com"
    assert (created.first_name, created.last_name) == ("Carol", "Núñez")
    assert created.active is True
    table = _table(MetaData(), backend.users, unique=False)
    with backend.engine.connect() as connection:
        row = connection.execute(select(table).where(table.c.id == int(created.key))).one()
    assert row.email == "carol@example.com"
    assert row.password.startswith("$argon2id$")
    assert "contraseña" not in row.password
    assert bool(row.active) is True
    joined = row.date_joined.replace(tzinfo=None)
    assert (
        started - timedelta(minutes=5)
        <= joined
        <= datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=5)
    )
    assert joined != JOINED
    assert directory.verify_password(created, "contraseña-Carol-1")
    again = directory.authenticate("CAROL@example.com", "contraseña-Carol-1")
    assert again is not None and again.key == created.key
    assert directory.authenticate("carol@example.com", "contrasena-Carol-1") is None

    # EmailTaken for an existing email, whatever its case; nothing written.
    count = _count(backend.engine, backend.users)
    for email in ("alice@example.com", "CAROL@EXAMPLE.COM"):
        with pytest.raises(EmailTaken):
            directory.create_user(NewUser(login=email, email=email, password="x-pw-1"))
    assert _count(backend.engine, backend.users) == count

    # Two rows equal but for case in one login column: refused, never a guess.
    _seed(
        backend.engine,
        backend.loose,
        [
            {
                "email": "dup@example.com",
                "username": "dup1",
                "password": FAST["bcrypt"].hash("d1"),
                "active": True,
            },
            {
                "email": "DUP@example.com",
                "username": "dup2",
                "password": FAST["bcrypt"].hash("d2"),
                "active": True,
            },
        ],
    )
    loose = _directory(backend, backend.loose)
    with pytest.raises(AmbiguousLogin):
        loose.find_by_login("Dup@Example.com")
    with pytest.raises(AmbiguousLogin):
        loose.authenticate("Dup@example.com", "d1")
    # Unless one of them is exactly the login typed: that one signs in, the other does not.
    exact = loose.authenticate(" dup@example.com ", "d1")
    assert exact is not None and exact.email == "dup@example.com"
    assert loose.authenticate("DUP@example.com", "d1") is None
    upper = loose.authenticate("DUP@example.com", "d2")
    assert upper is not None and upper.email == "DUP@example.com"
    # The other column still tells them apart.
    dup1 = loose.authenticate("DUP1", "d1")
    assert dup1 is not None and dup1.email == "dup@example.com"
    assert loose.authenticate("dup2", "d1") is None


def test_emails_and_logins_compare_in_one_canonical_form(backend: Backend) -> None:
    # Python's lower("İ") is "i" + U+0307, PostgreSQL's "i", MySQL's collation ignores case and
    # accents: whichever the database, an email it could match is the same account.
    keys = _seed(
        backend.engine,
        backend.loose,
        [{"email": "alice@example.com", "username": "alice", "password": "x", "active": True}],
    )
    directory = _directory(backend, backend.loose)
    for email in ("ALİCE@example.com", "Alİce@EXAMPLE.com", "ALICE@example.com"):
        found = directory.find_by_email(email)
        assert found is not None and found.key == keys["alice@example.com"], email
        by_login = directory.find_by_login(email)
        assert by_login is not None and by_login.key == found.key, email
    count = _count(backend.engine, backend.loose)
    for email in ("ALİCE@example.com", "alice@EXAMPLE.COM"):
        with pytest.raises(EmailTaken):
            directory.create_user(NewUser(login=email, email=email, password="x-pw-1"))
    with pytest.raises(EmailTaken):  # a login another account has, in another case
        directory.create_user(NewUser(login="ALİCE", email="new@example.com", password="x-pw-1"))
    assert _count(backend.engine, backend.loose) == count


def test_create_runs_its_before_commit_inside_the_transaction(backend: Backend) -> None:
    directory = _directory(backend, backend.loose)
    count = _count(backend.engine, backend.loose)

    class Refused(Exception):
        pass

    def refuse() -> None:
        raise Refused()

    with pytest.raises(Refused):  # e.g. a registration lease lost: the insert rolls back
        directory.create_user(
            NewUser(login="late@example.com", email="late@example.com", password="x-pw-1"),
            before_commit=refuse,
        )
    assert _count(backend.engine, backend.loose) == count
    seen: list[int] = []
    created = directory.create_user(
        NewUser(login="ok@example.com", email="ok@example.com", password="x-pw-1"),
        before_commit=lambda: seen.append(_count(backend.engine, backend.loose)),
    )
    assert seen == [count]  # ran before COMMIT: nobody else saw the row yet
    assert directory.find_by_key(created.key) is not None
    assert _count(backend.engine, backend.loose) == count + 1
