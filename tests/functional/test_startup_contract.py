"""One start-up contract for every way of running the bridge (sso_bridge.startup).

What the Dockerfile runs (`gunicorn -c config/gunicorn.conf.py "sso_bridge:create_app()"`) used to
start on an empty database and without RUM credentials, report ready, and answer 500 to every
call. Now the gunicorn master refuses with one line and status 2, `create_app()` refuses in any
WSGI server, and /readyz answers 503 whenever a start would be refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import text

from sso_bridge import create_app
from sso_bridge.db import make_engine
from sso_bridge.schema import HEAD, upgrade
from sso_bridge.startup import StartupRefused
from tests.helpers import seed_users
from tests.servers import ROOT, config_environment, free_port


def _gunicorn(config: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SSO_BRIDGE_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    return subprocess.run(
        [
            "timeout",
            "-k",
            "5",
            "60",
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "config" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{free_port()}",
            "--workers",
            "2",
            "sso_bridge:create_app()",
        ],
        env={**inherited, **config_environment(config)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def _fresh(postgres_database: Any, *, migrated: bool) -> tuple[str, str]:
    merchant, bridge = postgres_database(), postgres_database()
    seed_users(make_engine(merchant))
    if migrated:
        upgrade(make_engine(bridge))
    return merchant, bridge


def _assert_one_line_refusal(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    ours = [line for line in result.stderr.splitlines() if line.startswith("sso-bridge: ")]
    assert len(ours) == 1, result.stderr[-2000:]
    for needle in needles:
        assert needle in ours[0]
    assert "Traceback" not in result.stderr
    # The master refused before forking: no worker ever booted, so none looped.
    assert "Booting worker" not in result.stderr


def test_gunicorn_master_refuses_an_unmigrated_database(postgres_database: Any) -> None:
    merchant, bridge = _fresh(postgres_database, migrated=False)
    result = _gunicorn(
        {"DATABASE_URL": bridge, "DIRECTORY": {"URL": merchant}, "RUM_USERS": {"dr": "x" * 12}}
    )
    _assert_one_line_refusal(result, "schema is at version 0", "sso-bridge db upgrade")


def test_gunicorn_master_refuses_without_rum_credentials(postgres_database: Any) -> None:
    merchant, bridge = _fresh(postgres_database, migrated=True)
    result = _gunicorn({"DATABASE_URL": bridge, "DIRECTORY": {"URL": merchant}})
    _assert_one_line_refusal(result, "no RUM credentials", "SSO_BRIDGE_RUM_USERS")


def test_gunicorn_master_names_an_unreachable_database(postgres_database: Any) -> None:
    merchant, _ = _fresh(postgres_database, migrated=False)
    closed = f"postgresql://postgres:pw-in-url-9@127.0.0.1:{free_port()}/x"
    result = _gunicorn(
        {"DATABASE_URL": closed, "DIRECTORY": {"URL": merchant}, "RUM_USERS": {"dr": "x" * 12}}
    )
    _assert_one_line_refusal(result, "database:", "Connection refused")
    assert "pw-in-url-9" not in result.stderr + result.stdout


def test_create_app_refuses_an_unmigrated_database(
    sqlite_config: dict[str, Any], tmp_path: Any
) -> None:
    config = {**sqlite_config, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    with pytest.raises(StartupRefused, match="sso-bridge db upgrade"):
        create_app(config)


@pytest.mark.parametrize("mode", [None, "production"])
def test_create_app_refuses_without_rum_credentials(
    sqlite_config: dict[str, Any], mode: str | None
) -> None:
    config = {k: v for k, v in sqlite_config.items() if k != "RUM_USERS"}
    if mode:
        config["MODE"] = mode
    with pytest.raises(StartupRefused, match="SSO_BRIDGE_RUM_USERS"):
        create_app(config)


@pytest.mark.parametrize("mode", ["demo", "test"])
def test_demo_and_test_modes_may_run_without_rum_credentials(
    sqlite_config: dict[str, Any], mode: str
) -> None:
    config = {k: v for k, v in sqlite_config.items() if k != "RUM_USERS"}
    client = create_app({**config, "MODE": mode}).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert ready.json is not None
    assert ready.json["checks"]["rum_credentials"] == "ok"


def test_readyz_is_503_when_the_schema_falls_behind(real_config: dict[str, Any]) -> None:
    client = create_app(real_config).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert ready.json is not None
    assert ready.json["checks"]["bridge_schema"] == "ok"
    engine = make_engine(real_config["DATABASE_URL"])
    with engine.begin() as connection:  # as if restored from a backup older than this release
        connection.execute(text("UPDATE sso_bridge_schema SET version = 0"))
    engine.dispose()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json is not None
    assert ready.json["checks"]["bridge_schema"] == "unavailable"


def test_a_newer_schema_keeps_the_previous_release_running(real_config: dict[str, Any]) -> None:
    """Rolling deploys: `db upgrade` runs first, then old pods keep serving on the new schema."""
    engine = make_engine(real_config["DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE sso_bridge_schema SET version = {HEAD + 1}"))
    engine.dispose()
    ready = create_app(real_config).test_client().get("/readyz")
    assert ready.status_code == 200, ready.json


def test_mode_must_be_known(sqlite_config: dict[str, Any]) -> None:
    from sso_bridge.settings import SettingsError

    with pytest.raises(SettingsError, match="SSO_BRIDGE_MODE"):
        create_app({**sqlite_config, "MODE": "staging"})
