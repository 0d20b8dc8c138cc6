"""`sso-bridge serve` as an operator runs it: gunicorn with several workers, configured through
the environment, answering RUM and /v1, with /metrics aggregated over every worker."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sso_bridge.simulator import SimulatorConfig
from sso_bridge.simulator.server import SimulatorServer
from tests.helpers import (
    API_KEY,
    RUM_PASSWORD,
    RUM_USER,
    dr_login_request,
    leaked_secrets,
    remember_secret,
    with_simulator,
)
from tests.servers import config_environment, free_port, wait_until_up

pytestmark = pytest.mark.slow

SSO_BRIDGE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "sso-bridge"


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig()) as server:
        yield server


def test_serve_runs_the_bridge_with_metrics_from_every_worker(
    real_config: dict[str, Any], simulator: SimulatorServer, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SSO_BRIDGE_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(config_environment(with_simulator(real_config, simulator.url)))
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(SSO_BRIDGE), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/healthz", process)
        auth = "Basic " + base64.b64encode(f"{RUM_USER}:{RUM_PASSWORD}".encode()).decode()
        with requests.Session() as http:
            for _ in range(12):  # new connections: both workers get some
                http.close()
                response = http.post(
                    url + "/rum",
                    data=dr_login_request("bcrypt@example.com", "bcrypt-pw-1"),
                    headers={"Authorization": auth, "Content-Type": "text/xml"},
                    timeout=10,
                )
                assert b"<successful>true</successful>" in response.content
            token = http.post(
                url + "/v1/tokens",
                json={"login": "bcrypt@example.com"},
                headers={"Authorization": f"Bearer {API_KEY}"},
                timeout=10,
            )
            assert token.status_code == 200
            remember_secret(token.json()["access_token"])
            assert http.get(url + "/readyz", timeout=10).json()["status"] == "ready"
            metrics = http.get(url + "/metrics", timeout=10).text
        assert (
            'sso_bridge_rum_requests_total{operation="LoginRequest",outcome="success"} 12.0'
            in metrics
        )
        assert "sso_bridge_token_mints_total{outcome=\"minted\"} 1.0" in metrics, metrics
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
    output = (tmp_path / "serve.log").read_text(errors="replace")
    assert "Booting worker" in output
    assert not leaked_secrets(output)
