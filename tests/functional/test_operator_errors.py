"""Operator mistakes get one line (`sso-bridge: <what>: <why>. <fix>`, status 2), not tracebacks.

Each row is a mistake a merchant's engineer makes on day one, run through the real console
script for every command that used to print a 120-line traceback for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sso_bridge.db import make_engine
from tests.helpers import seed_users
from tests.servers import free_port

SCRIPT = Path(sys.prefix) / "bin" / "sso-bridge"
URL_PASSWORD = "pw-in-the-url-77"
RUM = '{"dr": "rum-secret-for-errors"}'
COMMANDS = [["db", "upgrade"], ["serve", "--bind", "127.0.0.1:0"], ["identity", "show", "1"]]


def _run(args: list[str], settings: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSO_BRIDGE_")}
    env.update({f"SSO_BRIDGE_{name}": value for name, value in settings.items()})
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return subprocess.run(
        ["timeout", "-k", "5", "60", str(SCRIPT), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.fixture
def merchant_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'merchant.sqlite3'}"
    seed_users(make_engine(url))
    return url


def _mistakes(tmp_path: Path) -> dict[str, tuple[dict[str, str], str]]:
    """name -> (settings, a word the one line must contain)."""
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text('database_url = "unterminated\n[directory\n', encoding="utf-8")
    pg = "postgresql://postgres:" + URL_PASSWORD + "@127.0.0.1"
    return {
        "misspelt database name": ({"DATABASE_URL": f"{pg}:5432/no_such_db_x1"}, "does not exist"),
        "closed port": ({"DATABASE_URL": f"{pg}:{free_port()}/x"}, "Connection refused"),
        "unknown scheme": (
            {"DATABASE_URL": f"postgressql://postgres:{URL_PASSWORD}@127.0.0.1/x"},
            "unknown scheme 'postgressql'",
        ),
        "wrong password": (
            {"DATABASE_URL": f"mysql://root:{URL_PASSWORD}@127.0.0.1:3306/test"},
            "Access denied",
        ),
        "malformed TOML": ({"CONFIG": str(bad_toml)}, "bad.toml"),
        "config file is a directory": ({"CONFIG": str(tmp_path)}, "cannot read"),
    }


MISTAKES = [
    "misspelt database name",
    "closed port",
    "unknown scheme",
    "wrong password",
    "malformed TOML",
    "config file is a directory",
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("mistake", MISTAKES)
def test_one_line_and_status_2(
    command: list[str], mistake: str, merchant_url: str, tmp_path: Path
) -> None:
    settings, expected = _mistakes(tmp_path)[mistake]
    settings = {"DIRECTORY__URL": merchant_url, "RUM_USERS": RUM, **settings}
    result = _run(command, settings, tmp_path)
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("sso-bridge: ")]
    assert len(ours) == 1, result.stderr[-3000:]
    assert expected in ours[0]
    # what failed: why. what to do
    assert ours[0].count(": ") >= 2 and ". " in ours[0]
    assert URL_PASSWORD not in result.stderr + result.stdout
    assert "rum-secret-for-errors" not in result.stderr + result.stdout


@pytest.mark.parametrize("mistake", MISTAKES)
def test_doctor_reports_without_a_traceback(
    mistake: str, merchant_url: str, tmp_path: Path
) -> None:
    settings, expected = _mistakes(tmp_path)[mistake]
    settings = {"DIRECTORY__URL": merchant_url, "RUM_USERS": RUM, **settings}
    result = _run(["doctor"], settings, tmp_path)
    output = result.stdout + result.stderr
    # The doctor's own contract: FAIL lines and status 1; what it cannot check is status 2.
    assert result.returncode in (1, 2), (result.returncode, output[-3000:])
    assert "Traceback" not in output
    assert expected in output
    assert URL_PASSWORD not in output


def test_debug_shows_the_traceback(tmp_path: Path, merchant_url: str) -> None:
    settings = {"DATABASE_URL": f"postgressql://postgres:{URL_PASSWORD}@127.0.0.1/x"}
    result = _run(
        ["--debug", "db", "upgrade"], {"DIRECTORY__URL": merchant_url, **settings}, tmp_path
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "NoSuchModuleError" in result.stderr


def test_a_real_bug_keeps_its_traceback(tmp_path: Path) -> None:
    """Only operator mistakes are translated: anything else is a bug and must stay visible."""
    from click.testing import CliRunner

    from sso_bridge.cli import main

    @main.command("explode-for-test", hidden=True)
    def explode() -> None:
        raise ZeroDivisionError("a bug")

    try:
        result = CliRunner().invoke(main, ["explode-for-test"])
    finally:
        main.commands.pop("explode-for-test")
    assert isinstance(result.exception, ZeroDivisionError)


def test_every_mistake_is_in_the_table(tmp_path: Path) -> None:
    assert sorted(_mistakes(tmp_path)) == sorted(MISTAKES)


