"""The doctor's invariant queries judge keys the way the merchant's own database compares them.

A merchant table keyed by a string column on MariaDB compares it case-insensitively and pads
trailing spaces, so ``Bob``, ``bob`` and ``Bob `` in the identity map are one merchant user
with three ERIDs; on SQLite (binary comparison) they are three users and nothing is wrong.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from sqlalchemy import Column, Engine, MetaData, String, Table

from sso_bridge.db import make_engine
from sso_bridge.directory.base import AmbiguousLogin
from sso_bridge.directory.passwords import PasswordHasher
from sso_bridge.directory.sql import SqlUserDirectory
from sso_bridge.identity import IdentityMap
from sso_bridge.invariants import identity_map_findings, merchant_findings
from sso_bridge.schema import upgrade
from sso_bridge.settings import DirectorySettings
from tests.functional.conftest import MARIADB_URL


class Merchant(NamedTuple):
    directory: SqlUserDirectory
    mapping: DirectorySettings


@pytest.fixture(params=["sqlite", "mariadb"])
def keyed_by_name(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Merchant]:
    """A merchant table whose key is a username string; rows for Bob and two accounts of Eve."""
    url = f"sqlite:///{tmp_path / 'merchant.sqlite3'}" if request.param == "sqlite" else MARIADB_URL
    engine = make_engine(url)
    name = f"ssob_named_{uuid.uuid4().hex[:10]}"
    metadata = MetaData()
    users = Table(
        name,
        metadata,
        Column("username", String(100), primary_key=True),
        Column("email", String(320), nullable=True),
        Column("password", String(255), nullable=False),
    )
    metadata.create_all(engine)
    with engine.begin() as connection:
        for username, email in [
            ("Bob", "bob@example.com"),
            ("eve", "eve@example.com"),
            ("eve2", "EVE@example.com "),
            ("nomail", None),
        ]:
            connection.execute(users.insert().values(username=username, email=email, password="x"))
    mapping = DirectorySettings(
        url=url,
        table=name,
        key_column="username",
        login_columns=("username",),
        first_name_column=None,
        last_name_column=None,
        active_column=None,
    )
    directory = SqlUserDirectory(
        engine=engine, mapping=mapping, hasher=PasswordHasher(new_scheme="argon2")
    )
    try:
        yield Merchant(directory, mapping)
    finally:
        metadata.drop_all(engine)
        engine.dispose()


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.sqlite3'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def test_keys_are_one_user_exactly_when_the_directory_says_so(
    keyed_by_name: Merchant, bridge: Engine
) -> None:
    identities = IdentityMap(engine=bridge)
    for key in ("Bob", "bob", "Bob ", "eve", "Eve2"):
        identities.erid_for(key)

    def canonical(key: str) -> str | None:
        user = keyed_by_name.directory.find_by_key(key)
        return None if user is None else user.key

    total, findings = identity_map_findings(bridge, canonical)

    assert total == 5
    if keyed_by_name.directory.engine.dialect.name == "sqlite":
        assert findings == []  # binary keys: "bob" and "Bob " are nobody, not Bob
    else:
        [finding] = findings
        assert finding.what == "keys that are one directory user"
        # "Eve2" is user eve2, but alone in the map: not two keys for one user.
        assert finding.groups == (("Bob", "Bob ", "bob"),)


def test_emails_with_several_accounts_are_found_by_lower_trim(
    keyed_by_name: Merchant,
) -> None:
    emails, logins = merchant_findings(keyed_by_name.directory.engine, keyed_by_name.mapping)

    assert emails.groups == (("eve", "eve2"),)
    assert logins == []  # the key is the only login column, unique by construction


def test_ambiguous_logins_are_found_in_the_form_sign_in_compares(tmp_path: Path) -> None:
    """``straße`` and ``STRASSE`` are one login for sign-in (canonical form: casefold), and
    SQLite's lower() leaves ``É`` alone: doctor must report both pairs as sign-in sees them."""
    url = f"sqlite:///{tmp_path / 'merchant.sqlite3'}"
    engine = make_engine(url)
    metadata = MetaData()
    users = Table(
        "users",
        metadata,
        Column("id", String(10), primary_key=True),
        Column("username", String(100)),
        Column("email", String(320)),
        Column("password", String(255)),
    )
    metadata.create_all(engine)
    rows = [("1", "straße"), ("2", "STRASSE"), ("3", "Émile"), ("4", "émile"), ("5", "zoe")]
    with engine.begin() as connection:
        for key, username in rows:
            connection.execute(
                users.insert().values(
                    id=key, username=username, email=f"u{key}@example.com", password="x"
                )
            )
    mapping = DirectorySettings(
        url=url,
        login_columns=("username", "email"),
        first_name_column=None,
        last_name_column=None,
        active_column=None,
    )
    directory = SqlUserDirectory(engine=engine, mapping=mapping, hasher=PasswordHasher())

    _, logins = merchant_findings(engine, mapping)

    [finding] = logins
    assert finding.what == "ambiguous logins in column username"
    assert finding.groups == (("1", "2"), ("3", "4"))
    with pytest.raises(AmbiguousLogin):  # what sign-in does with the same rows
        directory.find_by_login("Straße")
