"""`sso-bridge config`: every setting's effective value and source, secrets masked."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from sso_bridge.cli import main
from sso_bridge.settings import setting_names
from sso_bridge.settings_view import mask_url

SECRETS = {
    "db": "db-pw-c0ffee",
    "shop": "shop-pw-feed",
    "redis": "redis-pw-f00d",
    "rum": "rum-pw-d00d",
    "api": "api-key-beef",
    "dr": "dr-secret-cafe",
    "aes": "ab" * 16,
}
TOML = f"""
database_url = "postgresql://bridge:{SECRETS["db"]}@db.internal/bridge"
session_ttl = 900

[directory]
url = "mysql://shop:{SECRETS["shop"]}@127.0.0.1/shop"
table = "accounts"
"""


@pytest.fixture
def environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("SSO_BRIDGE_"):
            monkeypatch.delenv(name)
    config = tmp_path / "sso-bridge.toml"
    config.write_text(TOML, encoding="utf-8")
    return {
        "SSO_BRIDGE_CONFIG": str(config),
        "SSO_BRIDGE_SESSION_TTL": "1200",  # wins over the file
        "SSO_BRIDGE_REDIS_URL": f"redis://:{SECRETS['redis']}@127.0.0.1:6379/0",
        "SSO_BRIDGE_RUM_USERS": json.dumps({"dr": SECRETS["rum"]}),
        "SSO_BRIDGE_API_KEYS": json.dumps([SECRETS["api"], SECRETS["api"] + "2"]),
        "SSO_BRIDGE_DR_API_KEY": "dr-key",
        "SSO_BRIDGE_DR_API_SECRET": SECRETS["dr"],
        "SSO_BRIDGE_RUM_PASSWORD_ENCRYPTION__KEY": "hex:" + SECRETS["aes"],
    }


def _config(environ: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(main, ["config", *args], env=environ)
    assert result.exit_code == 0, result.output
    return result.output


def test_json_shows_each_value_with_its_source_and_masks_secrets(
    environ: dict[str, str],
) -> None:
    shown = json.loads(_config(environ, "--json"))
    assert list(shown) == setting_names()  # every setting, once, in order
    assert shown["SSO_BRIDGE_SESSION_TTL"] == {"value": 1200, "source": "environment"}
    assert shown["SSO_BRIDGE_DIRECTORY__TABLE"] == {"value": "accounts", "source": "file"}
    assert shown["SSO_BRIDGE_LOG_LEVEL"] == {"value": "INFO", "source": "default"}
    assert shown["SSO_BRIDGE_DATABASE_URL"] == {
        "value": "postgresql://bridge:***@db.internal/bridge",
        "source": "file",
    }
    assert shown["SSO_BRIDGE_DIRECTORY__URL"]["value"] == "mysql://shop:***@127.0.0.1/shop"
    assert shown["SSO_BRIDGE_REDIS_URL"]["value"] == "redis://:***@127.0.0.1:6379/0"
    assert shown["SSO_BRIDGE_RUM_USERS"]["value"] == {"dr": "***"}
    assert shown["SSO_BRIDGE_API_KEYS"]["value"] == ["***", "***"]
    assert shown["SSO_BRIDGE_DR_API_SECRET"]["value"] == "***"
    assert shown["SSO_BRIDGE_RUM_PASSWORD_ENCRYPTION__KEY"]["value"] == "***"
    assert shown["SSO_BRIDGE_DIRECTORY__API_TOKEN"] == {"value": None, "source": "default"}


def test_text_is_one_line_per_setting_and_shows_no_secret(environ: dict[str, str]) -> None:
    text = _config(environ)
    lines = text.splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == setting_names()
    ttl = next(line for line in lines if line.startswith("SSO_BRIDGE_SESSION_TTL "))
    assert ttl.split() == ["SSO_BRIDGE_SESSION_TTL", "=", "1200", "(environment)"]
    for secret in SECRETS.values():
        assert secret not in text


def test_invalid_configuration_is_refused_with_every_problem(environ: dict[str, str]) -> None:
    environ["SSO_BRIDGE_SESION_TTL"] = "5"
    result = CliRunner().invoke(main, ["config"], env=environ)
    assert result.exit_code == 2
    assert "SSO_BRIDGE_SESION_TTL: unknown setting (did you mean SESSION_TTL?)" in result.output
    for secret in SECRETS.values():
        assert secret not in result.output


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:///sso-bridge.sqlite3", "sqlite:///sso-bridge.sqlite3"),
        ("postgresql://bridge@db/bridge", "postgresql://bridge@db/bridge"),
        ("postgresql://u:p%40ss@db:5432/b", "postgresql://u:***@db:5432/b"),
        ("postgresql://db/b?user=u&password=pw&sslmode=require",
         "postgresql://db/b?user=u&password=***&sslmode=require"),
        ("redis+sentinel://:pw@h1:26379,h2:26379/mymaster/0",
         "redis+sentinel://:***@h1:26379,h2:26379/mymaster/0"),
        ("https://user:pw@login.internal/api", "https://user:***@login.internal/api"),
    ],
)
def test_mask_url_hides_only_the_password(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_values_a_preset_fills_say_so_and_explicit_settings_still_win(
    environ: dict[str, str],
) -> None:
    environ = {**environ, "SSO_BRIDGE_DIRECTORY__PRESET": "wordpress"}
    shown = json.loads(_config(environ, "--json"))
    assert shown["SSO_BRIDGE_DIRECTORY__PASSWORD_COLUMN"] == {
        "value": "user_pass",
        "source": "preset wordpress",
    }
    assert shown["SSO_BRIDGE_DIRECTORY__TABLE"] == {"value": "accounts", "source": "file"}
    assert shown["SSO_BRIDGE_DIRECTORY__PRESET"]["source"] == "environment"
    assert shown["SSO_BRIDGE_DIRECTORY__API_TIMEOUT"]["source"] == "default"
