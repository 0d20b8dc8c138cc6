"""The DR simulator over real HTTP: DR's shapes and errors, faults, quirks, stats."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sso_bridge.simulator import (
    CALL_KINDS,
    SimPurchasePlan,
    SimulatorConfig,
    SimulatorQuirks,
    SimulatorServer,
)
from sso_bridge.simulator.server import parse_bind

KEY = "sim-key"
SECRET = "sim-secret-Hq2"
TIMEOUT = 5


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    plans = (
        SimPurchasePlan(
            id="11858700",
            target_market_id="35100",
            name="Student Discounts",
            target_market_name="Students",
            email_domains=("university.edu",),
        ),
        SimPurchasePlan(
            id="22",
            target_market_id="77",
            name="Office",
            authentication_required=False,
            email_addresses=("boss@corp.example",),
            ip_addresses=("10.1.0.0/16",),
        ),
    )
    config = SimulatorConfig(
        api_key=KEY, api_secret=SECRET, token_lifetime=600, purchase_plans=plans
    )
    with SimulatorServer(config) as running:
        yield running


@pytest.fixture
def sim(server: SimulatorServer) -> Iterator[SimulatorServer]:
    requests.post(f"{server.url}/_sim/reset", timeout=TIMEOUT).raise_for_status()
    yield server
    requests.post(f"{server.url}/_sim/reset", timeout=TIMEOUT).raise_for_status()


def mint(sim: SimulatorServer, erid: str = "erid-1", **form: str) -> str:
    response = requests.post(
        f"{sim.url}/oauth20/token",
        data={"grant_type": "client_credentials", "dr_external_reference_id": erid, **form},
        auth=(KEY, SECRET),
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def app_token(sim: SimulatorServer) -> str:
    """The application's own token: client credentials without an ERID."""
    response = requests.post(
        f"{sim.url}/oauth20/token",
        data={"grant_type": "client_credentials"},
        auth=(KEY, SECRET),
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"bearer {token}"}


def shopper_error(response: requests.Response) -> tuple[int, str]:
    entries = response.json()["errors"]["error"]
    assert isinstance(entries, list) and len(entries) == 1
    assert set(entries[0]) == {"relation", "code", "description"}
    return response.status_code, entries[0]["code"]


