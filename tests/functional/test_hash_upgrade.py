"""Opt-in upgrade of legacy hashes to argon2id after a successful sign-in (PostgreSQL)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import text

from sso_bridge import create_app
from sso_bridge.db import make_engine
from tests.helpers import RUM_PASSWORD, RUM_USER, dr_login_request

XML = {
    "Authorization": "Basic " + base64.b64encode(f"{RUM_USER}:{RUM_PASSWORD}".encode()).decode(),
    "Content-Type": "text/xml",
}


def stored_hash(config: dict[str, Any], email: str) -> str:
    with make_engine(config["DIRECTORY"]["URL"]).connect() as connection:
        return str(
            connection.execute(
                text("select password from users where email = :e"), {"e": email}
            ).scalar_one()
        )


@pytest.mark.parametrize(
    ("email", "password", "legacy_prefix"),
    [
        ("bcrypt@example.com", "bcrypt-pw-1", "$2b$"),
        ("django@example.com", "django-pw-1", "pbkdf2_sha256$"),
        ("wp@example.com", "wp-pw-1", "$P$"),
    ],
)
def test_legacy_hash_is_rewritten_only_when_enabled(
    real_config: dict[str, Any], email: str, password: str, legacy_prefix: str
) -> None:
    before = stored_hash(real_config, email)
    assert before.startswith(legacy_prefix)
    plain = create_app(real_config).test_client()
    assert (
        b"<successful>true</successful>"
        in plain.post("/rum", data=dr_login_request(email, password), headers=XML).data
    )
    assert stored_hash(real_config, email) == before  # off by default

    config = {**real_config, "DIRECTORY": {**real_config["DIRECTORY"], "UPGRADE_HASHES": True}}
    client = create_app(config).test_client()
    wrong = client.post("/rum", data=dr_login_request(email, "not-it"), headers=XML)
    assert b"<successful>false</successful>" in wrong.data
    assert stored_hash(config, email) == before  # never on a failed sign-in
    assert (
        b"<successful>true</successful>"
        in client.post("/rum", data=dr_login_request(email, password), headers=XML).data
    )
    after = stored_hash(config, email)
    assert after.startswith("$argon2id$")
    # The user still signs in with the same password, now against the new hash.
    again = client.post("/rum", data=dr_login_request(email, password), headers=XML)
    assert b"<successful>true</successful>" in again.data
    assert stored_hash(config, email) == after
