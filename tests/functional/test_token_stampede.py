"""Single flight across processes: 200 concurrent /v1/tokens for one cold user -> one mint.

Real gunicorn workers (and two separate bridge instances) sharing the machine's Redis, minting
at the DR simulator over real HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle, pairwise
from typing import Any

import pytest
import requests

from sso_bridge.simulator import SimulatorConfig
from sso_bridge.simulator.server import SimulatorServer
from tests.helpers import API_KEY, remember_secret, with_simulator
from tests.servers import Gunicorn

pytestmark = pytest.mark.slow

HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    # A little latency makes the race real: requests arrive while the first mint is in flight.
    with SimulatorServer(SimulatorConfig(token_lifetime=3600)) as server:
        requests.post(server.url + "/_sim/faults", json={"latency_ms": 50}, timeout=5)
        yield server


def burst(urls: list[str], user_key: str, count: int = 200) -> list[tuple[int, str | None]]:
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))

    def one(url: str) -> tuple[int, str | None]:
        response = session.post(
            url + "/v1/tokens", json={"userKey": user_key}, headers=HEADERS, timeout=10
        )
        token = response.json().get("access_token") if response.status_code == 200 else None
        if token:
            remember_secret(token)
        return response.status_code, token

    targets = [url for url, _ in zip(cycle(urls), range(count), strict=False)]
    with ThreadPoolExecutor(max_workers=64) as pool:
        return list(pool.map(one, targets))


def mints(simulator: SimulatorServer) -> dict[str, int]:
    stats = requests.get(simulator.url + "/_sim/stats", timeout=5).json()
    return dict(stats["mints_by_erid"])


def test_one_mint_per_user_across_workers_and_instances(
    real_config: dict[str, Any], simulator: SimulatorServer
) -> None:
    config = with_simulator(real_config, simulator.url)
    with Gunicorn(config, workers=4) as first, Gunicorn(config, workers=2) as second:
        for user_key, urls in (("1", [first.url]), ("2", [first.url, second.url])):
            results = burst(urls, user_key)
            assert [status for status, _ in results] == [200] * 200
            assert len({token for _, token in results}) == 1
        counts = mints(simulator)
        assert sorted(counts.values()) == [1, 1]
        # The DR shopper was created exactly once per user, despite the concurrent first mints.
        stats = requests.get(simulator.url + "/_sim/stats", timeout=5).json()
        assert stats["calls"]["shopper_create"] == 2 and stats["shoppers"] == 2
        # Twenty more bursts on the warm users: served from the cache, zero extra mints.
        for round_number in range(20):
            results = burst([first.url, second.url], str(1 + round_number % 2), count=50)
            assert {status for status, _ in results} == {200}
        assert mints(simulator) == counts


def test_refresh_ahead_never_serves_an_expired_token(real_config: dict[str, Any]) -> None:
    """5-second tokens under steady load for a minute: every token served is live at DR, and
    mints stay within 5% of one per refresh interval (half a lifetime: 2.5 s)."""
    lifetime, fraction, duration = 5, 0.5, 60.0
    with SimulatorServer(SimulatorConfig(token_lifetime=lifetime)) as simulator:
        config = with_simulator(
            real_config, simulator.url, TOKEN_SAFETY_MARGIN=1, TOKEN_REFRESH_FRACTION=fraction
        )
        with Gunicorn(config, workers=2) as bridge, requests.Session() as session:
            first_seen: dict[str, float] = {}
            started = time.monotonic()
            while time.monotonic() - started < duration:
                response = session.post(
                    bridge.url + "/v1/tokens", json={"userKey": "1"}, headers=HEADERS, timeout=5
                )
                assert response.status_code == 200
                body = response.json()
                token = remember_secret(body["access_token"])
                first_seen.setdefault(token, time.monotonic())
                assert body["expires_in"] >= 1
                # Right after it was served, DR must still accept the token. Asked of the
                # simulator's records (it runs in this process) rather than over HTTP: the
                # inspection URL carries the token, which urllib3 would log.
                record = simulator.state.lookup(token)
                assert record is not None, "an expired token was served"
                assert record.expires_in() >= 1
                time.sleep(0.01)
            minted = sum(mints(simulator).values())
    # Every mint was served (no hidden extra mints), and they came once per refresh interval.
    assert minted == len(first_seen)
    moments = sorted(first_seen.values())
    intervals = [later - earlier for earlier, later in pairwise(moments)]
    mean_interval = sum(intervals) / len(intervals)
    refresh_interval = lifetime * fraction
    assert abs(mean_interval - refresh_interval) / refresh_interval <= 0.05, mean_interval
