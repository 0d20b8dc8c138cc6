"""`CommerceClient` against the DR simulator over real HTTP, and its body-tolerance parsers."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from sso_bridge.dr.client import (
    CommerceClient,
    DrConfigurationError,
    DrConflict,
    DrError,
    DrRateLimited,
    DrToken,
    DrUnavailable,
    PurchasePlan,
    Shopper,
    TokenBucket,
    classify_error,
    parse_error,
    parse_purchase_plans,
    parse_retry_after,
    parse_shopper,
    parse_token,
)
from sso_bridge.simulator import SimulatorConfig, SimulatorServer

API_KEY = "test-key"
API_SECRET = "test-secret-Zq8v"
LIFETIME = 3600


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(api_key=API_KEY, api_secret=API_SECRET, token_lifetime=LIFETIME)
    with SimulatorServer(config) as running:
        yield running


@pytest.fixture
def sim(server: SimulatorServer) -> Iterator[SimulatorServer]:
    reset(server)
    yield server
    reset(server)  # also ends any injected hang still holding a server thread


@pytest.fixture
def make_client(sim: SimulatorServer) -> Iterator[Any]:
    clients: list[CommerceClient] = []

    def make(**overrides: Any) -> CommerceClient:
        settings: dict[str, Any] = {
            "base_url": sim.url,
            "api_key": API_KEY,
            "api_secret": API_SECRET,
            "max_calls_per_second": 1000.0,
        }
        settings.update(overrides)
        client = CommerceClient(**settings)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Any) -> CommerceClient:
    made: CommerceClient = make_client()
    return made


def reset(sim: SimulatorServer) -> None:
    requests.post(f"{sim.url}/_sim/reset", timeout=5).raise_for_status()


def set_faults(sim: SimulatorServer, **faults: Any) -> None:
    requests.post(f"{sim.url}/_sim/faults", json=faults, timeout=5).raise_for_status()


def set_quirks(sim: SimulatorServer, **quirks: bool) -> None:
    requests.post(f"{sim.url}/_sim/quirks", json=quirks, timeout=5).raise_for_status()


def stats(sim: SimulatorServer) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(f"{sim.url}/_sim/stats", timeout=5).json()
    return answer


def calls(sim: SimulatorServer, kind: str) -> int:
    return int(stats(sim)["calls"][kind])


# --------------------------------------------------------------------------- tokens


@pytest.mark.parametrize(
    "quirks",
    [
        {},
        {"string_expires_in": True},
        {"wrap_token": True},
        {"string_expires_in": True, "wrap_token": True},
    ],
    ids=["plain", "string-expires-in", "wrapped", "both"],
)
def test_mint_accepts_each_token_shape(
    sim: SimulatorServer, client: CommerceClient, quirks: dict[str, bool]
) -> None:
    set_quirks(sim, **quirks)
    token = client.mint_token("erid-1")
    assert token.expires_in == LIFETIME
    assert token.token_type.lower() == "bearer"
    assert token.access_token and token.refresh_token
    assert token.access_token not in repr(token)
    assert stats(sim)["mints_by_erid"] == {"erid-1": 1}


def test_application_token_has_no_shopper_and_finds_plans(
    sim: SimulatorServer, client: CommerceClient
) -> None:
    token = client.mint_app_token()
    assert token.access_token and token.expires_in == LIFETIME
    assert client.inspect_token(token.access_token)["externalReferenceId"] is None
    plans = client.search_purchase_plans(token.access_token, emailDomain="university.edu")
    assert [plan.id for plan in plans] == ["11858700"]
    assert (calls(sim, "app_token"), calls(sim, "token")) == (1, 0)
    with pytest.raises(DrError) as refused:  # not a shopper's token
        client.authorize_purchase_plan(
            token.access_token, "11858700", "35100", emailDomain="university.edu"
        )
    assert refused.value.status == 401


def test_session_aware_token(client: CommerceClient) -> None:
    token = client.mint_token("erid-s", dr_session_token="dr-session-123")
    info = client.inspect_token(token.access_token)
    assert info["externalReferenceId"] == "erid-s"
    assert info["sessionAware"] is True


def test_wrong_secret_is_a_configuration_error_after_one_call(
    sim: SimulatorServer, make_client: Any
) -> None:
    client = make_client(api_secret="wrong-secret")
    with pytest.raises(DrConfigurationError) as caught:
        client.mint_token("erid-1")
    assert caught.value.status == 401
    assert caught.value.code == "invalid_client"
    assert "wrong-secret" not in str(caught.value)
    assert calls(sim, "token") == 1


def test_injected_invalid_client_is_not_retried(
    sim: SimulatorServer, client: CommerceClient
) -> None:
    set_faults(sim, status=401, calls=3)
    with pytest.raises(DrConfigurationError):
        client.mint_token("erid-1")
    assert calls(sim, "token") == 1


def test_5xx_is_retried_until_success(sim: SimulatorServer, client: CommerceClient) -> None:
    set_faults(sim, status=500, calls=2)
    token = client.mint_token("erid-1")
    assert token.access_token
    assert calls(sim, "token") == 3


def test_persistent_5xx_gives_up_as_unavailable(sim: SimulatorServer, make_client: Any) -> None:
    client = make_client(max_attempts=3)
    set_faults(sim, status=503)
    with pytest.raises(DrUnavailable) as caught:
        client.mint_token("erid-1")
    assert caught.value.status == 503
    assert calls(sim, "token") == 3


@pytest.mark.parametrize("status", [429, 409])
def test_rate_limit_waits_for_retry_after(
    sim: SimulatorServer, client: CommerceClient, status: int
) -> None:
    set_faults(sim, status=status, code="rate-limit-quota-exceeded", retry_after=1, calls=1)
    started = time.monotonic()
    token = client.mint_token("erid-1", deadline=3.0)
    assert time.monotonic() - started >= 0.95
    assert token.access_token
    assert calls(sim, "token") == 2


def test_retry_after_past_the_deadline_fails_fast(
    sim: SimulatorServer, client: CommerceClient
) -> None:
    set_faults(sim, status=429, retry_after=30)
    with pytest.raises(DrRateLimited) as caught:
        client.mint_token("erid-1")
    # Failed at once: no wait toward a Retry-After past the deadline, and no second call.
    assert caught.value.retry_after == 30
    assert caught.value.status == 429
    assert calls(sim, "token") == 1


def test_hang_ends_within_the_deadline(sim: SimulatorServer, make_client: Any) -> None:
    client = make_client(read_timeout=0.4, deadline=1.0)
    set_faults(sim, hang=True)
    started = time.monotonic()
    with pytest.raises(DrUnavailable) as caught:
        client.mint_token("erid-1")
    # The read timeout did expire (a lower bound holds on any machine); the upper end is the
    # deadline, enforced by the client and measured by the bench, not asserted here.
    assert time.monotonic() - started >= 0.4
    assert caught.value.code == "timeout"
    assert caught.value.status is None


def test_a_single_hang_is_retried_within_the_deadline(
    sim: SimulatorServer, make_client: Any
) -> None:
    client = make_client(read_timeout=0.3, deadline=2.0)
    set_faults(sim, hang=True, calls=1)
    assert client.mint_token("erid-1").access_token
    assert calls(sim, "token") == 2


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = CommerceClient(
        base_url=f"http://127.0.0.1:{port}", api_key=API_KEY, api_secret=API_SECRET, deadline=0.5
    )
    with pytest.raises(DrUnavailable) as caught:
        client.mint_token("erid-1")
    assert caught.value.code == "connection-error"
    client.close()


@pytest.mark.parametrize("status", [400, 403, 404, 412])
def test_other_4xx_are_not_retried(
    sim: SimulatorServer, client: CommerceClient, status: int
) -> None:
    set_faults(sim, status=status, calls=5)
    with pytest.raises(DrError) as caught:
        client.mint_token("erid-1")
    assert type(caught.value) is DrError
    assert caught.value.status == status
    assert calls(sim, "token") == 1


def test_revoked_token_is_invalid_for_inspect(sim: SimulatorServer, client: CommerceClient) -> None:
    token = client.mint_token("erid-1")
    assert client.inspect_token(token.access_token)["externalReferenceId"] == "erid-1"
    client.revoke_token(token.access_token)
    with pytest.raises(DrError) as caught:
        client.inspect_token(token.access_token)
    assert caught.value.status == 401
    assert caught.value.code == "invalid_token"
    assert token.access_token not in str(caught.value)
    assert calls(sim, "token_revoke") == 1


# --------------------------------------------------------------------------- rate limiter


def test_client_rate_limit_paces_calls_under_dr_limit(make_client: Any) -> None:
    config = SimulatorConfig(api_key=API_KEY, api_secret=API_SECRET, rate_limit=10)
    with SimulatorServer(config) as limited:
        client = make_client(base_url=limited.url, max_calls_per_second=10.0, deadline=5.0)
        started = time.monotonic()
        for n in range(25):
            client.mint_token(f"erid-{n}")
        elapsed = time.monotonic() - started
        assert elapsed >= 1.5
        assert stats(limited)["rate_limited"] == 0
        assert calls(limited, "token") == 25


def test_token_bucket_is_thread_safe_and_paced() -> None:
    bucket = TokenBucket(50.0)
    admitted: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            assert bucket.acquire(time.monotonic() + 5.0)
            with lock:
                admitted.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 20
    assert time.monotonic() - started >= 19 / 50 - 0.05


def test_token_bucket_refuses_rather_than_sleeping_past_the_deadline() -> None:
    now = [100.0]
    slept: list[float] = []
    bucket = TokenBucket(2.0, clock=lambda: now[0], sleep=slept.append)
    assert bucket.acquire(now[0])  # the first call is free
    assert not bucket.acquire(now[0] + 0.4)  # the next slot is 0.5 s away
    assert bucket.acquire(now[0] + 0.5)
    assert slept == [0.5]


def test_client_limiter_that_cannot_admit_raises_rate_limited(make_client: Any) -> None:
    class Closed:
        def acquire(self, deadline: float) -> bool:
            return False

    client = make_client(rate_limiter=Closed())
    with pytest.raises(DrRateLimited) as caught:
        client.mint_token("erid-1")
    assert caught.value.code == "client-rate-limited"


# --------------------------------------------------------------------------- shoppers, plans


def test_create_then_conflict_then_read(sim: SimulatorServer, client: CommerceClient) -> None:
    token = client.mint_token("erid-7")
    shopper = Shopper("erid-7", "Ada", "Lovelace", "ada@university.edu")
    client.create_shopper(token.access_token, shopper, locale="en_GB", currency="GBP")
    with pytest.raises(DrConflict) as caught:
        client.create_shopper(token.access_token, shopper)
    assert caught.value.status == 409
    assert caught.value.code == "shopper-already-exists"
    assert client.get_shopper(token.access_token) == shopper
    client.update_shopper(token.access_token, Shopper(None, "Ada", "King", None))
    assert client.get_shopper(token.access_token).last_name == "King"
    assert calls(sim, "shopper_create") == 2


def test_get_missing_shopper_is_a_404(client: CommerceClient) -> None:
    token = client.mint_token("erid-none")
    with pytest.raises(DrError) as caught:
        client.get_shopper(token.access_token)
    assert (caught.value.status, caught.value.code) == (404, "resource-not-found")


@pytest.mark.parametrize(
    "quirks",
    [{}, {"lowercase_plan_keys": True, "single_plan_object": True}],
    ids=["documented", "dr-sample-shape"],
)
def test_plan_search(sim: SimulatorServer, client: CommerceClient, quirks: dict[str, bool]) -> None:
    set_quirks(sim, **quirks)
    token = client.mint_token("erid-1")
    plans = client.search_purchase_plans(token.access_token, emailDomain="university.edu")
    assert plans == [PurchasePlan("11858700", "35100", "Student Discounts", True)]
    assert client.search_purchase_plans(token.access_token, emailDomain="nowhere.org") == []


def test_authorize_plan(sim: SimulatorServer, client: CommerceClient) -> None:
    token = client.mint_token("erid-1")
    client.authorize_purchase_plan(
        token.access_token, "11858700", "35100", emailDomain="university.edu"
    )
    assert stats(sim)["authorizations"][0]["plan_id"] == "11858700"
    with pytest.raises(DrError) as caught:
        client.authorize_purchase_plan(
            token.access_token, "999", "35100", emailDomain="university.edu"
        )
    assert type(caught.value) is DrError
    assert (caught.value.status, caught.value.code) == (400, "invalid-request")
    assert calls(sim, "plan_authorize") == 2


# --------------------------------------------------------------------------- logging hygiene


def test_debug_logs_hold_no_secret_or_token(
    sim: SimulatorServer, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The package logger's own level may have been set by an app built earlier in the run.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sso_bridge")
    client = make_client()
    token = client.mint_token("erid-log", dr_session_token="dr-session-secret-42")
    client.create_shopper(token.access_token, Shopper("erid-log", "A", "B", "a@university.edu"))
    client.get_shopper(token.access_token)
    client.inspect_token(token.access_token)
    plans = client.search_purchase_plans(token.access_token, emailDomain="university.edu")
    client.authorize_purchase_plan(
        token.access_token, plans[0].id, plans[0].target_market_id, emailDomain="university.edu"
    )
    client.revoke_token(token.access_token)
    wrong_client: CommerceClient = make_client(api_secret="other-secret-99")
    failing: list[Callable[[], object]] = [
        lambda: client.inspect_token(token.access_token),
        lambda: client.get_shopper(token.access_token),
        lambda: wrong_client.mint_token("erid-log"),
    ]
    errors: list[str] = []
    for call in failing:
        with pytest.raises(DrError) as caught:
            call()
        errors.append(str(caught.value))
    text = caplog.text + "\n".join(errors)
    assert "DR POST /oauth20/token -> 200" in caplog.text
    assert "DR GET /oauth20/access-tokens -> 200" in caplog.text
    for secret in (
        API_SECRET,
        "other-secret-99",
        "dr-session-secret-42",
        token.access_token,
        token.refresh_token,
    ):
        assert secret and secret not in text


# --------------------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {
                "access_token": "a",
                "token_type": "bearer",
                "expires_in": 86397,
                "refresh_token": "r",
            },
            DrToken("a", "bearer", 86397, "r"),
        ),
        (
            {"access_token": "a", "token_type": "bearer", "expires_in": "86397"},
            DrToken("a", "bearer", 86397, None),
        ),
        (
            {"token": {"access_token": "a", "token_type": "Bearer", "expires_in": "3600"}},
            DrToken("a", "Bearer", 3600, None),
        ),
        (
            {"Token": {"Access_Token": "a", "EXPIRES_IN": 3600.0, "refresh_token": ""}},
            DrToken("a", "bearer", 3600, None),
        ),
        ({"access_token": "a", "expires_in": " 60 "}, DrToken("a", "bearer", 60, None)),
        ({"access_token": "a", "expires_in": "1e3"}, DrToken("a", "bearer", 1000, None)),
    ],
)
def test_parse_token(body: object, expected: DrToken) -> None:
    assert parse_token(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "text",
        {"token_type": "bearer", "expires_in": 1},
        {"access_token": "a"},
        {"access_token": "a", "expires_in": "soon"},
        {"access_token": "a", "expires_in": True},
        {"access_token": 5, "expires_in": 1},
    ],
)
def test_parse_token_rejects(body: object) -> None:
    with pytest.raises(ValueError):
        parse_token(body)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"error": "invalid_client", "error_description": "bad"}, ("invalid_client", "bad")),
        (401, {"error": "invalid_token"}, ("invalid_token", "HTTP 401")),
        (
            400,
            {"errors": {"error": [{"code": "invalid-request", "description": "d"}]}},
            ("invalid-request", "d"),
        ),
        (
            409,
            {"errors": {"error": {"code": "shopper-already-exists", "description": "x"}}},
            ("shopper-already-exists", "x"),
        ),
        (
            400,
            {"ERRORS": {"Error": [{"CODE": "validation-error", "Description": "v"}]}},
            ("validation-error", "v"),
        ),
        (400, {"errors": {"error": []}}, ("invalid-request", "HTTP 400")),
        (503, None, ("system-error", "HTTP 503")),
        (502, "<html>bad gateway</html>", ("system-error", "HTTP 502")),
        (429, {}, ("rate-limit-quota-exceeded", "HTTP 429")),
        (418, {}, ("http-error", "HTTP 418")),
    ],
)
def test_parse_error(status: int, body: object, expected: tuple[str, str]) -> None:
    assert parse_error(status, body) == expected


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (401, "invalid_client", DrConfigurationError),
        (400, "invalid_client", DrConfigurationError),
        (429, "rate-limit-quota-exceeded", DrRateLimited),
        (409, "rate-limit-quota-exceeded", DrRateLimited),
        (403, "rate-limit-quota-exceeded", DrRateLimited),
        (409, "shopper-already-exists", DrConflict),
        (500, "system-error", DrUnavailable),
        (400, "invalid-request", DrError),
        (401, "invalid_token", DrError),
    ],
)
def test_classify_error(status: int, code: str, kind: type[DrError]) -> None:
    error = classify_error(status, code, "d")
    assert type(error) is kind
    assert (error.status, error.code) == (status, code)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {
                "shopper": {
                    "externalReferenceId": "e",
                    "firstName": "F",
                    "lastName": "L",
                    "emailAddress": "f@x",
                }
            },
            Shopper("e", "F", "L", "f@x"),
        ),
        ({"SHOPPER": {"externalreferenceid": 42, "FIRSTNAME": "F"}}, Shopper("42", "F")),
        ({"firstName": "F", "emailAddress": ""}, Shopper(None, "F")),
    ],
)
def test_parse_shopper(body: object, expected: Shopper) -> None:
    assert parse_shopper(body) == expected


_PLAN = PurchasePlan("11858700", "35100", "Student Discounts", True)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {
                "purchasePlans": {
                    "purchasePlan": [
                        {
                            "id": "11858700",
                            "isAuthenticationRequiredToBrowse": "true",
                            "purchasePlanName": "Student Discounts",
                            "targetMarketId": "35100",
                        }
                    ],
                    "totalResults": "1",
                }
            },
            [_PLAN],
        ),
        (
            {
                "purchaseplans": {
                    "purchaseplan": {
                        "id": "11858700",
                        "isauthenticationrequiredtobrowse": "true",
                        "purchaseplanname": "Student Discounts",
                        "targetmarketid": "35100",
                    },
                    "totalresults": "1",
                }
            },
            [_PLAN],
        ),
        (
            {
                "purchasePlans": {
                    "purchasePlan": {
                        "ID": 11858700,
                        "targetMarketId": 35100,
                        "isAuthenticationRequiredToBrowse": False,
                    }
                }
            },
            [PurchasePlan("11858700", "35100", None, False)],
        ),
        ({"purchasePlans": {"totalResults": "0"}}, []),
        ({"purchasePlans": {"purchasePlan": [], "totalResults": "0"}}, []),
    ],
)
def test_parse_purchase_plans(body: object, expected: list[PurchasePlan]) -> None:
    assert parse_purchase_plans(body) == expected


@pytest.mark.parametrize(
    "body", [[], {"purchasePlans": {"purchasePlan": ["x"]}}, {"purchasePlan": {"name": "n"}}]
)
def test_parse_purchase_plans_rejects(body: object) -> None:
    with pytest.raises(ValueError):
        parse_purchase_plans(body)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("1", 1.0),
        ("2.5", 2.5),
        ("-3", 0.0),
        ("soon", None),
        ("Thu, 01 Jan 1970 00:00:10 GMT", 5.0),
        ("inf", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=5.0) == expected
