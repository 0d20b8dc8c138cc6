"""A cold user's first token over real HTTP: gunicorn workers, the machine's Redis and
PostgreSQL, the DR simulator with latency on every DR call and a private-store rule (by search)
matching every user. A stampede of 20 concurrent requests for 5 cold users still makes one mint,
one shopper creation and one plan authorization per user, and the plan search is made with the
application's own token (counted by kind in the simulator's records), not a shopper's."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from sso_bridge.db import make_engine
from sso_bridge.simulator import SimulatorConfig
from sso_bridge.simulator.server import SimulatorServer
from tests.helpers import API_KEY, SampleUser, remember_secret, seed_users, with_simulator
from tests.servers import Gunicorn

pytestmark = pytest.mark.slow

HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
STUDENTS = [f"cold{n}@university.edu" for n in range(5)]


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(token_lifetime=3600)) as server:
        requests.post(server.url + "/_sim/faults", json={"latency_ms": 100}, timeout=5)
        yield server


def test_a_stampede_on_cold_users_makes_one_of_each_call_per_user(
    real_config: dict[str, Any], simulator: SimulatorServer
) -> None:
    seed_users(
        make_engine(real_config["DIRECTORY"]["URL"]),
        [SampleUser(email, "cold-pw-1") for email in STUDENTS],
    )
    config = with_simulator(
        real_config,
        simulator.url,
        PRIVATE_STORES=[{"emailDomain": "university.edu", "search": True}],
    )
    with Gunicorn(config, workers=2) as bridge, requests.Session() as session:
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=20))
        assert _app_tokens_minted(simulator, 2)  # one per worker, at start-up

        def one(login: str) -> tuple[int, str | None, str | None]:
            response = session.post(
                bridge.url + "/v1/tokens", json={"login": login}, headers=HEADERS, timeout=10
            )
            body = response.json() if response.status_code == 200 else {}
            token = body.get("access_token")
            if token:
                remember_secret(token)
            return response.status_code, token, body.get("externalReferenceId")

        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(one, [STUDENTS[n % 5] for n in range(20)]))
        stats = requests.get(simulator.url + "/_sim/stats", timeout=5).json()

    assert [status for status, _, _ in results] == [200] * 20
    assert len({token for _, token, _ in results}) == 5
    erids = {erid for _, _, erid in results}
    assert len(erids) == 5
    assert stats["mints_by_erid"] == dict.fromkeys(erids, 1)
    assert stats["calls"]["token"] == 5
    assert stats["calls"]["shopper_create"] == 5 and stats["shoppers"] == 5
    assert stats["calls"]["plan_authorize"] == 5
    assert Counter(a["erid"] for a in stats["authorizations"]) == dict.fromkeys(erids, 1)
    # Cold users arriving together share one search per process (then the cache), never one
    # search per user, made with the application's token each worker minted at start-up.
    assert 1 <= stats["calls"]["plan_search"] <= 2
    assert stats["calls"]["app_token"] == 2
    # Nothing else: no read-back of the shopper, no inspection, no revocation.
    expected_kinds = {"token", "app_token", "shopper_create", "plan_search", "plan_authorize"}
    assert {kind for kind, count in stats["calls"].items() if count} == expected_kinds


def test_a_warm_rule_makes_one_of_each_call_per_cold_user(
    real_config: dict[str, Any], simulator: SimulatorServer
) -> None:
    """Once the rule's search is cached, a cold user costs exactly a mint, a shopper creation
    and an authorization at DR: the search is off its path altogether."""
    seed_users(
        make_engine(real_config["DIRECTORY"]["URL"]),
        [SampleUser(email, "cold-pw-1") for email in STUDENTS[:3]],
    )
    config = with_simulator(
        real_config,
        simulator.url,
        PRIVATE_STORES=[{"emailDomain": "university.edu", "search": True}],
    )
    with Gunicorn(config, workers=2) as bridge, requests.Session() as session:
        assert _app_tokens_minted(simulator, 2)  # one per worker, at start-up
        counts: list[dict[str, int]] = []
        for login in STUDENTS[:3]:
            response = session.post(
                bridge.url + "/v1/tokens", json={"login": login}, headers=HEADERS, timeout=10
            )
            assert response.status_code == 200
            remember_secret(response.json()["access_token"])
            stats = requests.get(simulator.url + "/_sim/stats", timeout=5).json()
            counts.append({kind: n for kind, n in stats["calls"].items() if n})
            requests.post(simulator.url + "/_sim/reset", timeout=5).raise_for_status()
            requests.post(simulator.url + "/_sim/faults", json={"latency_ms": 100}, timeout=5)
    first, *later = counts
    assert first == {
        "token": 1, "app_token": 2, "plan_search": 1, "shopper_create": 1, "plan_authorize": 1
    }
    assert later == [{"token": 1, "shopper_create": 1, "plan_authorize": 1}] * 2


def _app_tokens_minted(simulator: SimulatorServer, count: int) -> bool:
    """Whether ``count`` application tokens were minted (waiting a bounded while for them)."""
    for _ in range(200):
        if simulator.state.stats()["calls"]["app_token"] >= count:  # type: ignore[index]
            return True
        time.sleep(0.05)
    return False
