"""Brute-force protection on LoginRequest, counted in the machine's real Redis."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask.testing import FlaskClient

from sso_bridge.rum.throttle import LoginThrottle, ThrottlePolicy, Window
from sso_bridge.store import RedisStore
from tests.conftest import REDIS_URL
from tests.helpers import RUM_NS, RUM_PASSWORD, RUM_USER, dr_login_request

XML = {
    "Authorization": "Basic " + base64.b64encode(f"{RUM_USER}:{RUM_PASSWORD}".encode()).decode(),
    "Content-Type": "text/xml",
}


def login(client: FlaskClient, user: str, password: str, shopper_ip: str | None = None) -> bytes:
    body = dr_login_request(user, password)
    if shopper_ip:
        attribute = (
            f"<extendedAttributes><item><name>shopperIp</name><value>{shopper_ip}"
            "</value></item></extendedAttributes></ns1:LoginRequest>"
        )
        body = (
            body.replace(b"</ns1:LoginRequest>", b"").replace(
                b'<extendedAttributes xsi:type="ns2:ExtendedAttributesInfoArray" xsi:nil="true"/>',
                b"",
            )
            + attribute.encode()
        )
    response = client.post("/rum", data=body, headers=XML)
    assert response.status_code == 200
    return response.data


def test_account_is_throttled_after_five_failures_and_answers_like_a_wrong_password(
    client: FlaskClient,
) -> None:
    wrong = {login(client, "demo@example.com", f"guess-{n}") for n in range(5)}
    assert len(wrong) == 1
    throttled = login(client, "demo@example.com", "123123")  # the right password, too late
    assert throttled == wrong.pop()
    assert b"<successful>false</successful>" in throttled
    # Another account is unaffected.
    assert b"<successful>true</successful>" in login(client, "bcrypt@example.com", "bcrypt-pw-1")


def test_unknown_logins_are_counted_too(client: FlaskClient) -> None:
    for n in range(6):
        login(client, "ghost@example.com", f"guess-{n}")
    keys = [
        k
        for k in client.application.extensions["sso_bridge"].store.client.scan_iter(
            match="*thr:acct:*"
        )
    ]
    assert keys, "no account counter was written for an unknown login"


def test_a_success_clears_the_account_windows(client: FlaskClient) -> None:
    for n in range(4):
        login(client, "demo@example.com", f"guess-{n}")
    assert b"<successful>true</successful>" in login(client, "demo@example.com", "123123")
    for n in range(4):
        login(client, "demo@example.com", f"guess-again-{n}")
    assert b"<successful>true</successful>" in login(client, "demo@example.com", "123123")


def test_shopper_ip_from_dr_attribute_is_throttled_across_accounts(
    real_config: dict[str, Any],
) -> None:
    from sso_bridge import create_app

    app = create_app({**real_config, "SHOPPER_IP_ATTRIBUTE": "shopperIp"})
    client = app.test_client()
    for n in range(30):
        login(client, f"nobody{n}@example.com", "x", shopper_ip="198.51.100.7")
    blocked = login(client, "demo@example.com", "123123", shopper_ip="198.51.100.7")
    assert b"<successful>false</successful>" in blocked
    # Without the attribute (DR's own address is everyone's) the same user signs in.
    assert b"<successful>true</successful>" in login(client, "demo@example.com", "123123")
    assert RUM_NS.encode() in blocked


def test_parallel_attempts_cannot_slip_past_the_limit(redis_prefix: str) -> None:
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix, timeout=1.0)
    throttle = LoginThrottle(store=store, policy=ThrottlePolicy(account=(Window(60, 5),)))
    with ThreadPoolExecutor(max_workers=25) as pool:
        verdicts = list(pool.map(lambda _: throttle.reserve("victim@example.com", None), range(50)))
    assert verdicts.count(None) == 5
    assert set(verdicts) == {None, "account"}


def test_the_real_user_gets_back_in_when_the_attack_stops(redis_prefix: str) -> None:
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix, timeout=1.0)
    throttle = LoginThrottle(store=store, policy=ThrottlePolicy(account=(Window(1, 3),)))
    for _ in range(10):
        throttle.reserve("victim@example.com", None)
    assert throttle.reserve("victim@example.com", None) == "account"
    time.sleep(1.2)
    assert throttle.reserve("victim@example.com", None) is None


def test_hour_window_caps_failures_at_one_hundred(redis_prefix: str) -> None:
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix, timeout=1.0)
    policy = ThrottlePolicy()
    assert max(window.limit for window in policy.account) == 100
    throttle = LoginThrottle(store=store, policy=ThrottlePolicy(account=(Window(3600, 100),)))
    verdicts = [throttle.reserve("victim@example.com", None) for _ in range(105)]
    assert verdicts.count(None) == 100
