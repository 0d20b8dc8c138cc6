"""Failure policy with faults injected for real: our own redis-server killed and restarted, the
DR simulator stalled, an unreachable user database. No request may hang.

Policy (README "Failure policy"): with Redis down, /v1/tokens and /v1/sessions answer 503 at
once (no single flight is possible without the shared store) while RUM sign-in keeps working
(throttle counters fall back to each process); when Redis returns, the same processes recover by
themselves. With DR down, cached tokens are served and a shared circuit breaker makes misses
fail fast. With the user database down, RUM answers 503 within the request deadline.

These tests assert behaviour only (every request answered, the status, Retry-After, recovery):
how fast is measured by `python -m bench` (the Redis-down scenario), as ratios in one run, because
a wall-clock bound fails on a busy machine. The client timeouts below only stop a hung request
from hanging the suite.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sso_bridge.simulator import SimulatorConfig
from sso_bridge.simulator.server import SimulatorServer
from tests.helpers import API_KEY, RUM_PASSWORD, RUM_USER, dr_login_request, with_simulator
from tests.servers import Gunicorn, OwnRedis, free_port

pytestmark = pytest.mark.slow

JSON = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
XML = {
    "Authorization": "Basic " + base64.b64encode(f"{RUM_USER}:{RUM_PASSWORD}".encode()).decode(),
    "Content-Type": "text/xml",
}


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(token_lifetime=3600)) as server:
        yield server


# Long enough for a loaded 2-core machine; a request that takes longer has hung.
HUNG = 30


def test_redis_down_answers_503_and_recovers_by_itself(
    real_config: dict[str, Any], simulator: SimulatorServer
) -> None:
    with OwnRedis() as redis_server:
        config = with_simulator({**real_config, "REDIS_URL": redis_server.url}, simulator.url)
        with Gunicorn(config, workers=2) as bridge, requests.Session() as http:
            token = http.post(
                bridge.url + "/v1/tokens", json={"userKey": "1"}, headers=JSON, timeout=5
            )
            assert token.status_code == 200
            redis_server.kill()
            for _ in range(60):
                response = http.post(
                    bridge.url + "/v1/tokens", json={"userKey": "1"}, headers=JSON, timeout=HUNG
                )
                assert response.status_code == 503
                assert int(response.headers["Retry-After"]) >= 1
                assert response.json()["errors"]["error"][0]["code"] == "service-unavailable"
            for _ in range(10):
                response = http.post(
                    bridge.url + "/rum",
                    data=dr_login_request("bcrypt@example.com", "bcrypt-pw-1"),
                    headers=XML,
                    timeout=HUNG,
                )
                assert response.status_code == 200
                assert b"<successful>true</successful>" in response.content
            session = http.post(
                bridge.url + "/v1/sessions", json={"userKey": "1"}, headers=JSON, timeout=HUNG
            )
            assert session.status_code == 503
            assert int(session.headers["Retry-After"]) >= 1

            redis_server.start()  # same port: the bridge must notice by itself
            statuses = []
            # Polls until it recovers; the give-up point is a hang guard, not a speed claim.
            give_up = time.monotonic() + HUNG
            while time.monotonic() < give_up:
                response = http.post(
                    bridge.url + "/v1/tokens", json={"userKey": "1"}, headers=JSON, timeout=HUNG
                )
                statuses.append(response.status_code)
                if response.status_code == 200:
                    break
                time.sleep(0.05)
            assert statuses[-1] == 200, f"never recovered: {statuses[-5:]}"
            assert set(statuses) <= {200, 503}


def test_dr_down_opens_one_circuit_for_all_workers(
    real_config: dict[str, Any], simulator: SimulatorServer
) -> None:
    config = with_simulator(real_config, simulator.url, DR_TIMEOUT=0.5, DR_NEGATIVE_TTL=0.2)
    with Gunicorn(config, workers=3) as bridge, requests.Session() as http:
        cached = http.post(
            bridge.url + "/v1/tokens", json={"userKey": "1"}, headers=JSON, timeout=5
        ).json()["access_token"]
        requests.post(simulator.url + "/_sim/faults", json={"status": 503}, timeout=5)
        keys = ["2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13"]
        for key in keys:
            response = http.post(
                bridge.url + "/v1/tokens", json={"userKey": key}, headers=JSON, timeout=HUNG
            )
            assert response.status_code in (503, 404)
        calls = requests.get(simulator.url + "/_sim/stats", timeout=5).json()["calls"]["token"]
        # Five failed mints (each retried within its deadline) open the circuit; the remaining
        # misses never reach DR.
        assert calls <= 1 + 5 * 5
        for key in ("20", "21", "22"):
            http.post(bridge.url + "/v1/tokens", json={"userKey": key}, headers=JSON, timeout=5)
        after = requests.get(simulator.url + "/_sim/stats", timeout=5).json()["calls"]["token"]
        assert after == calls
        # Cached tokens are still served while DR is down.
        again = http.post(bridge.url + "/v1/tokens", json={"userKey": "1"}, headers=JSON, timeout=5)
        assert again.status_code == 200 and again.json()["access_token"] == cached
        metrics = http.get(bridge.url + "/metrics", timeout=5).text
        assert "sso_bridge_dr_circuit_opened_total 1.0" in metrics


def test_user_database_down_answers_503(real_config: dict[str, Any]) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    config = {**real_config, "DIRECTORY": {**real_config["DIRECTORY"], "URL": unreachable}}
    with Gunicorn(config, workers=1) as bridge, requests.Session() as http:
        response = http.post(
            bridge.url + "/rum",
            data=dr_login_request("demo@example.com", "123123"),
            headers=XML,
            timeout=HUNG,
        )
        assert response.status_code == 503
        assert response.json()["errors"]["error"][0]["code"] == "service-unavailable"
        ready = http.get(bridge.url + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["checks"]["user_database"] == "unavailable"
