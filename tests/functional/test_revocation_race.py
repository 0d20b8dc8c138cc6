"""Issue 8, item 6: revocation wins every race.

Real gunicorn with two workers on the machine's Redis, the DR simulator slowed down on its token
endpoint only, so that ``DELETE /v1/tokens/<erid>`` lands while a mint for that user is in flight.
Once the DELETE has answered 204, no ``/v1/tokens`` answer for the user may carry a token whose
mint began before or during it, and the token of the overtaken mint is revoked at DR.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sso_bridge.db import make_engine
from sso_bridge.identity import IdentityMap
from sso_bridge.simulator import SimulatorConfig
from sso_bridge.simulator.server import SimulatorServer
from tests.helpers import API_KEY, remember_secret, with_simulator
from tests.servers import Gunicorn

BEARER = {"Authorization": f"Bearer {API_KEY}"}
DR_LATENCY_MS = 2500  # the in-flight mint: long enough for the DELETE to land inside it


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(token_lifetime=3600)) as server:
        yield server


def sim_stats(simulator: SimulatorServer) -> dict[str, Any]:
    stats: dict[str, Any] = requests.get(simulator.url + "/_sim/stats", timeout=5).json()
    return stats


def live_at_dr(simulator: SimulatorServer, access_token: str) -> bool:
    answer = requests.get(
        simulator.url + "/oauth20/access-tokens", params={"token": access_token}, timeout=5
    )
    return answer.status_code == 200


def wait_for(condition: Any, what: str) -> None:
    give_up = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < give_up, f"never happened: {what}"
        time.sleep(0.02)


@pytest.mark.parametrize("session", [None, "dr-session-race"], ids=["plain", "session-aware"])
def test_a_delete_during_a_mint_wins(
    real_config: dict[str, Any], simulator: SimulatorServer, session: str | None
) -> None:
    erid = IdentityMap(engine=make_engine(real_config["DATABASE_URL"])).erid_for("1")
    body: dict[str, str] = {"userKey": "1"}
    if session:
        body["drSessionToken"] = remember_secret(session)
    config = with_simulator(real_config, simulator.url, DR_TIMEOUT=8)
    with Gunicorn(config, workers=2, threads=4) as server:

        def ask() -> requests.Response:
            answer = requests.post(server.url + "/v1/tokens", json=body, headers=BEARER, timeout=30)
            if answer.status_code == 200:
                remember_secret(answer.json()["access_token"])
            return answer

        requests.post(
            simulator.url + "/_sim/faults",
            json={"latency_ms": DR_LATENCY_MS, "paths": ["/oauth20/token"], "calls": 1},
            timeout=5,
        ).raise_for_status()
        in_flight: list[requests.Response] = []
        racer = threading.Thread(target=lambda: in_flight.append(ask()))
        racer.start()
        # The racer's mint has reached DR (counted on arrival) and DR has not answered yet.
        wait_for(lambda: sim_stats(simulator)["calls"].get("token", 0) == 1, "the mint started")
        deleted = requests.delete(f"{server.url}/v1/tokens/{erid}", headers=BEARER, timeout=30)
        assert deleted.status_code == 204
        assert sim_stats(simulator)["mints_by_erid"].get(erid, 0) == 0  # really mid-mint
        after = [ask() for _ in range(8)]  # both workers, sent after the 204
        racer.join(timeout=30)
        assert not racer.is_alive()

    (overtaken,) = in_flight
    assert all(answer.status_code == 200 for answer in after), [a.text for a in after]
    served = {answer.json()["access_token"] for answer in after}
    if overtaken.status_code == 200:  # the finding: the overtaken mint's token lived on
        assert overtaken.json()["access_token"] not in served
    # The overtaken request is not handed the token of its mint: 503, retry in a second.
    assert overtaken.status_code == 503, overtaken.text
    assert int(overtaken.headers["Retry-After"]) >= 1
    assert len(served) == 1  # one fresh mint after the revocation, then the cache
    (fresh,) = served
    assert live_at_dr(simulator, fresh)
    stats = sim_stats(simulator)
    assert stats["mints_by_erid"] == {erid: 2}  # the overtaken mint and the fresh one
    # The overtaken mint's token was revoked at DR: the fresh one is the only live token.
    assert stats["active_tokens"] == 1