def oauth_error(response: requests.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error", "error_description"}
    return response.status_code, body["error"]


def get_stats(sim: SimulatorServer) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(f"{sim.url}/_sim/stats", timeout=TIMEOUT).json()
    return answer


def post_admin(sim: SimulatorServer, what: str, body: object) -> requests.Response:
    return requests.post(f"{sim.url}/_sim/{what}", json=body, timeout=TIMEOUT)


# --------------------------------------------------------------------------- OAuth


def test_token_answer_shape(sim: SimulatorServer) -> None:
    response = requests.post(
        f"{sim.url}/oauth20/token",
        data={"grant_type": "client_credentials", "dr_external_reference_id": "erid-1"},
        auth=(KEY, SECRET),
        timeout=TIMEOUT,
    )
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 600
    assert response.headers["Cache-Control"] == "no-store"
    assert mint(sim) != body["access_token"]
    assert get_stats(sim)["mints_by_erid"] == {"erid-1": 2}


def test_token_quirks(sim: SimulatorServer) -> None:
    assert post_admin(sim, "quirks", {"string_expires_in": True, "wrap_token": True}).ok
    response = requests.post(
        f"{sim.url}/oauth20/token",
        data={"grant_type": "client_credentials", "dr_external_reference_id": "erid-1"},
        auth=(KEY, SECRET),
        timeout=TIMEOUT,
    )
    assert response.json()["token"]["expires_in"] == "600"
    assert post_admin(sim, "quirks", {"wrap_token": "yes"}).status_code == 400
    assert post_admin(sim, "quirks", {"nonsense": True}).status_code == 400


@pytest.mark.parametrize(
    ("auth", "data", "json_body", "expected"),
    [
        (
            (KEY, "wrong"),
            {"grant_type": "client_credentials", "dr_external_reference_id": "e"},
            None,
            (401, "invalid_client"),
        ),
        (
            None,
            {"grant_type": "client_credentials", "dr_external_reference_id": "e"},
            None,
            (401, "invalid_client"),
        ),
        (
            (KEY, SECRET),
            None,
            {"grant_type": "client_credentials", "dr_external_reference_id": "e"},
            (400, "invalid_request"),
        ),
        (
            (KEY, SECRET),
            {"grant_type": "password", "dr_external_reference_id": "e"},
            None,
            (400, "unsupported_grant_type"),
        ),
        (
            (KEY, SECRET),
            {"grant_type": "client_credentials", "dr_session_token": "s"},
            None,
            (400, "invalid_request"),
        ),
    ],
    ids=["wrong-secret", "no-auth", "json-body", "wrong-grant", "session-without-erid"],
)
def test_token_errors(
    sim: SimulatorServer,
    auth: tuple[str, str] | None,
    data: dict[str, str] | None,
    json_body: dict[str, str] | None,
    expected: tuple[int, str],
) -> None:
    response = requests.post(
        f"{sim.url}/oauth20/token", data=data, json=json_body, auth=auth, timeout=TIMEOUT
    )
    assert oauth_error(response) == expected
    if expected[0] == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert get_stats(sim)["calls"]["token"] == 1


def test_inspect_and_revoke(sim: SimulatorServer) -> None:
    token = mint(sim, "erid-9", dr_session_token="session-1")
    url = f"{sim.url}/oauth20/access-tokens"
    info = requests.get(url, params={"token": token}, timeout=TIMEOUT).json()
    assert info["externalReferenceId"] == "erid-9"
    assert 590 <= info["expiresIn"] <= 600
    assert info["sessionAware"] is True and info["sessionId"]
    assert oauth_error(requests.get(url, timeout=TIMEOUT)) == (400, "invalid_request")
    assert requests.delete(url, headers=bearer(token), timeout=TIMEOUT).status_code == 204
    gone = requests.get(url, params={"token": token}, timeout=TIMEOUT)
    assert oauth_error(gone) == (401, "invalid_token")
    again = requests.delete(url, headers=bearer(token), timeout=TIMEOUT)
    assert oauth_error(again) == (401, "invalid_token")


def test_expired_and_unknown_tokens_are_rejected(sim: SimulatorServer) -> None:
    token = mint(sim)
    record = sim.state.lookup(token)
    assert record is not None
    record.expires_at = time.time() - 1
    for candidate in (token, "made-up"):
        response = requests.get(
            f"{sim.url}/v1/shoppers/me", headers=bearer(candidate), timeout=TIMEOUT
        )
        assert shopper_error(response) == (401, "invalid_token")
    no_header = requests.get(f"{sim.url}/v1/shoppers/me", timeout=TIMEOUT)
    assert shopper_error(no_header) == (401, "invalid_token")


# --------------------------------------------------------------------------- shoppers


def test_shopper_lifecycle(sim: SimulatorServer) -> None:
    token = mint(sim, "erid-5")
    shopper = {
        "firstName": "John",
        "lastName": "Johnson",
        "emailAddress": "j@my.com",
        "externalReferenceId": "erid-5",
        "locale": "en_US",
        "currency": "USD",
    }
    url = f"{sim.url}/v1/shoppers"
    created = requests.post(url, json={"shopper": shopper}, headers=bearer(token), timeout=TIMEOUT)
    assert created.status_code == 201
    duplicate = requests.post(
        url, json={"shopper": shopper}, headers=bearer(token), timeout=TIMEOUT
    )
    assert shopper_error(duplicate) == (409, "shopper-already-exists")

    me = f"{sim.url}/v1/shoppers/me"
    plain = requests.get(me, headers=bearer(token), timeout=TIMEOUT).json()["shopper"]
    assert "externalReferenceId" not in plain and plain["firstName"] == "John"
    expanded = requests.get(
        me, params={"expand": "all"}, headers=bearer(token), timeout=TIMEOUT
    ).json()["shopper"]
    assert expanded["externalReferenceId"] == "erid-5"

    update = requests.post(
        me, json={"shopper": {"lastName": "Smith"}}, headers=bearer(token), timeout=TIMEOUT
    )
    assert update.status_code == 204
    assert (
        requests.get(me, headers=bearer(token), timeout=TIMEOUT).json()["shopper"]["lastName"]
        == "Smith"
    )
    change_erid = requests.post(
        me,
        json={"shopper": {"externalReferenceId": "other"}},
        headers=bearer(token),
        timeout=TIMEOUT,
    )
    assert shopper_error(change_erid) == (400, "validation-error")
    calls = get_stats(sim)["calls"]
    assert (calls["shopper_create"], calls["shopper_update"], calls["shopper_get"]) == (2, 2, 3)
    assert get_stats(sim)["shoppers"] == 1


def test_shopper_with_api_key(sim: SimulatorServer) -> None:
    url = f"{sim.url}/v1/shoppers"
    body = {"shopper": {"externalReferenceId": "erid-k", "firstName": "K"}}
    assert requests.post(url, params={"apiKey": KEY}, json=body, timeout=TIMEOUT).status_code == 201
    wrong = requests.post(url, params={"apiKey": "nope"}, json=body, timeout=TIMEOUT)
    assert shopper_error(wrong) == (401, "invalid_client")
    no_erid = requests.post(
        url, params={"apiKey": KEY}, json={"shopper": {"firstName": "K"}}, timeout=TIMEOUT
    )
    assert shopper_error(no_erid) == (400, "validation-error")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"data": "not json", "headers": {"Content-Type": "application/json"}},
            (400, "invalid-request"),
        ),
        ({"json": {"customer": {}}}, (400, "validation-error")),
        ({"json": {"shopper": {"firstName": 5}}}, (400, "validation-error")),
    ],
)
def test_update_rejects_bad_bodies(
    sim: SimulatorServer, kwargs: dict[str, Any], expected: tuple[int, str]
) -> None:
    token = mint(sim)
    headers = {**bearer(token), **kwargs.pop("headers", {})}
    response = requests.post(
        f"{sim.url}/v1/shoppers/me", headers=headers, timeout=TIMEOUT, **kwargs
    )
    assert shopper_error(response) == expected


