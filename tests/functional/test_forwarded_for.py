"""X-Forwarded-For through real `sso-bridge serve`: believed only from the configured proxies."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.helpers import dr_login_request
from tests.serve_process import RUM_AUTH, BridgeServe

pytestmark = pytest.mark.slow


def _sign_in(url: str, forwarded_for: str) -> requests.Response:
    return requests.post(
        url + "/rum",
        data=dr_login_request("bcrypt@example.com", "bcrypt-pw-1"),
        headers={
            "Authorization": RUM_AUTH,
            "Content-Type": "text/xml",
            "X-Forwarded-For": forwarded_for,
        },
        timeout=10,
    )


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "status"),
    [
        # The test client (127.0.0.1) is not the proxy: it reached the bridge directly, so its
        # header is its own invention and its real address is not on the allowlist.
        (["192.0.2.1"], "10.1.1.1", 403),
        # Through the proxy (127.0.0.0/8 here): the hop it appended is believed.
        (["127.0.0.0/8"], "10.1.1.1", 200),
        # One trusted proxy: a hop forged further left is never reached.
        (["127.0.0.0/8"], "10.1.1.1, 203.0.113.9", 403),
    ],
)
def test_forwarded_for_is_believed_only_from_a_configured_proxy(
    real_config: dict[str, Any], proxies: list[str], forwarded_for: str, status: int
) -> None:
    config = {
        **real_config,
        "RUM_ALLOWED_IPS": ["10.0.0.0/8"],
        "TRUSTED_PROXIES": 1,
        "FORWARDED_ALLOW_IPS": proxies,
    }
    with BridgeServe(config) as bridge:
        response = _sign_in(bridge.url, forwarded_for)
    assert response.status_code == status, response.text
    if status == 200:
        assert b"<successful>true</successful>" in response.content
