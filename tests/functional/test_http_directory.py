"""The HTTP user directory: a fake merchant login API over real HTTP, and the whole bridge on it.

`FakeLoginApi` implements the contract documented in `sso_bridge.directory.http` as a small Flask
app on a free local port (werkzeug's server in a thread). The bridge runs on real PostgreSQL and
Redis for its own state, with ``DIRECTORY__BACKEND=http`` and no user database at all.
"""

from __future__ import annotations

import base64
import hmac
import itertools
import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from flask import Flask, Response, jsonify, request
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import BaseWSGIServer, make_server

from sso_bridge import create_app
from sso_bridge.db import make_engine
from sso_bridge.directory.base import DirectoryUnavailable, EmailTaken, NewUser
from sso_bridge.directory.http import HttpUserDirectory
from sso_bridge.doctor import run_doctor
from sso_bridge.schema import identities, registrations, upgrade
from sso_bridge.settings import SettingsError, load_settings
from sso_bridge.simulator.server import QuietRequestHandler
from tests.conftest import REDIS_URL
from tests.helpers import (
    RUM_NS,
    RUM_PASSWORD,
    RUM_USER,
    bridge_config,
    create_request,
    dr_login_request,
    leaf,
    profile_request,
    rum_answer,
)

API_TOKEN = "merchant-login-api-token-7"
BASIC = {
    "Authorization": "Basic " + base64.b64encode(f"{RUM_USER}:{RUM_PASSWORD}".encode()).decode()
}
XML = {**BASIC, "Content-Type": "text/xml; charset=utf-8"}


# --- the fake merchant login API --------------------------------------------------------------


@dataclass(frozen=True)
class ApiUser:
    key: str
    login: str
    email: str
    password: str
    first_name: str = "Ann"
    last_name: str = "Lee"
    phone: str | None = None
    locale: str | None = "en_US"
    active: bool = True

    def json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "login": self.login,
            "email": self.email,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "phone": self.phone,
            "locale": self.locale,
            "active": self.active,
        }


SEED = [
    ApiUser("101", "ann", "ann@example.com", "ann-pw-1", phone="+1 555 0101"),
    ApiUser("102", "bob", "bob@example.com", "bob-pw-1", first_name="Bob", last_name="Ray"),
    ApiUser("103", "old", "old@example.com", "old-pw-1", active=False),
]