def test_missing_shopper_is_404(sim: SimulatorServer) -> None:
    token = mint(sim)
    me = f"{sim.url}/v1/shoppers/me"
    assert shopper_error(requests.get(me, headers=bearer(token), timeout=TIMEOUT)) == (
        404,
        "resource-not-found",
    )
    update = requests.post(me, json={"shopper": {}}, headers=bearer(token), timeout=TIMEOUT)
    assert shopper_error(update) == (404, "resource-not-found")


# --------------------------------------------------------------------------- private stores


@pytest.mark.parametrize(
    ("params", "ids"),
    [
        ({"emailDomain": "university.edu"}, ["11858700"]),
        ({"emailDomain": "UNIVERSITY.EDU"}, ["11858700"]),
        ({"emailAddress": "boss@corp.example"}, ["22"]),
        ({"emailAddress": "student@university.edu"}, ["11858700"]),
        ({"ipAddress": "10.1.2.3"}, ["22"]),
        ({"ipAddress": "10.2.0.1"}, []),
        ({"emailDomain": "university.edu", "ipAddress": "10.1.0.9"}, ["11858700", "22"]),
    ],
)
def test_plan_search(sim: SimulatorServer, params: dict[str, str], ids: list[str]) -> None:
    token = mint(sim)
    body = requests.get(
        f"{sim.url}/v1/shoppers/me/purchase-plan/search",
        params=params,
        headers=bearer(token),
        timeout=TIMEOUT,
    ).json()
    plans = body["purchasePlans"]["purchasePlan"]
    assert [plan["id"] for plan in plans] == ids
    assert body["purchasePlans"]["totalResults"] == str(len(ids))


