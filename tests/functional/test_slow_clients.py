"""`sso-bridge serve` as shipped against clients that stall: half a request header, a body
shorter than its Content-Length. While 64 of them are held, the bridge still answers; each of
them is dropped once the configured limit has passed."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sso_bridge.simulator import SimulatorConfig
from sso_bridge.simulator.server import SimulatorServer
from tests.helpers import API_KEY, dr_login_request, remember_secret, with_simulator
from tests.serve_process import RUM_AUTH, BridgeServe

pytestmark = pytest.mark.slow

HALF_HEADER = b"POST /rum HTTP/1.1\r\nHost: bridge\r\nContent-Ty"
PARTIAL_BODY = (
    b"POST /rum HTTP/1.1\r\nHost: bridge\r\nContent-Type: text/xml\r\n"
    b"Content-Length: 500\r\n\r\n" + b"<" * 50
)
# A behaviour check, not a timing bound: "answered at all while they are held".
ANSWER = 5.0


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig()) as server:
        yield server


def _stall(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(data)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(30)  # far beyond the configured limit: an open socket fails the test
    try:
        while sock.recv(4096):  # whatever the server says last, it must then hang up
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


def _token(url: str) -> requests.Response:
    return requests.post(
        url + "/v1/tokens",
        json={"login": "bcrypt@example.com"},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=ANSWER,
    )


def test_stalled_clients_neither_block_the_bridge_nor_stay_connected(
    real_config: dict[str, Any], simulator: SimulatorServer
) -> None:
    # Limits long enough that the probes below run while every stalled connection is still
    # held, even on a loaded machine; short enough that the test then sees them dropped.
    config = with_simulator(
        real_config, simulator.url, REQUEST_HEADER_TIMEOUT=6, REQUEST_BODY_TIMEOUT=6
    )
    with BridgeServe(config) as bridge:
        first = _token(bridge.url)
        assert first.status_code == 200
        remember_secret(first.json()["access_token"])
        stalled = [_stall(bridge.port, HALF_HEADER) for _ in range(32)]
        stalled += [_stall(bridge.port, PARTIAL_BODY) for _ in range(32)]
        try:
            assert requests.get(bridge.url + "/healthz", timeout=ANSWER).status_code == 200
            login = requests.post(
                bridge.url + "/rum",
                data=dr_login_request("bcrypt@example.com", "bcrypt-pw-1"),
                headers={"Authorization": RUM_AUTH, "Content-Type": "text/xml"},
                timeout=ANSWER,
            )
            assert b"<successful>true</successful>" in login.content
            cached = _token(bridge.url)
            assert cached.status_code == 200
            assert cached.json()["access_token"] == first.json()["access_token"]
            for sock in stalled:
                assert _closed_by_server(sock)
        finally:
            for sock in stalled:
                sock.close()