class FakeLoginApi:
    """The merchant's login API as the contract describes it, with faults on demand.

    ``fault``: None (healthy), ``"error"`` (every call answers 500) or ``"slow"`` (every call
    sleeps ``slow_seconds`` first). ``calls`` records (method, path) of every request received.
    """

    def __init__(self, users: list[ApiUser], *, token: str = API_TOKEN) -> None:
        self.users = {user.key: user for user in users}
        self.token = token
        self.fault: str | None = None
        self.slow_seconds = 1.0
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[bytes] = []
        self._keys = itertools.count(500)
        self._lock = threading.Lock()
        self.app = self._build()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def _match(self, field: str, value: str) -> list[ApiUser]:
        wanted = value.strip().lower()
        return [u for u in self.users.values() if getattr(u, field).lower() == wanted]

    def _by_login(self, login: str) -> ApiUser | None:
        found = self._match("login", login) or self._match("email", login)
        return found[0] if found else None

    def _build(self) -> Flask:
        app = Flask("fake-login-api")

        @app.before_request
        def gate() -> Response | tuple[Response, int] | None:
            self.calls.append((request.method, request.path))
            self.bodies.append(request.get_data())
            if self.fault == "error":
                return jsonify({"error": "boom"}), 500
            if self.fault == "slow":
                time.sleep(self.slow_seconds)
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return jsonify({"error": "forbidden"}), 403
            return None

        @app.post("/authenticate")
        def authenticate() -> tuple[Response, int]:
            body = request.get_json()
            user = self._by_login(str(body.get("login", "")))
            password = str(body.get("password", ""))
            # Same work for an unknown login as for a wrong password (the contract asks it).
            stored = user.password if user else "-no-such-user-"
            if hmac.compare_digest(password.encode(), stored.encode()) and user is not None:
                return jsonify({"user": user.json()}), 200
            return jsonify({"error": "invalid credentials"}), 401

        @app.get("/users/<key>")
        def by_key(key: str) -> tuple[Response, int]:
            user = self.users.get(key)
            return (jsonify({"user": user.json()}), 200) if user else (jsonify({}), 404)

        @app.get("/users")
        def lookup() -> tuple[Response, int]:
            if "login" in request.args:
                user = self._by_login(request.args["login"])
            else:
                found = self._match("email", request.args.get("email", ""))
                user = found[0] if found else None
            return (jsonify({"user": user.json()}), 200) if user else (jsonify({}), 404)

        @app.post("/users")
        def create() -> tuple[Response, int]:
            body = request.get_json()
            with self._lock:
                if self._match("email", body["email"]) or self._by_login(body["login"]):
                    return jsonify({"error": "email taken"}), 409
                user = ApiUser(
                    key=str(next(self._keys)),
                    login=body["login"],
                    email=body["email"],
                    password=body["password"],
                    first_name=body.get("firstName") or "",
                    last_name=body.get("lastName") or "",
                    phone=body.get("phone"),
                    locale=body.get("locale"),
                )
                self.users[user.key] = user
            return jsonify({"user": user.json()}), 201

        return app

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}/api"

    def start(self) -> FakeLoginApi:
        # Served under /api: the bridge must keep the base URL's path.
        root = DispatcherMiddleware(NotFound(), {"/api": self.app})
        self._server = make_server(
            "127.0.0.1", 0, root, threaded=True, request_handler=QuietRequestHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
        self._thread = None


@pytest.fixture
def login_api() -> Iterator[FakeLoginApi]:
    api = FakeLoginApi(SEED).start()
    yield api
    api.stop()


@pytest.fixture
def http_config(
    postgres_database: Any, redis_prefix: str, login_api: FakeLoginApi
) -> dict[str, Any]:
    bridge = postgres_database()
    upgrade(make_engine(bridge))
    config = bridge_config(
        merchant_url="", bridge_url=bridge, redis_url=REDIS_URL, redis_prefix=redis_prefix
    )
    config["DIRECTORY"] = {
        "BACKEND": "http",
        "API_URL": login_api.url,
        "API_TOKEN": API_TOKEN,
        "API_TIMEOUT": 0.5,
    }
    return config


@pytest.fixture
def bridge(http_config: dict[str, Any]) -> FlaskClient:
    return create_app(http_config).test_client()


def rum(client: FlaskClient, body: bytes) -> ET.Element:
    return rum_answer(client, body, XML)


def counts(config: dict[str, Any]) -> tuple[int, int]:
    with make_engine(config["DATABASE_URL"]).connect() as connection:
        return (
            int(connection.execute(select(func.count()).select_from(identities)).scalar_one()),
            int(connection.execute(select(func.count()).select_from(registrations)).scalar_one()),
        )


# --- the whole bridge on the login API -------------------------------------------------------


def test_login_profile_and_registration_through_the_login_api(bridge: FlaskClient) -> None:
    login = rum(bridge, dr_login_request("ann@example.com", "ann-pw-1"))
    assert login.tag == f"{{{RUM_NS}}}LoginResponse"
    assert leaf(login, "successful") == "true"
    erid = leaf(login, "userKey/externalReferenceID")
    assert erid and len(erid) == 36
    assert leaf(login, "userKey/loginID") == "ann@example.com"

    again = rum(bridge, dr_login_request("ANN", "ann-pw-1"))  # the API matches logins its way
    assert leaf(again, "userKey/externalReferenceID") == erid

    for request_body in (profile_request(login="ann@example.com"), profile_request(erid=erid)):
        profile = rum(bridge, request_body)
        assert leaf(profile, "userInfo/userKey/externalReferenceID") == erid
        assert leaf(profile, "userInfo/email") == "ann@example.com"
        assert leaf(profile, "userInfo/firstName") == "Ann"
        assert leaf(profile, "userInfo/homePhone") == "+1 555 0101"

    created = rum(bridge, create_request("new@example.com", "new-pw-1", first="Neu"))
    assert leaf(created, "successful") == "true"
    new_erid = leaf(created, "userKey/externalReferenceID")
    assert new_erid and new_erid != erid
    signed_in = rum(bridge, dr_login_request("new@example.com", "new-pw-1"))
    assert leaf(signed_in, "userKey/externalReferenceID") == new_erid
    profile = rum(bridge, profile_request(erid=new_erid))
    assert leaf(profile, "userInfo/firstName") == "Neu"
    assert leaf(profile, "userInfo/userKey/externalReferenceID") == new_erid

    taken = rum(bridge, create_request("bob@example.com", "other-pw-9"))
    assert leaf(taken, "successful") == "false"
    assert leaf(taken, "errorMessage") == "Email already used"


def test_a_wrong_password_answers_exactly_like_an_unknown_login(
    bridge: FlaskClient, http_config: dict[str, Any]
) -> None:
    def answer(login: str, password: str) -> bytes:
        response = bridge.post("/rum", data=dr_login_request(login, password), headers=XML)
        assert response.status_code == 200
        return response.get_data()

    wrong = answer("bob@example.com", "not-bobs")
    unknown = answer("nobody@example.com", "not-bobs")
    inactive_wrong = answer("old@example.com", "not-olds")
    assert wrong == unknown == inactive_wrong
    assert leaf(ET.fromstring(wrong), "errorMessage") == "Invalid login"
    inactive = ET.fromstring(answer("old@example.com", "old-pw-1"))
    assert leaf(inactive, "errorMessage") == "User not active"
    assert counts(http_config) == (0, 0)


@pytest.mark.parametrize("fault", ["stopped", "error", "slow"])
@pytest.mark.parametrize(
    "body",
    [
        dr_login_request("ann@example.com", "ann-pw-1"),
        profile_request(login="ann@example.com"),
        create_request("later@example.com", "later-pw-1"),
    ],
    ids=["login", "profile", "create"],
)
def test_the_login_api_down_answers_503_and_writes_nothing(
    bridge: FlaskClient,
    http_config: dict[str, Any],
    login_api: FakeLoginApi,
    fault: str,
    body: bytes,
) -> None:
    if fault == "stopped":
        login_api.stop()
    else:
        login_api.fault = fault
    users_before = dict(login_api.users)

    response = bridge.post("/rum", data=body, headers=XML)

    assert response.status_code == 503, response.data
    assert response.get_json()["errors"]["error"][0]["code"] == "service-unavailable"
    assert response.headers.get("Retry-After")
    assert counts(http_config) == (0, 0)
    assert login_api.users == users_before
    # No login or create was sent twice.
    posts = [call for call in login_api.calls if call[0] == "POST"]
    assert len(posts) == len(set(posts))


# --- the backend on its own ------------------------------------------------------------------


def directory(api: FakeLoginApi, **overrides: Any) -> HttpUserDirectory:
    return HttpUserDirectory(base_url=api.url, token=API_TOKEN, timeout=0.5, **overrides)


def test_the_contract_operations(login_api: FakeLoginApi) -> None:
    users = directory(login_api)
    users.ping()
    ann = users.authenticate("ann@example.com", "ann-pw-1")
    assert ann is not None and (ann.key, ann.login, ann.first_name) == (
        "101",
        "ann@example.com",
        "Ann",
    )
    assert ann.password_hash is None
    assert users.authenticate("ann@example.com", "wrong") is None
    assert users.authenticate("nobody", "wrong") is None
    assert (
        users.find_by_key("102")
        == users.find_by_login("bob")
        == users.find_by_email("BOB@example.com")
    )
    assert users.find_by_key("nope/../101") is None
    assert users.verify_password(ann, "ann-pw-1") is True
    assert users.verify_password(ann, "wrong") is False
    assert users.verify_password(replace(ann, key="102"), "ann-pw-1") is False
    # The login API verifies (and equalises timing) itself: the dummy costs no call.
    calls = len(login_api.calls)
    users.dummy_verify("anything")
    assert len(login_api.calls) == calls
    created = users.create_user(
        NewUser(login="cy@example.com", email="cy@example.com", password="p")
    )
    assert created.key in login_api.users and created.login == "cy@example.com"
    with pytest.raises(EmailTaken):
        users.create_user(NewUser(login="cy2", email="CY@example.com", password="p"))


def test_a_refused_token_is_unavailable_not_a_failed_login(
    login_api: FakeLoginApi, caplog: pytest.LogCaptureFixture
) -> None:
    users = HttpUserDirectory(base_url=login_api.url, token="not-the-token", timeout=0.5)
    caplog.set_level(logging.DEBUG)
    calls: list[Callable[[], object]] = [
        users.ping,
        lambda: users.authenticate("ann@example.com", "ann-pw-1"),
        lambda: users.find_by_login("ann"),
    ]
    for call in calls:
        with pytest.raises(DirectoryUnavailable, match="refused the bridge's credentials"):
            call()
    text = caplog.text
    assert "not-the-token" not in text and "ann-pw-1" not in text


def test_no_secret_in_logs_or_errors(
    login_api: FakeLoginApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    users = directory(login_api)
    users.authenticate("ann@example.com", "ann-pw-1")
    users.find_by_login("ann@example.com")
    login_api.stop()
    with pytest.raises(DirectoryUnavailable) as raised:
        users.authenticate("ann@example.com", "ann-pw-1")
    for secret in (API_TOKEN, "ann-pw-1"):
        assert secret not in caplog.text
        assert secret not in str(raised.value)
    assert "GET /api/users?[redacted]" in caplog.text  # urllib3's request line
    for login in ("ann@example.com", "ann%40example.com"):  # logins stay out of the logs too
        assert login not in caplog.text
    assert raised.value.__cause__ is None


def test_basic_credentials_are_sent_when_configured(login_api: FakeLoginApi) -> None:
    login_api.token = "unused"
    users = HttpUserDirectory(base_url=login_api.url, username="bridge", password="basic-pw-3")
    with pytest.raises(DirectoryUnavailable):
        users.ping()  # the fake only knows bearer tokens: refused, as it should be
    assert login_api.calls[-1] == ("GET", "/users")


# --- settings and doctor ---------------------------------------------------------------------


BASE = {"RUM_USERS": {"dr": "x"}}


@pytest.mark.parametrize(
    ("directory_settings", "problems"),
    [
        ({"BACKEND": "http", "API_URL": "https://login.example/api", "API_TOKEN": "t"}, []),
        (
            {"BACKEND": "http", "API_URL": "https://h", "API_USERNAME": "u", "API_PASSWORD": "p"},
            [],
        ),
        ({"BACKEND": "http"}, ["__API_URL: is required", "__API_TOKEN: is required"]),
        ({"BACKEND": "http", "API_URL": "ftp://h", "API_TOKEN": "t"}, ["must be an http(s)"]),
        (
            {"BACKEND": "http", "API_URL": "https://h", "API_TOKEN": "t", "API_USERNAME": "u"},
            ["not both"],
        ),
        ({"BACKEND": "http", "API_URL": "https://h", "API_USERNAME": "u"}, ["go together"]),
        (
            {"BACKEND": "http", "API_URL": "https://h", "API_TOKEN": "t", "API_TIMEOUT": 0},
            ["__API_TIMEOUT: must be a number >= 0.05"],
        ),
        ({"BACKEND": "ldap"}, ["__BACKEND: must be sql or http", "__URL: is required"]),
        ({}, ["__URL: is required"]),
    ],
)
def test_directory_backend_settings(
    directory_settings: dict[str, Any], problems: list[str]
) -> None:
    try:
        settings = load_settings({**BASE, "DIRECTORY": directory_settings})
    except SettingsError as exc:
        found = "\n".join(exc.problems)
        assert problems, found
        for problem in problems:
            assert problem in found
        return
    assert not problems
    assert settings.directory.backend == "http"
    assert "api_token" not in repr(settings.directory)
    assert "api_password" not in repr(settings.directory)


def test_doctor_on_the_login_api(http_config: dict[str, Any], login_api: FakeLoginApi) -> None:
    lines: list[str] = []
    code = run_doctor(lines.append, canary="bob", raw=http_config)

    output = "\n".join(lines)
    assert code == 0, output
    assert any(
        line.startswith("OK    user directory: login API http://127.0.0.1") for line in lines
    )
    assert any("canary 'bob' found, user key 102" in line for line in lines)
    assert any("password hashes: not applicable" in line for line in lines)
    assert API_TOKEN not in output

    login_api.fault = "error"
    lines.clear()
    assert run_doctor(lines.append, canary="bob", raw=http_config) == 1
    assert any(line.startswith("FAIL  user directory") and "HTTP 500" in line for line in lines), (
        lines
    )
