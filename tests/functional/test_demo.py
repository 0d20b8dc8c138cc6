"""`sso-bridge demo` as a newcomer runs it: it starts, prints commands, and they work."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest
import requests

from sso_bridge.demo import API_KEY, RUM_PASSWORD, RUM_USER
from tests.servers import free_port, wait_until_up

pytestmark = pytest.mark.slow

SSO_BRIDGE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "sso-bridge"


def test_demo_starts_and_its_printed_commands_work(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSO_BRIDGE_")}
    output = (tmp_path / "demo.out").open("w+b")
    process = subprocess.Popen(
        [
            str(SSO_BRIDGE),
            "demo",
            "--bind",
            f"127.0.0.1:{port}",
            "--simulator-bind",
            f"127.0.0.1:{free_port()}",
            "--merchant-bind",
            f"127.0.0.1:{free_port()}",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/healthz", process)
        time.sleep(0.2)
        printed = (tmp_path / "demo.out").read_text()
        commands = [
            line.strip() for line in printed.splitlines() if line.strip().startswith("curl -s -u")
        ]
        assert len(commands) >= 3, printed
        # 1. the printed LoginRequest curl, run as printed
        login = subprocess.run(
            shlex.split(commands[0]), capture_output=True, timeout=30, check=True
        ).stdout
        assert b"<successful>true</successful>" in login
        erid = re.search(rb"<externalReferenceID>([^<]+)<", login)
        assert erid is not None
        # 2. the profile carries the same ERID
        profile = subprocess.run(
            shlex.split(commands[1]), capture_output=True, timeout=30, check=True
        ).stdout
        assert erid.group(1) in profile
        # 3. a token for the same user, minted at the demo's DR simulator, with the same ERID
        token = requests.post(
            url + "/v1/tokens",
            json={"login": "demo@example.com"},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=10,
        )
        assert token.status_code == 200
        assert token.json()["externalReferenceId"] == erid.group(1).decode()
        assert f"{RUM_USER}:{RUM_PASSWORD}" in commands[0]
    finally:
        process.terminate()
        process.wait(timeout=15)
        output.close()
