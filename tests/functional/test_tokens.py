"""POST/DELETE /v1/tokens against the DR simulator over real HTTP, with the machine's Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient

from sso_bridge import create_app
from sso_bridge.simulator import SimulatorConfig
from sso_bridge.simulator.server import SimulatorServer
from tests.helpers import API_KEY, remember_secret, with_simulator

BEARER = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(token_lifetime=3600)) as server:
        yield server


@pytest.fixture
def dr_app(real_config: dict[str, Any], simulator: SimulatorServer) -> Flask:
    rules = [
        {"emailDomain": "university.edu", "purchasePlanId": "11858700", "targetMarketId": "35100"}
    ]
    return create_app(with_simulator(real_config, simulator.url, PRIVATE_STORES=rules))


@pytest.fixture
def dr_client(dr_app: Flask) -> FlaskClient:
    return dr_app.test_client()


def stats(simulator: SimulatorServer) -> dict[str, Any]:
    found: dict[str, Any] = requests.get(simulator.url + "/_sim/stats", timeout=5).json()
    return found


def faults(simulator: SimulatorServer, **settings: Any) -> None:
    requests.post(simulator.url + "/_sim/faults", json=settings, timeout=5).raise_for_status()


def token_for(client: FlaskClient, **body: Any) -> Any:
    response = client.post("/v1/tokens", json=body, headers=BEARER)
    if response.status_code == 200:
        remember_secret(response.get_json()["access_token"])
    if isinstance(body.get("drSessionToken"), str):
        remember_secret(body["drSessionToken"])
    return response


def test_first_token_is_minted_once_then_served_from_cache(
    dr_client: FlaskClient, simulator: SimulatorServer
) -> None:
    first = token_for(dr_client, login="demo@example.com")
    assert first.status_code == 200
    body = first.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "externalReferenceId"}
    assert body["token_type"] == "bearer" and 3000 < body["expires_in"] <= 3600
    erid = body["externalReferenceId"]
    for lookup in ({"externalReferenceId": erid}, {"login": "DEMO@example.com"}, {"userKey": "1"}):
        again = token_for(dr_client, **lookup)
        assert again.get_json()["access_token"] == body["access_token"], lookup
    numbers = stats(simulator)
    assert numbers["mints_by_erid"] == {erid: 1}
    assert numbers["calls"].get("shopper_create") == 1  # the DR shopper was made on first use
    inspected = requests.get(
        simulator.url + "/oauth20/access-tokens", params={"token": body["access_token"]}, timeout=5
    ).json()
    assert inspected["externalReferenceId"] == erid


def test_the_erid_matches_the_rum_sign_in(dr_client: FlaskClient) -> None:
    from tests.functional.test_rum import XML, leaf, rum  # the same helpers as the RUM tests
    from tests.helpers import dr_login_request

    del XML
    signed_in = leaf(
        rum(dr_client, dr_login_request("bcrypt@example.com", "bcrypt-pw-1")),
        "userKey/externalReferenceID",
    )
    token = token_for(dr_client, login="bcrypt@example.com").get_json()
    assert token["externalReferenceId"] == signed_in


def test_session_aware_tokens_are_per_session(
    dr_client: FlaskClient, simulator: SimulatorServer
) -> None:
    plain = token_for(dr_client, userKey="1").get_json()["access_token"]
    one = token_for(dr_client, userKey="1", drSessionToken="dr-session-one").get_json()
    two = token_for(dr_client, userKey="1", drSessionToken="dr-session-two").get_json()
    assert len({plain, one["access_token"], two["access_token"]}) == 3
    again = token_for(dr_client, userKey="1", drSessionToken="dr-session-one").get_json()
    assert again["access_token"] == one["access_token"]
    sessions = {
        requests.get(
            simulator.url + "/oauth20/access-tokens",
            params={"token": grant["access_token"]},
            timeout=5,
        ).json()["sessionId"]
        for grant in (one, two)
    }
    assert len(sessions) == 2  # each token is bound to its own DR session


def test_redis_holds_no_plain_token_and_no_secret_in_key_names(
    dr_client: FlaskClient, redis_server: redis.Redis, redis_prefix: str
) -> None:
    tokens = [
        token_for(dr_client, login="demo@example.com").get_json()["access_token"],
        token_for(dr_client, userKey="1", drSessionToken="secret-dr-session").get_json()[
            "access_token"
        ],
    ]
    session = dr_client.post("/v1/sessions", json={"userKey": "1"}, headers=BEARER)
    sso_token = session.get_json()["token"]
    dump = b""
    for key in redis_server.scan_iter(match=redis_prefix + "*"):
        dump += key + b"\n" + (redis_server.dump(key) or b"") + b"\n"
    assert dump.count(redis_prefix.encode()) >= 3
    for secret in [*tokens, "secret-dr-session", sso_token, "sim-api-secret", API_KEY]:
        assert secret.encode() not in dump


def test_private_store_authorized_for_matching_users_only(
    dr_client: FlaskClient, simulator: SimulatorServer
) -> None:
    student = token_for(dr_client, login="student@university.edu").get_json()
    token_for(dr_client, login="demo@example.com")
    authorizations = stats(simulator)["authorizations"]
    assert len(authorizations) == 1
    assert authorizations[0]["plan_id"] == "11858700"
    assert authorizations[0]["erid"] == student["externalReferenceId"]
    assert authorizations[0]["rule"] == {"emailDomain": "university.edu"}


def test_private_store_by_search_at_dr(
    real_config: dict[str, Any], simulator: SimulatorServer
) -> None:
    app = create_app(
        with_simulator(
            real_config,
            simulator.url,
            PRIVATE_STORES=[{"emailDomain": "university.edu", "search": True}],
        )
    )
    response = token_for(app.test_client(), login="student@university.edu")
    assert response.status_code == 200
    numbers = stats(simulator)
    assert numbers["calls"].get("plan_search") == 1
    assert [a["plan_id"] for a in numbers["authorizations"]] == ["11858700"]


def test_failed_private_store_authorization_still_returns_the_token(
    real_config: dict[str, Any], simulator: SimulatorServer
) -> None:
    app = create_app(
        with_simulator(
            real_config,
            simulator.url,
            PRIVATE_STORES=[
                {"emailDomain": "university.edu", "purchasePlanId": "999", "targetMarketId": "1"}
            ],
        )
    )
    response = token_for(app.test_client(), login="student@university.edu")
    assert response.status_code == 200
    assert stats(simulator)["authorizations"] == []


def test_revocation_drops_the_cache_and_revokes_at_dr(
    dr_client: FlaskClient, simulator: SimulatorServer
) -> None:
    body = token_for(dr_client, userKey="1").get_json()
    assert (
        dr_client.delete(f"/v1/tokens/{body['externalReferenceId']}", headers=BEARER).status_code
        == 204
    )
    inspected = requests.get(
        simulator.url + "/oauth20/access-tokens", params={"token": body["access_token"]}, timeout=5
    )
    assert inspected.status_code == 401
    fresh = token_for(dr_client, userKey="1").get_json()
    assert fresh["access_token"] != body["access_token"]
    assert dr_client.delete("/v1/tokens/NO-SUCH-ERID", headers=BEARER).status_code == 404


def test_revocation_reaches_session_aware_tokens(
    dr_client: FlaskClient, simulator: SimulatorServer
) -> None:
    tokens = [
        token_for(dr_client, userKey="1", **extra).get_json()
        for extra in ({}, {"drSessionToken": "sess-a"}, {"drSessionToken": "sess-b"})
    ]
    erid = tokens[0]["externalReferenceId"]
    assert dr_client.delete(f"/v1/tokens/{erid}", headers=BEARER).status_code == 204
    for token in tokens:
        inspected = requests.get(
            simulator.url + "/oauth20/access-tokens",
            params={"token": token["access_token"]},
            timeout=5,
        )
        assert inspected.status_code == 401
    again = token_for(dr_client, userKey="1", drSessionToken="sess-a").get_json()
    assert again["access_token"] != tokens[1]["access_token"]


def test_dr_hanging_cached_tokens_still_served_misses_fail_fast(
    dr_client: FlaskClient, simulator: SimulatorServer
) -> None:
    cached = token_for(dr_client, userKey="1").get_json()["access_token"]
    faults(simulator, hang=True)
    try:
        assert token_for(dr_client, userKey="1").get_json()["access_token"] == cached
        # DR never answers, so any answer at all is the bridge's own deadline at work (how fast
        # is measured by the bench, not asserted here).
        miss = token_for(dr_client, userKey="2")
        assert miss.status_code == 503
        assert int(miss.headers["Retry-After"]) >= 1
        assert miss.get_json()["errors"]["error"][0]["code"] == "service-unavailable"
        # The negative cache answers the next miss without another DR call.
        calls = requests.get(simulator.url + "/_sim/stats", timeout=5).json()["calls"]["token"]
        assert token_for(dr_client, userKey="2").status_code == 503
        after = requests.get(simulator.url + "/_sim/stats", timeout=5).json()["calls"]["token"]
        assert after == calls
    finally:
        requests.post(simulator.url + "/_sim/reset", timeout=5)


def test_invalid_client_is_not_retried(
    real_config: dict[str, Any], simulator: SimulatorServer
) -> None:
    app = create_app(
        {**with_simulator(real_config, simulator.url), "DR_API_SECRET": "wrong-secret"}
    )
    response = token_for(app.test_client(), userKey="1")
    assert response.status_code == 503
    assert stats(simulator)["calls"].get("token") == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"userKey": "1", "login": "demo@example.com"}, 400),
        ({"userKey": "1", "drSessionToken": 5}, 400),
        ({"userKey": "1", "surprise": True}, 400),
        ({"userKey": "999999"}, 404),
        ({"externalReferenceId": "00000000-0000-0000-0000-000000000000"}, 404),
    ],
)
def test_bad_token_requests_are_refused_without_dr_calls(
    dr_client: FlaskClient, simulator: SimulatorServer, body: dict[str, Any], status: int
) -> None:
    response = token_for(dr_client, **body)
    assert response.status_code == status
    assert "errors" in response.get_json()
    assert not stats(simulator)["calls"].get("token")


def test_tokens_need_an_api_key(dr_client: FlaskClient) -> None:
    response = dr_client.post(
        "/v1/tokens", json={"userKey": "1"}, headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 30000 + b"]" * 30000,  # nesting deep enough to exhaust the parser's recursion
        b"\xff\xfe not utf-8",
        b'{"userKey": "1"',
        b"[]",
    ],
)
def test_malformed_json_bodies_are_400(dr_client: FlaskClient, raw: bytes) -> None:
    response = dr_client.post(
        "/v1/tokens", data=raw, headers={**BEARER, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json()["errors"]["error"][0]["code"] == "invalid-request"