def test_plan_search_in_dr_sample_shape(sim: SimulatorServer) -> None:
    post_admin(sim, "quirks", {"lowercase_plan_keys": True, "single_plan_object": True})
    body = requests.get(
        f"{sim.url}/v1/shoppers/me/purchase-plan/search",
        params={"emailDomain": "university.edu", "apiKey": KEY},
        headers=bearer(app_token(sim)),
        timeout=TIMEOUT,
    ).json()
    assert body == {
        "purchaseplans": {
            "purchaseplan": {
                "uri": "https://api.digitalriver.com/v1/shoppers/me/purchase-plan/11858700",
                "id": "11858700",
                "isauthenticationrequiredtobrowse": "true",
                "purchaseplanname": "Student Discounts",
                "targetmarketid": "35100",
                "targetmarketname": "Students",
            },
            "totalresults": "1",
        }
    }


def test_plan_search_needs_a_rule(sim: SimulatorServer) -> None:
    response = requests.get(
        f"{sim.url}/v1/shoppers/me/purchase-plan/search",
        headers=bearer(app_token(sim)),
        timeout=TIMEOUT,
    )
    assert shopper_error(response) == (400, "invalid-request")


def test_an_application_token_is_minted_without_an_erid(sim: SimulatorServer) -> None:
    token = app_token(sim)
    inspected = requests.get(
        f"{sim.url}/oauth20/access-tokens", params={"token": token}, timeout=TIMEOUT
    ).json()
    assert inspected["externalReferenceId"] is None and inspected["authenticated"] == "false"
    stats = get_stats(sim)
    assert (stats["calls"]["app_token"], stats["calls"]["token"]) == (1, 0)
    assert stats["mints_by_erid"] == {}


def test_plan_search_takes_any_token_but_not_an_api_key_alone(sim: SimulatorServer) -> None:
    """commerce-api.md: the search accepts "any token" (a shopper's or the application's);
    the seed's example sends a bearer token, so a bare ``?apiKey=`` is refused."""
    url = f"{sim.url}/v1/shoppers/me/purchase-plan/search"
    rule = {"emailDomain": "university.edu"}
    for token in (app_token(sim), mint(sim)):
        found = requests.get(url, params=rule, headers=bearer(token), timeout=TIMEOUT)
        assert found.status_code == 200
        assert [p["id"] for p in found.json()["purchasePlans"]["purchasePlan"]] == ["11858700"]
    key_only = requests.get(url, params={**rule, "apiKey": KEY}, timeout=TIMEOUT)
    assert shopper_error(key_only) == (401, "invalid_token")
    assert get_stats(sim)["calls"]["plan_search"] == 3


def test_shopper_calls_refuse_the_application_token(sim: SimulatorServer) -> None:
    """Authorization and ``/me`` act on a shopper: the application's token has none."""
    headers = bearer(app_token(sim))
    authorize = requests.post(
        f"{sim.url}/v1/shoppers/me/purchase-plan/authorize",
        json={"purchasePlanAuthorize": {"id": "11858700", "emailDomain": "university.edu"}},
        headers=headers,
        timeout=TIMEOUT,
    )
    assert shopper_error(authorize) == (401, "invalid_token")
    me = f"{sim.url}/v1/shoppers/me"
    assert shopper_error(requests.get(me, headers=headers, timeout=TIMEOUT)) == (
        401,
        "invalid_token",
    )
    update = requests.post(me, json={"shopper": {}}, headers=headers, timeout=TIMEOUT)
    assert shopper_error(update) == (401, "invalid_token")
    assert get_stats(sim)["authorizations"] == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"id": "11858700", "targetMarketId": "35100", "emailDomain": "university.edu"}, 204),
        ({"id": "11858700", "emailAddress": "x@university.edu"}, 204),
        ({"id": "22", "targetMarketId": "77", "ipAddress": "10.1.0.1"}, 204),
        ({"id": "11858700", "targetMarketId": "99", "emailDomain": "university.edu"}, 400),
        ({"id": "11858700", "targetMarketId": "35100", "emailDomain": "other.edu"}, 400),
        ({"id": "11858700", "targetMarketId": "35100"}, 400),
        ({"id": "404", "emailDomain": "university.edu"}, 400),
    ],
)
def test_plan_authorize(sim: SimulatorServer, body: dict[str, str], status: int) -> None:
    token = mint(sim, "erid-a")
    response = requests.post(
        f"{sim.url}/v1/shoppers/me/purchase-plan/authorize",
        json={"purchasePlanAuthorize": body},
        headers=bearer(token),
        timeout=TIMEOUT,
    )
    authorizations = get_stats(sim)["authorizations"]
    if status == 204:
        assert response.status_code == 204
        assert [(a["erid"], a["plan_id"]) for a in authorizations] == [("erid-a", body["id"])]
        record = sim.state.lookup(token)
        assert record is not None and record.authorized_plans == {body["id"]}
    else:
        assert shopper_error(response) == (400, "invalid-request")
        assert authorizations == []


