"""Issue 8, item 5: a user deactivated in the merchant table gets nothing, whichever selector
names them: no token minted, no session, no profile, no session validation. A token cached
before the deactivation is served for at most ACTIVE_RECHECK_SECONDS (0 here: not at all).

PostgreSQL merchant table and identity map, the machine's Redis, the DR simulator over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from sso_bridge import create_app
from sso_bridge.db import make_engine
from sso_bridge.simulator import SimulatorConfig
from sso_bridge.simulator.server import SimulatorServer
from tests.functional.test_rum import leaf, rum
from tests.helpers import (
    API_KEY,
    profile_request,
    remember_secret,
    validate_request,
    with_simulator,
)

BEARER = {"Authorization": f"Bearer {API_KEY}"}
EMAIL = "demo@example.com"


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(token_lifetime=3600)) as server:
        yield server


def make_app(config: dict[str, Any], simulator: SimulatorServer, **extra: Any) -> Flask:
    return create_app(with_simulator(config, simulator.url, **extra))


def set_active(config: dict[str, Any], email: str, active: bool) -> None:
    with make_engine(config["DIRECTORY"]["URL"]).begin() as connection:
        changed = connection.execute(
            text("UPDATE users SET active = :active WHERE email = :email"),
            {"active": active, "email": email},
        ).rowcount
    assert changed == 1


def mints(simulator: SimulatorServer) -> int:
    stats = requests.get(simulator.url + "/_sim/stats", timeout=5).json()
    return int(stats["calls"].get("token", 0))


def live_at_dr(simulator: SimulatorServer, access_token: str) -> bool:
    answer = requests.get(
        simulator.url + "/oauth20/access-tokens", params={"token": access_token}, timeout=5
    )
    return answer.status_code == 200


def token(client: FlaskClient, **body: Any) -> Any:
    response = client.post("/v1/tokens", json=body, headers=BEARER)
    if response.status_code == 200:
        remember_secret(response.get_json()["access_token"])
    return response


def selectors(erid: str) -> list[dict[str, str]]:
    return [{"userKey": "1"}, {"externalReferenceId": erid}, {"login": EMAIL}]


def assert_no_active_user(response: Any) -> None:
    assert response.status_code == 404, response.data
    error = response.get_json()["errors"]["error"][0]
    assert error["description"] == "No active user matches."


def test_no_token_is_minted_for_a_deactivated_user_by_any_selector(
    real_config: dict[str, Any], simulator: SimulatorServer
) -> None:
    client = make_app(real_config, simulator).test_client()
    first = token(client, login=EMAIL).get_json()
    erid = first["externalReferenceId"]
    assert client.delete(f"/v1/tokens/{erid}", headers=BEARER).status_code == 204
    set_active(real_config, EMAIL, False)
    before = mints(simulator)
    for selector in selectors(erid):
        assert_no_active_user(token(client, **selector))
        assert_no_active_user(token(client, **selector, drSessionToken="dr-session-x"))
    assert mints(simulator) == before  # nothing was minted at DR
    set_active(real_config, EMAIL, True)
    assert token(client, userKey="1").status_code == 200  # reactivated: served again


def test_a_token_cached_before_deactivation_is_dropped_and_revoked(
    real_config: dict[str, Any], simulator: SimulatorServer
) -> None:
    client = make_app(real_config, simulator, ACTIVE_RECHECK_SECONDS=0).test_client()
    cached = token(client, userKey="1").get_json()
    session_aware = token(client, userKey="1", drSessionToken="dr-session-y").get_json()
    erid = cached["externalReferenceId"]
    assert (
        token(client, externalReferenceId=erid).get_json()["access_token"]
        == (cached["access_token"])
    )
    set_active(real_config, EMAIL, False)
    for selector in selectors(erid):
        assert_no_active_user(token(client, **selector))
    # The user's cached tokens were dropped from the cache and revoked at DR, so no other
    # worker or replica keeps serving them either.
    assert not live_at_dr(simulator, cached["access_token"])
    assert not live_at_dr(simulator, session_aware["access_token"])
    set_active(real_config, EMAIL, True)
    fresh = token(client, externalReferenceId=erid).get_json()
    assert fresh["access_token"] not in {cached["access_token"], session_aware["access_token"]}


def test_the_default_bound_is_thirty_seconds_and_a_mint_still_checks(
    real_config: dict[str, Any], simulator: SimulatorServer
) -> None:
    app = make_app(real_config, simulator)
    assert app.extensions["sso_bridge"].settings.active_recheck_seconds == 30
    client = app.test_client()
    cached = token(client, userKey="1").get_json()
    set_active(real_config, EMAIL, False)
    # Within the bound the cache hit may still be served (no SQL on the hot path)...
    assert token(client, userKey="1").get_json()["access_token"] == cached["access_token"]
    # ...but once the cached token is gone, a mint always asks the directory first.
    erid = cached["externalReferenceId"]
    assert client.delete(f"/v1/tokens/{erid}", headers=BEARER).status_code == 204
    before = mints(simulator)
    assert_no_active_user(token(client, userKey="1"))
    assert mints(simulator) == before


def test_no_session_for_a_deactivated_user_by_any_selector(
    real_config: dict[str, Any], simulator: SimulatorServer
) -> None:
    client = make_app(real_config, simulator).test_client()
    erid = token(client, login=EMAIL).get_json()["externalReferenceId"]
    assert client.post("/v1/sessions", json={"userKey": "1"}, headers=BEARER).status_code == 201
    set_active(real_config, EMAIL, False)
    for selector in selectors(erid):
        assert_no_active_user(client.post("/v1/sessions", json=selector, headers=BEARER))


def test_rum_profile_and_session_validation_refuse_a_deactivated_user(
    real_config: dict[str, Any], simulator: SimulatorServer
) -> None:
    client = make_app(real_config, simulator).test_client()
    erid = token(client, login=EMAIL).get_json()["externalReferenceId"]
    session = client.post("/v1/sessions", json={"userKey": "1"}, headers=BEARER).get_json()
    remember_secret(session["token"])
    for body in (profile_request(erid=erid), profile_request(login=EMAIL)):
        assert leaf(rum(client, body), "userInfo/email") == EMAIL
    assert leaf(rum(client, validate_request(session["token"])), "successful") == "true"
    set_active(real_config, EMAIL, False)
    for body in (
        profile_request(erid=erid),
        profile_request(login=EMAIL),
        profile_request(erid=erid, root="GetUserRequest"),
    ):
        root = rum(client, body)
        assert leaf(root, "errorMessage") == "User not active"
        assert leaf(root, "userInfo/email") is None
    for as_attribute in (False, True):
        root = rum(client, validate_request(session["token"], as_attribute=as_attribute))
        assert (leaf(root, "successful"), leaf(root, "errorCode")) == ("false", "7")
