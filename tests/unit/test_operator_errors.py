"""sso_bridge.operator_errors: each infrastructure error becomes one scrubbed line."""

from __future__ import annotations

import tomllib

import pytest
import redis
from sqlalchemy.exc import ArgumentError

from sso_bridge.operator_errors import describe, scrub
from sso_bridge.settings import SettingsError
from sso_bridge.store import StoreUnavailable


def _toml_error() -> tomllib.TOMLDecodeError:
    try:
        tomllib.loads("a = ")
    except tomllib.TOMLDecodeError as exc:
        return exc
    raise AssertionError("parsed")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (PermissionError(13, "Permission denied", "/etc/sso-bridge.toml"), "Permission denied"),
        (FileNotFoundError(2, "No such file or directory", "/nowhere.toml"), "/nowhere.toml"),
        (
            redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."),
            "Redis",
        ),
        (StoreUnavailable("timeout"), "SSO_BRIDGE_REDIS_URL"),
        (_toml_error(), "not valid TOML"),
        (SettingsError(["SSO_BRIDGE_A: bad", "SSO_BRIDGE_B: worse"]), "SSO_BRIDGE_B: worse"),
    ],
)
def test_known_errors_become_one_line(error: BaseException, expected: str) -> None:
    line = describe(error)
    assert line is not None
    assert "\n" not in line
    assert expected in line
    assert ". " in line  # why. what to do


def test_a_bug_is_not_described() -> None:
    assert describe(ZeroDivisionError("x")) is None
    assert describe(KeyError("x")) is None


def test_a_url_in_an_error_is_never_repeated() -> None:
    error = ArgumentError("Could not parse SQLAlchemy URL from string 'pg://u:s3cr3t-pw@h/db'")
    line = describe(error)
    assert line is not None and "s3cr3t-pw" not in line


def test_scrub_removes_url_passwords_and_secret_settings() -> None:
    environ = {
        "SSO_BRIDGE_DR_API_SECRET": "dr-secret-value",
        "SSO_BRIDGE_RUM_USERS": '{"dr": "rum-pass-value"}',
        "SSO_BRIDGE_REDIS_URL": "redis://:redis-pass-value@cache:6379/0",
        "SSO_BRIDGE_REDIS_KEY_PREFIX": "sso-bridge:",  # not a secret: left alone
    }
    text = (
        "postgresql://bridge:db-pass-value@db/x dr-secret-value rum-pass-value "
        "redis-pass-value sso-bridge:key"
    )
    cleaned = scrub(text, environ)
    for secret in ("db-pass-value", "dr-secret-value", "rum-pass-value", "redis-pass-value"):
        assert secret not in cleaned
    assert "postgresql://bridge:***@db/x" in cleaned
    assert "sso-bridge:key" in cleaned
