"""The four RUM operations end to end through the app, on real PostgreSQL and Redis."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from sso_bridge.db import make_engine
from sso_bridge.schema import identities
from tests.helpers import (
    API_KEY,
    RUM_NS,
    RUM_PASSWORD,
    RUM_USER,
    create_request,
    dr_login_request,
    profile_request,
    remember_secret,
    validate_request,
)

BASIC = {
    "Authorization": "Basic " + base64.b64encode(f"{RUM_USER}:{RUM_PASSWORD}".encode()).decode()
}
XML = {**BASIC, "Content-Type": "text/xml; charset=utf-8"}
BEARER = {"Authorization": f"Bearer {API_KEY}"}


def rum(client: FlaskClient, body: bytes) -> ET.Element:
    response = client.post("/rum", data=body, headers=XML)
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/xml"
    return ET.fromstring(response.data)


def leaf(root: ET.Element, path: str) -> str | None:
    found = root.find(path)
    return None if found is None else found.text


def erid_count(config: dict[str, Any]) -> int:
    with make_engine(config["DATABASE_URL"]).connect() as connection:
        return int(connection.execute(select(func.count()).select_from(identities)).scalar_one())


def test_dr_documented_login_signs_in_and_returns_a_stable_erid(client: FlaskClient) -> None:
    root = rum(client, dr_login_request("demo@example.com", "123123"))
    assert root.tag == f"{{{RUM_NS}}}LoginResponse"
    assert leaf(root, "successful") == "true"
    erid = leaf(root, "userKey/externalReferenceID")
    assert erid and len(erid) == 36 and "demo" not in erid.lower()
    assert leaf(root, "userKey/loginID") == "demo@example.com"
    assert leaf(root, "userKey/siteID") == "testsite"

    again = rum(client, dr_login_request("DEMO@Example.com", "123123"))
    assert leaf(again, "userKey/externalReferenceID") == erid

    profile = rum(client, profile_request(login="demo@example.com"))
    assert profile.tag == f"{{{RUM_NS}}}GetUserProfileResponse"
    assert leaf(profile, "userInfo/userKey/externalReferenceID") == erid
    assert leaf(profile, "userInfo/email") == "demo@example.com"
    assert leaf(profile, "errorMessage") in ("", None)
    by_erid = rum(client, profile_request(erid=erid, root="GetUserRequest"))
    assert by_erid.tag == f"{{{RUM_NS}}}GetUserResponse"
    assert leaf(by_erid, "userInfo/userKey/loginID") == "demo@example.com"

    session = client.post("/v1/sessions", json={"login": "demo@example.com"}, headers=BEARER)
    assert session.status_code == 201
    token = remember_secret(session.get_json()["token"])
    for as_attribute in (False, True):
        valid = rum(client, validate_request(token, as_attribute=as_attribute))
        assert leaf(valid, "successful") == "true"
        assert leaf(valid, "userKey/externalReferenceID") == erid


@pytest.mark.parametrize(
    ("login", "password"),
    [
        ("bcrypt@example.com", "bcrypt-pw-1"),
        ("django@example.com", "django-pw-1"),
        ("wp@example.com", "wp-pw-1"),
        ("jose@example.com", "contraseña-ñ"),
        ("jose", "contraseña-ñ"),  # second login column (username)
    ],
)
def test_each_stored_hash_format_signs_in(client: FlaskClient, login: str, password: str) -> None:
    root = rum(client, dr_login_request(login, password))
    assert leaf(root, "successful") == "true"


def test_unknown_user_wrong_password_and_inactive_are_byte_identical(client: FlaskClient) -> None:
    bodies = {
        client.post("/rum", data=dr_login_request(login, password), headers=XML).data
        for login, password in [
            ("nobody@example.com", "whatever"),
            ("demo@example.com", "wrong-password"),
            ("locked@example.com", "wrong-password"),
        ]
    }
    assert len(bodies) == 1
    root = ET.fromstring(bodies.pop())
    assert (leaf(root, "successful"), leaf(root, "errorCode"), leaf(root, "errorMessage")) == (
        "false",
        "5",
        "Invalid login",
    )


def test_inactive_with_right_password_is_told_not_active(client: FlaskClient) -> None:
    root = rum(client, dr_login_request("locked@example.com", "locked-pw-1"))
    assert (leaf(root, "successful"), leaf(root, "errorCode")) == ("false", "6")


def test_profile_of_unknown_erid_and_inactive_user(client: FlaskClient) -> None:
    for body in (
        profile_request(erid="00000000-0000-0000-0000-000000000000"),
        profile_request(login="locked@example.com"),
    ):
        root = rum(client, body)
        assert leaf(root, "errorMessage") == "User not active"
        assert root.find("userInfo") is not None and leaf(root, "userInfo/email") is None


def test_sessions_validate_until_revoked(client: FlaskClient) -> None:
    token = client.post(
        "/v1/sessions", json={"login": "demo@example.com"}, headers=BEARER
    ).get_json()["token"]
    remember_secret(token)
    assert client.delete(f"/v1/sessions/{token}", headers=BEARER).status_code == 204
    root = rum(client, validate_request(token))
    assert (leaf(root, "successful"), leaf(root, "errorCode")) == ("false", "7")
    root = rum(client, validate_request("not-a-token"))
    assert leaf(root, "successful") == "false"


def test_registration_creates_user_and_a_retry_gets_the_same_erid(
    client: FlaskClient, real_config: dict[str, Any]
) -> None:
    created = rum(client, create_request("new.shopper@example.com", "n3w-pass"))
    assert created.tag == f"{{{RUM_NS}}}CreateUserProfileResponse"
    assert leaf(created, "successful") == "true"
    erid = leaf(created, "userKey/externalReferenceID")
    retried = rum(client, create_request("New.Shopper@example.com", "n3w-pass"))
    assert leaf(retried, "userKey/externalReferenceID") == erid
    other_password = rum(client, create_request("new.shopper@example.com", "different"))
    assert (leaf(other_password, "successful"), leaf(other_password, "errorMessage")) == (
        "false",
        "Email already used",
    )
    taken = rum(client, create_request("demo@example.com", "anything"))
    assert leaf(taken, "errorMessage") == "Email already used"
    login = rum(client, dr_login_request("new.shopper@example.com", "n3w-pass"))
    assert leaf(login, "userKey/externalReferenceID") == erid
    with make_engine(real_config["DIRECTORY"]["URL"]).connect() as connection:
        stored = connection.execute(
            text("select password, first_name from users where email = 'new.shopper@example.com'")
        ).one()
    assert stored.password.startswith("$argon2id$") and stored.first_name == "New"


def _state(config: dict[str, Any]) -> tuple[Any, ...]:
    with make_engine(config["DIRECTORY"]["URL"]).connect() as connection:
        users = connection.execute(text("select id, email, password from users order by id")).all()
    return tuple(users), erid_count(config)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<LoginRequest xmlns="http://integration.digitalriver.com/RemoteUserManagement/1.0">
<userKey><loginID>&lol2;</loginID></userKey><password>x</password></LoginRequest>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<CreateUserProfileRequest xmlns="http://integration.digitalriver.com/RemoteUserManagement/1.0">
<userInfo><email>&xxe;</email></userInfo><password>x</password></CreateUserProfileRequest>"""
DTD_ONLY = b"""<?xml version="1.0"?><!DOCTYPE LoginRequest SYSTEM "http://example.com/x.dtd">
<CreateUserProfileRequest xmlns="http://integration.digitalriver.com/RemoteUserManagement/1.0">
<userInfo><email>dtd@example.com</email></userInfo><password>x</password>
</CreateUserProfileRequest>"""


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (BILLION_LAUGHS, XML, 400, "invalid-request"),
        (XXE, XML, 400, "invalid-request"),
        (DTD_ONLY, XML, 400, "invalid-request"),
        (b"<not-closed", XML, 400, "invalid-request"),
        (create_request("x" * 70000 + "@example.com", "pw"), XML, 413, "payload-too-large"),
        (
            create_request("json@example.com", "pw"),
            {**BASIC, "Content-Type": "application/json"},
            415,
            "unsupported-media-type",
        ),
        (
            create_request("anon@example.com", "pw"),
            {"Content-Type": "text/xml"},
            401,
            "invalid_token",
        ),
        (
            create_request("badpw@example.com", "pw"),
            {
                "Authorization": "Basic " + base64.b64encode(b"dr:wrong").decode(),
                "Content-Type": "text/xml",
            },
            401,
            "invalid_token",
        ),
    ],
)
def test_refusals_have_the_right_status_and_change_nothing(
    client: FlaskClient,
    real_config: dict[str, Any],
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    rum(client, dr_login_request("demo@example.com", "123123"))  # one identity exists
    before = _state(real_config)
    response = client.post("/rum", data=body, headers=headers)
    assert response.status_code == status
    assert response.get_json()["errors"]["error"][0]["code"] == code
    assert _state(real_config) == before


def test_second_rum_credential_works_for_rotation(client: FlaskClient) -> None:
    headers = {
        "Authorization": "Basic " + base64.b64encode(b"dr-next:rum-basic-secret-2").decode(),
        "Content-Type": "application/xml",
    }
    response = client.post(
        "/rum", data=dr_login_request("demo@example.com", "123123"), headers=headers
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/rum", 405, "method-not-allowed"),
        ("get", "/nowhere", 404, "resource-not-found"),
        ("post", "/v1/sessions", 401, "invalid_token"),
    ],
)
def test_http_errors_use_dr_error_format(
    client: FlaskClient, method: str, path: str, status: int, code: str
) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.get_json() == {
        "errors": {
            "error": [
                {
                    "code": code,
                    "description": response.get_json()["errors"]["error"][0]["description"],
                }
            ]
        }
    }


