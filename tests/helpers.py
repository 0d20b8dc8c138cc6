"""Shared test helpers: sample merchant users, configurations, RUM documents."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from passlib.hash import argon2, bcrypt, django_pbkdf2_sha256, phpass
from sqlalchemy import Boolean, Column, Engine, Integer, MetaData, String, Table

from sso_bridge.rum.samples import dr_login_request as dr_login_request

RUM_USER, RUM_PASSWORD = "dr", "rum-basic-secret-1"
API_KEY = "test-api-key-0123456789"
RUM_NS = "http://integration.digitalriver.com/RemoteUserManagement/1.0"

# Cheap parameters: these tests check behaviour, not hash cost.
FAST = {
    "argon2": argon2.using(type="ID", memory_cost=1024, rounds=1, parallelism=1),
    "bcrypt": bcrypt.using(rounds=4),
    "django": django_pbkdf2_sha256.using(rounds=1000),
    "phpass": phpass.using(rounds=7),
    # The library's real cost, where a test needs verifications to take real CPU time.
    "argon2-default": argon2.using(type="ID"),
}


@dataclass(frozen=True)
class SampleUser:
    email: str
    password: str
    scheme: str = "argon2"
    active: bool = True
    first_name: str = "Sam"
    last_name: str = "Ple"


SAMPLE_USERS = [
    SampleUser("demo@example.com", "123123"),
    SampleUser("bcrypt@example.com", "bcrypt-pw-1", "bcrypt"),
    SampleUser("django@example.com", "django-pw-1", "django"),
    SampleUser("wp@example.com", "wp-pw-1", "phpass"),
    SampleUser("jose@example.com", "contraseña-ñ", first_name="José", last_name="Núñez"),
    SampleUser("locked@example.com", "locked-pw-1", "bcrypt", active=False),
    SampleUser("student@university.edu", "student-pw-1", first_name="Stu", last_name="Dent"),
]


def users_table(metadata: MetaData) -> Table:
    return Table(
        "users",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("email", String(320), nullable=False, unique=True),
        Column("username", String(150), nullable=True),
        Column("password", String(255), nullable=False),
        Column("first_name", String(100)),
        Column("last_name", String(100)),
        Column("active", Boolean, nullable=False),
    )


def seed_users(engine: Engine, users: list[SampleUser] | None = None) -> None:
    metadata = MetaData()
    table = users_table(metadata)
    metadata.create_all(engine)
    with engine.begin() as connection:
        for user in SAMPLE_USERS if users is None else users:
            connection.execute(
                table.insert().values(
                    email=user.email,
                    username=user.email.split("@")[0],
                    password=FAST[user.scheme].hash(user.password),
                    first_name=user.first_name,
                    last_name=user.last_name,
                    active=user.active,
                )
            )


def bridge_config(
    *,
    merchant_url: str,
    bridge_url: str,
    redis_url: str | None = None,
    redis_prefix: str = "",
    **extra: Any,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "DATABASE_URL": bridge_url,
        "DIRECTORY": {
            "URL": merchant_url,
            "LOGIN_COLUMNS": ["email", "username"],
            "NEW_PASSWORD_SCHEME": "argon2",
        },
        "RUM_USERS": {RUM_USER: RUM_PASSWORD, "dr-next": "rum-basic-secret-2"},
        "API_KEYS": [API_KEY],
        "SITE_ID": "testsite",
        # Everything is logged during tests, so the whole-run log check sees DEBUG lines too.
        "LOG_LEVEL": "DEBUG",
    }
    if redis_url:
        config["REDIS_URL"] = redis_url
        config["REDIS_KEY_PREFIX"] = redis_prefix
    config.update(extra)
    return config


def with_simulator(config: dict[str, Any], simulator_url: str, **extra: Any) -> dict[str, Any]:
    """Point a bridge configuration at a DR simulator (its default API key and secret)."""
    return {
        **config,
        "DR_BASE_URL": simulator_url,
        "DR_API_KEY": "sim-api-key",
        "DR_API_SECRET": "sim-api-secret",
        "DR_CALLS_PER_SECOND": 500,
        **extra,
    }


def profile_request(
    *, login: str | None = None, erid: str | None = None, root: str = "GetUserProfileRequest"
) -> bytes:
    key = (f"<loginID>{login}</loginID>" if login else "") + (
        f"<externalReferenceID>{erid}</externalReferenceID>" if erid else ""
    )
    return (
        f'<{root} xmlns="{RUM_NS}"><userKey>{key}</userKey>'
        f'<sessionToken xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
        f"</{root}>"
    ).encode()


def validate_request(token: str, *, as_attribute: bool = False) -> bytes:
    if as_attribute:
        inner = (
            f"<extendedAttributes><item><name>sessionToken</name><value>{token}</value>"
            "<valueDataType>string</valueDataType></item></extendedAttributes>"
        )
    else:
        inner = f"<sessionToken>{token}</sessionToken>"
    return f'<ValidateSessionRequest xmlns="{RUM_NS}">{inner}</ValidateSessionRequest>'.encode()


def create_request(email: str, password: str, *, first: str = "New", last: str = "User") -> bytes:
    return (
        f'<CreateUserProfileRequest xmlns="{RUM_NS}"><userInfo><userKey>'
        f"<userID>9001</userID><loginID>{email}</loginID></userKey>"
        f"<firstName>{first}</firstName><lastName>{last}</lastName><email>{email}</email>"
        f"<locale>en_US</locale></userInfo><password>{password}</password>"
        "</CreateUserProfileRequest>"
    ).encode()


# Secrets the test suite uses: none may ever appear in a log line (checked over the whole run
# by tests/conftest.py, and in every gunicorn's output by tests/servers.py).
STATIC_SECRETS = {
    RUM_PASSWORD,
    "rum-basic-secret-2",
    API_KEY,
    "sim-api-secret",
    "demo-rum-password",
    *(user.password for user in SAMPLE_USERS),
}
ISSUED_SECRETS: set[str] = set()


def remember_secret(value: str) -> str:
    """Register a secret handed out during a test (a token) so the log check looks for it."""
    ISSUED_SECRETS.add(value)
    return value


def leaked_secrets(text: str) -> list[str]:
    return sorted(
        secret for secret in STATIC_SECRETS | ISSUED_SECRETS if len(secret) >= 6 and secret in text
    )


def rum_answer(client: FlaskClient, body: bytes, headers: dict[str, str]) -> ET.Element:
    """POST a RUM request to the app; its XML answer (which must be a 200, as DR expects)."""
    response = client.post("/rum", data=body, headers=headers)
    assert response.status_code == 200, response.data
    return ET.fromstring(response.data)


def leaf(root: ET.Element, path: str) -> str | None:
    """The text of the element at ``path`` in a RUM answer, None if absent."""
    found = root.find(path)
    return None if found is None else found.text