# --------------------------------------------------------------------------- errors


def test_not_found_and_method_not_allowed_in_dr_format(sim: SimulatorServer) -> None:
    missing = requests.get(f"{sim.url}/v1/nothing", timeout=TIMEOUT)
    assert shopper_error(missing) == (404, "resource-not-found")
    wrong_method = requests.put(f"{sim.url}/oauth20/token", timeout=TIMEOUT)
    assert shopper_error(wrong_method) == (405, "method-not-allowed")
    assert "POST" in wrong_method.headers["Allow"]


def test_single_error_object_quirk(sim: SimulatorServer) -> None:
    post_admin(sim, "quirks", {"single_error_object": True})
    body = requests.get(f"{sim.url}/v1/shoppers/me", timeout=TIMEOUT).json()
    assert body["errors"]["error"]["code"] == "invalid_token"


# --------------------------------------------------------------------------- faults


def test_faults_round_trip_and_validation(sim: SimulatorServer) -> None:
    faults = {"status": 429, "retry_after": 2, "calls": 1, "paths": ["/oauth20/"]}
    assert post_admin(sim, "faults", faults).ok
    current = requests.get(f"{sim.url}/_sim/faults", timeout=TIMEOUT).json()
    assert {key: current[key] for key in faults} == faults
    for bad in (
        {"status": 200},
        {"error_rate": 2},
        {"calls": -1},
        {"bogus": 1},
        [1],
        {"latency_ms": "slow"},
    ):
        response = post_admin(sim, "faults", bad)
        assert shopper_error(response) == (400, "validation-error"), bad


def test_forced_status_for_n_calls_on_matching_paths(sim: SimulatorServer) -> None:
    post_admin(sim, "faults", {"status": 429, "retry_after": 2, "calls": 2, "paths": ["/oauth20/"]})
    shopper = requests.get(f"{sim.url}/v1/shoppers/me", timeout=TIMEOUT)
    assert shopper_error(shopper) == (401, "invalid_token")  # not on a faulted path
    for _ in range(2):
        response = requests.post(f"{sim.url}/oauth20/token", auth=(KEY, SECRET), timeout=TIMEOUT)
        assert shopper_error(response) == (429, "rate-limit-quota-exceeded")
        assert response.headers["Retry-After"] == "2"
    assert mint(sim)
    assert get_stats(sim)["calls"]["token"] == 3
    assert get_stats(sim)["faults_applied"] == 2


def test_forced_401_on_the_token_path_is_invalid_client(sim: SimulatorServer) -> None:
    post_admin(sim, "faults", {"status": 401})
    response = requests.post(f"{sim.url}/oauth20/token", auth=(KEY, SECRET), timeout=TIMEOUT)
    assert oauth_error(response) == (401, "invalid_client")


def test_error_rate_and_latency(sim: SimulatorServer) -> None:
    post_admin(sim, "faults", {"error_rate": 1.0, "latency_ms": 150, "calls": 3})
    started = time.monotonic()
    statuses = {
        requests.get(f"{sim.url}/v1/shoppers/me", timeout=TIMEOUT).status_code for _ in range(3)
    }
    assert time.monotonic() - started >= 0.45
    assert statuses <= {500, 503}
    assert requests.get(f"{sim.url}/v1/shoppers/me", timeout=TIMEOUT).status_code == 401


