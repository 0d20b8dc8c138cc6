"""`sso-bridge probe` against a running bridge (real gunicorn), as a merchant runs it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import API_KEY, RUM_PASSWORD, RUM_USER
from tests.servers import Gunicorn

pytestmark = pytest.mark.slow

SSO_BRIDGE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "sso-bridge"


def probe(url: str, *args: str, password: str = RUM_PASSWORD) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSO_BRIDGE_")}
    env |= {"SSO_BRIDGE_PROBE_USER": RUM_USER, "SSO_BRIDGE_PROBE_PASSWORD": password}
    return subprocess.run(
        [str(SSO_BRIDGE), "probe", "--url", url, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_probe_walks_the_four_calls_against_a_running_bridge(sqlite_config: dict[str, Any]) -> None:
    with Gunicorn(sqlite_config, workers=1, threads=2) as bridge:
        signed_in = probe(bridge.url, "login", "demo@example.com", "--shopper-password", "123123")
        assert signed_in.returncode == 0, signed_in.stdout + signed_in.stderr
        assert '<loginID xsi:type="xsd:string">demo@example.com</loginID>' in signed_in.stdout
        assert "123123" not in signed_in.stdout  # the shopper's password is masked
        assert "********" in signed_in.stdout
        assert "LoginResponse: successful" in signed_in.stdout
        erid = re.search(r"externalReferenceID: (\S+)", signed_in.stdout)
        assert erid is not None
        assert re.search(r"HTTP 200 in [\d.]+ ms", signed_in.stdout)

        profile = probe(bridge.url, "--no-xml", "profile", "--erid", erid.group(1))
        assert profile.returncode == 0, profile.stdout
        assert "GetUserProfileResponse: successful" in profile.stdout
        assert "email: demo@example.com" in profile.stdout

        token = requests.post(
            bridge.url + "/v1/sessions",
            json={"login": "demo@example.com"},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=10,
        ).json()["token"]
        session = probe(bridge.url, "--no-xml", "session", token)
        assert session.returncode == 0, session.stdout
        assert f"externalReferenceID: {erid.group(1)}" in session.stdout

        created = probe(
            bridge.url,
            "--no-xml",
            "create",
            "probe.new@example.com",
            "--shopper-password",
            "probe-new-password",
            "--first-name",
            "Pro",
        )
        assert created.returncode == 0, created.stdout
        assert "successful" in created.stdout

        wrong = probe(
            bridge.url, "--no-xml", "login", "demo@example.com", "--shopper-password", "x"
        )
        assert wrong.returncode == 1
        assert "errorMessage: Invalid login" in wrong.stdout

        refused = probe(bridge.url, "--no-xml", "session", "abc", password="not-the-password")
        assert refused.returncode == 2
        assert "HTTP 401" in refused.stdout and "invalid_token" in refused.stdout
        assert "not-the-password" not in refused.stdout + refused.stderr


def test_probe_names_an_unreachable_bridge_in_one_line() -> None:
    result = probe("http://127.0.0.1:9", "--no-xml", "session", "abc")
    assert result.returncode == 2
    assert "no answer" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
