"""`sso-bridge doctor`, the real console script, against real SQLite, Redis and the DR simulator."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from passlib.hash import bcrypt, des_crypt, django_pbkdf2_sha256, hex_md5, md5_crypt, phpass
from sqlalchemy import MetaData
from sqlalchemy import text as sql

from sso_bridge.db import make_engine
from sso_bridge.directory.passwords import PasswordHasher
from sso_bridge.schema import HEAD, identities, upgrade
from sso_bridge.simulator.server import SimulatorServer
from tests.conftest import REDIS_URL
from tests.helpers import (
    API_KEY,
    RUM_PASSWORD,
    bridge_config,
    seed_users,
    users_table,
    with_simulator,
)
from tests.servers import REFUSING_TRACKING, OwnRedis, config_environment

SCRIPT = Path(sys.prefix) / "bin" / "sso-bridge"
SECRETS = [RUM_PASSWORD, "rum-basic-secret-2", API_KEY, "sim-api-secret", "wrong-dr-secret-42"]
FIX = "set SSO_BRIDGE_DIRECTORY__UPGRADE_HASHES=true to rehash each at its user's next sign-in"


@dataclass
class Run:
    code: int
    lines: list[str]
    output: str

    def with_verdict(self, verdict: str) -> list[str]:
        return [line for line in self.lines if line.startswith(verdict)]

    def check(self, name: str) -> list[str]:
        return [line for line in self.lines if line[6:].startswith(name + ":")]


def doctor(config: dict[str, Any], *args: str, cwd: Path) -> Run:
    if not SCRIPT.exists():
        pytest.fail(f"{SCRIPT} is missing: install the project (pip install -e .)", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSO_BRIDGE_")}
    env.update(config_environment(config))
    done = subprocess.run(
        ["timeout", "-k", "5", "60", str(SCRIPT), "doctor", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    output = done.stdout + done.stderr
    return Run(done.returncode, done.stdout.splitlines(), output)


def own_table(config: dict[str, Any], path: Path, hashes: list[str]) -> dict[str, Any]:
    """`config` pointed at a merchant table of its own: one user per hash, user1@... first.

    The shared sample table uses cheap hashes on purpose (fast tests), which doctor rightly calls
    weak; tests of the hash report bring their own data instead."""
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    metadata = MetaData()
    users = users_table(metadata)
    metadata.create_all(engine)
    with engine.begin() as connection:
        for index, stored in enumerate(hashes, start=1):
            connection.execute(
                users.insert().values(
                    email=f"user{index}@example.com", password=stored, active=True
                )
            )
    engine.dispose()
    return {**config, "DIRECTORY": {**config["DIRECTORY"], "URL": url}}


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer() as server:
        yield server


@pytest.fixture
def config(tmp_path: Path, redis_prefix: str, simulator: SimulatorServer) -> dict[str, Any]:
    merchant = f"sqlite:///{tmp_path / 'merchant.sqlite3'}"
    bridge = f"sqlite:///{tmp_path / 'bridge.sqlite3'}"
    seed_users(make_engine(merchant))
    upgrade(make_engine(bridge))
    base = bridge_config(
        merchant_url=merchant, bridge_url=bridge, redis_url=REDIS_URL, redis_prefix=redis_prefix
    )
    return with_simulator(base, simulator.url)


def test_all_ok_exits_0_and_lists_the_hash_formats(config: dict[str, Any], tmp_path: Path) -> None:
    strong = [
        PasswordHasher().hash_password("argon2-pw"),  # argon2-cffi's defaults
        bcrypt.using(rounds=12).hash("bcrypt-pw"),
        django_pbkdf2_sha256.using(rounds=1_000_000).hash("django-pw"),  # Django 5.2's cost
        PasswordHasher(new_scheme="wordpress").hash_password("wp-pw"),
    ]
    run = doctor(
        own_table(config, tmp_path / "strong.sqlite3", strong),
        "--canary",
        "user1@example.com",
        cwd=tmp_path,
    )

    assert run.code == 0, run.output
    assert run.with_verdict("FAIL") == [] and run.with_verdict("WARN") == [], run.output
    for name in (
        "configuration",
        "bridge database",
        "user directory",
        "user query",
        "password hashes",
        "identity map",
        "merchant accounts",
        "redis",
        "local token cache",
        "digital river",
    ):
        assert run.check(name), f"no {name!r} line in:\n{run.output}"
    assert f"schema at version {HEAD} (current)" in run.check("bridge database")[0]
    assert "canary 'user1@example.com' found" in run.check("user query")[0]
    assert run.check("password hashes") == [
        "OK    password hashes: 4 sampled: 4 format(s), 0 weak, 0 unrecognised, 0 without a "
        "password; unknown logins are timed like argon2 (m=65536, t=3, p=4)",
        "OK    password hashes: argon2 (m=65536, t=3, p=4): 1 of 4",
        "OK    password hashes: bcrypt (cost 12): 1 of 4",
        "OK    password hashes: django_pbkdf2_sha256 (1,000,000 iterations): 1 of 4",
        "OK    password hashes: wordpress (cost 12): 1 of 4",
    ]
    assert "expires_in" in run.check("digital river")[0]
    assert "0 identities: one ERID per user key" in run.check("identity map")[0]
    assert "no email with several accounts" in run.check("merchant accounts")[0]
    assert "pushes invalidations" in run.check("local token cache")[0]
    assert run.lines[-1] == "doctor: 14 OK, 0 WARN, 0 FAIL"
    for secret in SECRETS:
        assert secret not in run.output
    for stored in strong:
        assert stored[-20:] not in run.output


def test_weak_and_unknown_hash_formats_warn_with_reasons_and_the_fix(
    config: dict[str, Any], tmp_path: Path
) -> None:
    mixed = [
        bcrypt.using(rounds=12).hash("strong-1"),
        bcrypt.using(rounds=12).hash("strong-2"),
        bcrypt.using(rounds=4).hash("cheap"),
        hex_md5.hash("plain"),
        phpass.using(rounds=8).hash("wordpress"),  # WordPress < 6.8: $P$B
        des_crypt.hash("unix"),
        md5_crypt.hash("shadow"),
        django_pbkdf2_sha256.using(rounds=1_000_000).hash("django-5"),
        django_pbkdf2_sha256.using(rounds=10_000).hash("django-1"),
        "not-a-hash-at-all",
        "!" + "s0cial" * 7,  # Django's unusable password: a social-login account
    ]

    run = doctor(own_table(config, tmp_path / "mixed.sqlite3", mixed), cwd=tmp_path)

    assert run.code == 0, run.output  # WARN is not FAIL
    assert run.check("password hashes") == [
        "OK    password hashes: 11 sampled: 6 format(s), 6 weak, 1 unrecognised, 1 without a "
        "password; unknown logins are timed like bcrypt (cost 12)",
        "OK    password hashes: bcrypt (cost 12): 2 of 11",
        f"WARN  password hashes: bcrypt (cost 4): 1 of 11, weak (low iterations) (hint: {FIX})",
        f"WARN  password hashes: des_crypt: 1 of 11, weak (DES) (hint: {FIX})",
        "WARN  password hashes: django_pbkdf2_sha256 (10,000 iterations): 1 of 11, weak "
        f"(low iterations) (hint: {FIX})",
        "OK    password hashes: django_pbkdf2_sha256 (1,000,000 iterations): 1 of 11",
        f"WARN  password hashes: hex_md5: 1 of 11, weak (unsalted, md5) (hint: {FIX})",
        f"WARN  password hashes: md5_crypt: 1 of 11, weak (md5) (hint: {FIX})",
        f"WARN  password hashes: phpass (2^8 iterations): 1 of 11, weak (md5) (hint: {FIX})",
        "WARN  password hashes: unrecognised format: 1 of 11; these users cannot sign in "
        "(hint: see README 'Passwords' for the supported formats)",
        "OK    password hashes: no password (empty or `!`-prefixed, e.g. social-login "
        "accounts): 1 of 11; these users cannot sign in with a password",
    ]
    assert run.lines[-1] == "doctor: 13 OK, 7 WARN, 0 FAIL", run.output
    for stored in mixed:
        assert stored not in run.output and stored[-12:] not in run.output
    assert "s0cial" not in run.output and "$1$" not in run.output
    assert "pass --canary LOGIN" in run.check("user query")[0]


def test_an_unreadable_password_column_fails_with_the_setting_to_fix(
    config: dict[str, Any], tmp_path: Path
) -> None:
    wrong = {**config, "DIRECTORY": {**config["DIRECTORY"], "PASSWORD_COLUMN": "passwd"}}

    run = doctor(wrong, cwd=tmp_path)

    assert run.code == 1, run.output
    [line] = run.check("password hashes")
    assert line.startswith("FAIL") and "cannot read the password column" in line
    assert "no such column" in line and "passwd" in line
    assert "SSO_BRIDGE_DIRECTORY__PASSWORD_COLUMN" in line


@pytest.mark.parametrize(
    ("change", "args", "failing", "expected"),
    [
        (
            {"DR_API_SECRET": "wrong-dr-secret-42"},
            (),
            "digital river",
            ["invalid_client", "SSO_BRIDGE_DR_API_SECRET"],
        ),
        ({}, ("--canary", "nobody@example.com"), "user query", ["'nobody@example.com' not found"]),
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, (), "redis", ["unreachable"]),
        ({"DR_BASE_URL": "http://127.0.0.1:1"}, (), "digital river", ["test mint failed"]),
        (
            {"DIRECTORY": {"URL": "", "LOGIN_COLUMNS": ["email"], "EMAIL_COLUMN": "mail"}},
            (),
            "user query",
            ["no such column", "mail", "__*_COLUMN"],
        ),
        ({"RUM_USERS": {}}, (), "configuration", ["no RUM credentials"]),
    ],
    ids=["wrong-dr-secret", "missing-canary", "redis-down", "dr-down", "bad-column", "no-rum"],
)
def test_a_failing_check_is_named_and_exits_1(
    config: dict[str, Any],
    tmp_path: Path,
    change: dict[str, Any],
    args: tuple[str, ...],
    failing: str,
    expected: list[str],
) -> None:
    if "DIRECTORY" in change:  # the same merchant database, mapped differently
        change = {**change, "DIRECTORY": {**change["DIRECTORY"], "URL": config["DIRECTORY"]["URL"]}}
    run = doctor({**config, **change}, *args, cwd=tmp_path)

    assert run.code == 1, run.output
    failed = [line for line in run.with_verdict("FAIL") if line[6:].startswith(failing + ":")]
    assert failed, run.output
    for text in expected:
        assert text in failed[0], failed[0]
    # Every check still ran and reported.
    assert run.lines[-1].startswith("doctor: ") and "1 FAIL" in run.lines[-1], run.output
    for secret in SECRETS:
        assert secret not in run.output


@pytest.mark.parametrize(
    ("exists", "expected"),
    [(True, "schema at version 0, this release needs"), (False, "not exist")],
)
def test_a_bridge_database_not_upgraded_fails_with_the_hint(
    config: dict[str, Any], tmp_path: Path, exists: bool, expected: str
) -> None:
    path = tmp_path / "fresh.sqlite3"
    if exists:
        with make_engine(f"sqlite:///{path}").connect():
            pass

    run = doctor({**config, "DATABASE_URL": f"sqlite:///{path}"}, cwd=tmp_path)

    assert run.code == 1, run.output
    [line] = run.check("bridge database")
    assert line.startswith("FAIL") and expected in line and "run `sso-bridge db upgrade`" in line
    assert path.exists() == exists  # the doctor never creates the database


def test_the_identity_invariant_is_checked_on_the_live_data(
    config: dict[str, Any], tmp_path: Path
) -> None:
    # Issue 8, build 7: what the databases refuse today may be in them from before.
    bridge = make_engine(config["DATABASE_URL"])
    erid = "0B5E2C7A-1D3F-4E5A-9B8C-7D6E5F4A3B2C"
    with bridge.begin() as connection:
        # An old backup restored without the case-folded unique index (the doctor says so too).
        connection.execute(sql("DROP INDEX sso_bridge_identities_erid_folded"))
        for key, value in [("7", "E-7"), ("007", "E-007"), ("1", erid), ("2", erid.lower())]:
            connection.execute(
                identities.insert().values(
                    user_key=key, erid=value, created_at=datetime.now(UTC), origin="import"
                )
            )
    bridge.dispose()
    merchant = make_engine(config["DIRECTORY"]["URL"])
    users = users_table(MetaData())
    with merchant.begin() as connection:
        # Keys 8 and 9: the email of user 1 in other letters and spacing; user 3's username.
        connection.execute(
            users.insert().values(
                email=" DEMO@example.com", username="dup-a", password="x", active=True
            )
        )
        connection.execute(
            users.insert().values(
                email="other@example.com", username="Django", password="x", active=True
            )
        )
    merchant.dispose()

    run = doctor(config, cwd=tmp_path)

    assert run.code == 1, run.output
    identity = "\n".join(run.check("identity map"))
    assert "keys that are one directory user (1): user keys '007', '7'" in identity
    assert "ERIDs held by several user keys ignoring case (1): user keys '1', '2'" in identity
    assert all(line.startswith("FAIL") for line in run.check("identity map"))
    [bridge_line] = run.check("bridge database")
    assert bridge_line.startswith("FAIL") and "unique index on lower(erid)" in bridge_line
    accounts = run.check("merchant accounts")
    [emails] = [line for line in accounts if "email addresses" in line]
    assert (
        emails.startswith("FAIL")
        and "email addresses with several accounts (1): user keys '1', '8'" in emails
    )
    [logins] = [line for line in accounts if "ambiguous logins" in line]
    assert logins.startswith("WARN")
    assert "ambiguous logins in column username (1): user keys '3', '9'" in logins
    for private in ("DEMO@example.com", "demo@example.com", "Django", "$argon2"):
        assert private not in run.output


def test_invalid_configuration_reports_every_problem(
    config: dict[str, Any], tmp_path: Path
) -> None:
    broken = {**config, "DIRECTORY": {"BACKEND": "ldap"}, "REDIS_TIMEOUT": "soon"}

    run = doctor(broken, cwd=tmp_path)

    assert run.code == 1, run.output
    failures = "\n".join(run.with_verdict("FAIL"))
    assert "SSO_BRIDGE_DIRECTORY__BACKEND: must be sql or http" in failures
    assert "SSO_BRIDGE_REDIS_TIMEOUT: must be a number" in failures
    for secret in SECRETS:
        assert secret not in run.output


def test_a_redis_refusing_client_tracking_is_a_warning_with_the_fix(
    config: dict[str, Any], tmp_path: Path
) -> None:
    """A proxy or an ACL that blocks CLIENT TRACKING: the bridge works, every cache hit asks
    Redis, and doctor says so (the operator may set the local cache off)."""
    with OwnRedis(REFUSING_TRACKING) as server:
        run = doctor({**config, "REDIS_URL": server.url}, cwd=tmp_path)

    assert run.code == 0, run.output
    [line] = run.check("local token cache")
    assert line.startswith("WARN") and "CLIENT TRACKING" in line, line
    assert "SSO_BRIDGE_REDIS_LOCAL_CACHE_SIZE=0" in line
    assert run.check("redis")[0].startswith("OK")