def test_hang_is_bounded_and_reset_wakes_it(sim: SimulatorServer) -> None:
    post_admin(sim, "faults", {"hang": 120})
    assert requests.get(f"{sim.url}/_sim/faults", timeout=TIMEOUT).json()["hang"] == 30
    with pytest.raises(requests.Timeout):
        requests.get(f"{sim.url}/v1/shoppers/me", timeout=0.3)
    requests.post(f"{sim.url}/_sim/reset", timeout=TIMEOUT).raise_for_status()
    # Answered (within the client timeout): the reset cleared the hang.
    assert requests.get(f"{sim.url}/v1/shoppers/me", timeout=TIMEOUT).status_code == 401
    assert requests.get(f"{sim.url}/_sim/faults", timeout=TIMEOUT).json()["hang"] in (0, None)


def test_stats_and_reset(sim: SimulatorServer) -> None:
    token = mint(sim, "erid-s")
    requests.get(f"{sim.url}/oauth20/access-tokens", params={"token": token}, timeout=TIMEOUT)
    stats = get_stats(sim)
    assert set(stats["calls"]) == set(CALL_KINDS)
    assert stats["calls"]["token"] == 1 and stats["calls"]["token_inspect"] == 1
    assert stats["mints_by_erid"] == {"erid-s": 1}
    post_admin(sim, "faults", {"latency_ms": 10})
    post_admin(sim, "quirks", {"wrap_token": True})
    assert requests.post(f"{sim.url}/_sim/reset", timeout=TIMEOUT).status_code == 204
    stats = get_stats(sim)
    assert sum(stats["calls"].values()) == 0 and stats["mints_by_erid"] == {}
    assert requests.get(f"{sim.url}/_sim/faults", timeout=TIMEOUT).json()["latency_ms"] == 0
    assert requests.get(f"{sim.url}/_sim/quirks", timeout=TIMEOUT).json()["wrap_token"] is False
    inspect = requests.get(
        f"{sim.url}/oauth20/access-tokens", params={"token": token}, timeout=TIMEOUT
    )
    assert inspect.status_code == 401


def test_simulated_rate_limit() -> None:
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, rate_limit=5)
    with SimulatorServer(config) as limited:
        statuses = [
            requests.get(f"{limited.url}/v1/shoppers/me", timeout=TIMEOUT) for _ in range(12)
        ]
        limited_answers = [r for r in statuses if r.status_code == 429]
        assert limited_answers and len(limited_answers) <= 7
        assert limited_answers[0].headers["Retry-After"] == "1"
        assert shopper_error(limited_answers[0]) == (429, "rate-limit-quota-exceeded")
        assert get_stats(limited)["rate_limited"] == len(limited_answers)


def test_server_logs_carry_no_query(sim: SimulatorServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="werkzeug")
    token = mint(sim)
    requests.get(f"{sim.url}/oauth20/access-tokens", params={"token": token}, timeout=TIMEOUT)
    assert "GET /oauth20/access-tokens HTTP/1.1" in caplog.text
    assert token not in caplog.text


# --------------------------------------------------------------------------- configuration


def test_config_from_dict() -> None:
    config = SimulatorConfig.from_dict(
        {
            "api_key": "k",
            "api_secret": "s",
            "token_lifetime": 3600,
            "quirks": {"string_expires_in": True},
            "purchase_plans": [
                {"id": "1", "target_market_id": "2", "name": "P", "email_domains": ["a.edu"]}
            ],
        }
    )
    assert config.quirks == SimulatorQuirks(string_expires_in=True)
    assert config.purchase_plans[0].email_domains == ("a.edu",)
    for bad in (
        {"nope": 1},
        {"quirks": {"x": True}},
        {"token_lifetime": 0},
        {
            "purchase_plans": [
                {"id": "1", "target_market_id": "2", "name": "P", "email_domains": "a.edu"}
            ]
        },
    ):
        with pytest.raises(ValueError):
            SimulatorConfig.from_dict(bad)


@pytest.mark.parametrize(
    ("bind", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        (":9", ("127.0.0.1", 9)),
        ("[::1]:80", ("::1", 80)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
    ],
)
def test_parse_bind(bind: str, expected: tuple[str, int]) -> None:
    assert parse_bind(bind) == expected


@pytest.mark.parametrize("bind", ["localhost", "host:port", "h:70000"])
def test_parse_bind_rejects(bind: str) -> None:
    with pytest.raises(ValueError):
        parse_bind(bind)
