"""The real `sso-bridge` console script, run as a subprocess with a configuration built here."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select

from sso_bridge.db import make_engine
from sso_bridge.identity import IdentityMap
from sso_bridge.schema import HEAD, identities, schema_version, upgrade
from tests.helpers import RUM_PASSWORD, RUM_USER, seed_users

SCRIPT = Path(sys.prefix) / "bin" / "sso-bridge"


def _run(args: list[str], settings: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    if not SCRIPT.exists():
        pytest.fail(f"{SCRIPT} is missing: install the project (pip install -e .)", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSO_BRIDGE_")}
    env.update({f"SSO_BRIDGE_{name}": value for name, value in settings.items()})
    # `timeout` (not only subprocess's): a server that wrongly starts is killed with its workers.
    return subprocess.run(
        ["timeout", "-k", "5", "30", str(SCRIPT), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _rows(url: str) -> dict[str, str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return dict(connection.execute(select(identities.c.user_key, identities.c.erid)).all())
    finally:
        engine.dispose()


def _erid() -> str:
    return str(uuid.uuid4()).upper()


def _csv(
    path: Path, rows: list[tuple[str, str]], header: str = "userKey,externalReferenceId"
) -> Path:
    path.write_text(
        header + "\n" + "".join(f"{key},{erid}\n" for key, erid in rows), encoding="utf-8"
    )
    return path


# --- db upgrade -----------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema_on_fresh_postgresql_and_is_idempotent(
    postgres_database: Any, tmp_path: Path
) -> None:
    url = postgres_database()
    first = _run(["db", "upgrade"], {"DATABASE_URL": url}, tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"schema at version {HEAD} (was 0)" in first.stdout

    engine = make_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {"sso_bridge_schema", "sso_bridge_identities", "sso_bridge_registrations"} <= tables

    second = _run(["db", "upgrade"], {"DATABASE_URL": url}, tmp_path)
    assert second.returncode == 0, second.stderr
    assert f"schema at version {HEAD}" in second.stdout
    assert "(was" not in second.stdout
    with engine.connect() as connection:
        assert connection.execute(select(schema_version.c.version)).scalars().all() == [HEAD]
    engine.dispose()
    # The plain postgresql:// form works as written, too (mapped to psycopg 3).
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    third = _run(["db", "upgrade"], {"DATABASE_URL": plain}, tmp_path)
    assert third.returncode == 0, third.stderr


# --- serve refuses to start -----------------------------------------------------------------


@pytest.fixture
def merchant_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'merchant.sqlite3'}"
    engine = make_engine(url)
    seed_users(engine)
    engine.dispose()
    return url


@pytest.fixture
def bridge_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'bridge.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def test_serve_refuses_to_start_without_rum_credentials(
    merchant_url: str, bridge_url: str, tmp_path: Path
) -> None:
    result = _run(
        ["serve", "--bind", "127.0.0.1:0", "--workers", "1"],
        {"DATABASE_URL": bridge_url, "DIRECTORY__URL": merchant_url},
        tmp_path,
    )
    assert result.returncode not in (0, 124, 137), (result.returncode, result.stderr)
    assert "SSO_BRIDGE_RUM_USERS" in result.stderr


def test_serve_refuses_an_out_of_date_schema(
    postgres_database: Any, merchant_url: str, tmp_path: Path
) -> None:
    fresh = postgres_database()
    result = _run(
        ["serve", "--bind", "127.0.0.1:0", "--workers", "1"],
        {
            "DATABASE_URL": fresh,
            "DIRECTORY__URL": merchant_url,
            "RUM_USERS": f'{{"{RUM_USER}": "{RUM_PASSWORD}"}}',
        },
        tmp_path,
    )
    assert result.returncode not in (0, 124, 137), (result.returncode, result.stderr)
    assert "sso-bridge db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_names_every_configuration_problem(tmp_path: Path) -> None:
    result = _run(
        ["serve", "--bind", "127.0.0.1:0"],
        {"RUM_ALLOWED_IPS": '["nowhere"]', "API_KEYS": "42"},
        tmp_path,
    )
    assert result.returncode not in (0, 124, 137), (result.returncode, result.stderr)
    for name in ("SSO_BRIDGE_DIRECTORY__URL", "SSO_BRIDGE_RUM_ALLOWED_IPS", "SSO_BRIDGE_API_KEYS"):
        assert name in result.stderr
    assert "Traceback" not in result.stderr


# --- identity import ------------------------------------------------------------------------


def test_identity_import_is_idempotent_and_all_or_nothing(
    postgres_database: Any, merchant_url: str, tmp_path: Path
) -> None:
    url = postgres_database()
    settings = {"DATABASE_URL": url, "DIRECTORY__URL": merchant_url}

    fresh = _run(
        ["identity", "import", str(_csv(tmp_path / "x.csv", [("1", _erid())]))], settings, tmp_path
    )
    assert fresh.returncode != 0
    assert "sso-bridge db upgrade" in fresh.stderr
    assert "Traceback" not in fresh.stderr

    assert _run(["db", "upgrade"], settings, tmp_path).returncode == 0
    e1, e2 = _erid(), _erid()
    good = _csv(tmp_path / "good.csv", [("1", e1), ("2", e2)])
    first = _run(["identity", "import", str(good)], settings, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "imported 2 pair(s); 0 already present" in first.stdout
    assert _rows(url) == {"1": e1, "2": e2}

    again = _run(["identity", "import", str(good)], settings, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "imported 0 pair(s); 2 already present" in again.stdout
    assert _rows(url) == {"1": e1, "2": e2}

    e3, e4 = _erid(), _erid()
    refused = {
        # a new, valid pair first: it must not be written either
        "second-erid-for-user": [("3", e3), ("1", _erid())],
        "second-user-for-erid": [("3", e3), ("4", e1)],
        "user-twice-in-file": [("3", e3), ("3", e4)],
        "erid-twice-in-file": [("3", e3), ("4", e3)],
        "same-pair-twice-in-file": [("3", e3), ("3", e3)],
        "empty-erid": [("3", e3), ("4", "")],
    }
    for name, pairs in refused.items():
        result = _run(
            ["identity", "import", str(_csv(tmp_path / f"{name}.csv", pairs))], settings, tmp_path
        )
        assert result.returncode != 0, (name, result.stdout)
        assert "nothing written" in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr, (name, result.stderr)
        assert _rows(url) == {"1": e1, "2": e2}, name

    short_row = tmp_path / "short.csv"
    short_row.write_text(f"userKey,externalReferenceId\n3,{e3}\n4\n", encoding="utf-8")
    result = _run(["identity", "import", str(short_row)], settings, tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert _rows(url) == {"1": e1, "2": e2}

    headers = _csv(tmp_path / "headers.csv", [("3", e3)], header="user,erid")
    result = _run(["identity", "import", str(headers)], settings, tmp_path)
    assert result.returncode != 0
    assert "userKey,externalReferenceId" in result.stderr
    assert _rows(url) == {"1": e1, "2": e2}


def test_identity_import_takes_the_directory_s_keys_and_refuses_bad_pairs(
    merchant_url: str, bridge_url: str, tmp_path: Path
) -> None:
    # Issue 8, finding 2: each of these pairs was imported.
    settings = {"DATABASE_URL": bridge_url, "DIRECTORY__URL": merchant_url}
    engine = make_engine(bridge_url)
    seven = IdentityMap(engine=engine).erid_for("7")  # user 7 signed in before the import
    taken = IdentityMap(engine=engine).erid_for("5")
    engine.dispose()
    before = _rows(bridge_url)
    good = _erid()
    bad = {
        "007": ("007", _erid()),
        "no-such-user": ("9999999", _erid()),
        "email-as-key": ("demo@example.com", _erid()),
        "erid-case-twin": ("3", taken.lower()),
        "zero-width-space": ("4", "ABC\u200bDEF"),
    }
    for name, pair in bad.items():
        result = _run(
            ["identity", "import", str(_csv(tmp_path / f"{name}.csv", [("2", good), pair]))],
            settings,
            tmp_path,
        )
        assert result.returncode != 0, (name, result.stdout)
        assert "nothing written" in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr, (name, result.stderr)
        assert _rows(bridge_url) == before, name
    # All problems of one file at once, each on the line it came from.
    everything = _csv(tmp_path / "all.csv", [("2", good), *bad.values()])
    result = _run(["identity", "import", str(everything)], settings, tmp_path)
    assert result.returncode != 0
    assert "5 of 6 pair(s) refused" in result.stderr, result.stderr
    for line, expected in [
        (3, f"user 7 already has ERID '{seven}'"),
        (4, "no user has this key ('9999999')"),
        (5, "an email is not a user key"),
        (6, "(ignoring case)"),
        (7, "ZERO WIDTH SPACE (U+200B)"),
    ]:
        [found] = [text for text in result.stderr.splitlines() if text.startswith(f"line {line}:")]
        assert "refused" in found and expected in found, found
    assert _rows(bridge_url) == before

    # --dry-run prints what it would do and writes nothing; then the real run does it.
    fine = _csv(tmp_path / "fine.csv", [("0002", good), ("7", seven)])
    dry = _run(["identity", "import", "--dry-run", str(fine)], settings, tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert f"line 2: add      userKey=2 (given as '0002') externalReferenceId={good}" in dry.stdout
    assert f"line 3: present  userKey=7 externalReferenceId={seven}" in dry.stdout
    assert "dry run: 1 to add, 1 already present, 0 refused; nothing written" in dry.stdout
    assert _rows(bridge_url) == before
    dry_bad = _run(["identity", "import", "--dry-run", str(everything)], settings, tmp_path)
    assert dry_bad.returncode != 0  # a file that would be refused fails the dry run too
    assert "dry run: 1 to add, 0 already present, 5 refused; nothing written" in dry_bad.stdout
    assert _rows(bridge_url) == before
    done = _run(["identity", "import", str(fine)], settings, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "imported 1 pair(s); 1 already present" in done.stdout
    assert _rows(bridge_url) == {**before, "2": good}


# --- identity show --------------------------------------------------------------------------


def test_identity_show_by_user_key_login_and_erid(
    merchant_url: str, bridge_url: str, tmp_path: Path
) -> None:
    engine = make_engine(bridge_url)
    erid = IdentityMap(engine=engine).erid_for("1")  # user 1 is demo@example.com
    engine.dispose()
    settings = {
        "DATABASE_URL": bridge_url,
        "DIRECTORY__URL": merchant_url,
        "DIRECTORY__LOGIN_COLUMNS": '["email", "username"]',
    }
    expected = f"userKey=1 externalReferenceId={erid}"
    for query in ("1", "demo@example.com", "DEMO@Example.com", "demo", erid):
        result = _run(["identity", "show", query], settings, tmp_path)
        assert result.returncode == 0, (query, result.stderr)
        assert result.stdout.strip() == expected, query

    # Known users without an ERID yet, by login and by key (user 4 is wp@example.com).
    for query in ("wp@example.com", "4"):
        result = _run(["identity", "show", query], settings, tmp_path)
        assert result.returncode == 0, (query, result.stderr)
        assert "userKey=4 has no externalReferenceId yet" in result.stdout, query
    assert _rows(bridge_url) == {"1": erid}  # showing never assigns

    unknown = _run(["identity", "show", "nobody@example.com"], settings, tmp_path)
    assert unknown.returncode != 0
    assert "no user 'nobody@example.com'" in unknown.stderr