def _merchant_emails(config: dict[str, Any]) -> list[str]:
    with make_engine(config["DIRECTORY"]["URL"]).connect() as connection:
        return list(connection.execute(text("select email from users order by id")).scalars())


def test_an_email_postgresql_matches_case_insensitively_is_already_used(
    client: FlaskClient, real_config: dict[str, Any]
) -> None:
    # Python's lower() of "İ" is "i" + U+0307, PostgreSQL's is "i": the bridge must not judge
    # "ALİCE" new while the merchant's own site finds two accounts for it.
    created = rum(client, create_request("alice@example.com", "alice-pw-1"))
    assert leaf(created, "successful") == "true"
    before = _merchant_emails(real_config)
    for email in ("ALİCE@example.com", "ALICE@EXAMPLE.COM", "Alİce@Example.com"):
        answer = rum(client, create_request(email, "another-pw-1"))
        assert (leaf(answer, "successful"), leaf(answer, "errorMessage")) == (
            "false",
            "Email already used",
        ), email
    assert _merchant_emails(real_config) == before


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("\uff42ob@example.com", "Email is not in Unicode normal form NFKC"),  # fullwidth b
        ("\u0430lice@example.com", "Email mixes writing systems"),  # Cyrillic a, Latin rest
        ("demo@example.com\u200b", "Email contains invisible or control characters"),
        ("de\u202emo@example.com", "Email contains invisible or control characters"),
        ("x" * 250 + "@example.com", "Email is too long"),
    ],
)
def test_look_alike_emails_are_refused_with_code_8_and_change_nothing(
    client: FlaskClient, real_config: dict[str, Any], email: str, message: str
) -> None:
    before = _state(real_config)
    answer = rum(client, create_request(email, "look-alike-pw-1"))
    outcome = (leaf(answer, "successful"), leaf(answer, "errorCode"), leaf(answer, "errorMessage"))
    assert outcome == ("false", "8", message)
    assert _state(real_config) == before
