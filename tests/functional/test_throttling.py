"""Brute-force protection on LoginRequest, counted in the machine's real Redis."""

from __future__ import annotations

import base64
import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask.testing import FlaskClient

from tests.helpers import (
    RUM_NS,
    RUM_PASSWORD,
    RUM_USER,
    create_request,
    dr_login_request,
    profile_request,
)

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
    return response.get_data()


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


def test_unknown_logins_are_counted_too_under_keyed_names(client: FlaskClient) -> None:
    for n in range(6):
        login(client, "ghost@example.com", f"guess-{n}")
    found = client.application.extensions["sso_bridge"]
    store, prefix = found.store.client, found.settings.redis_key_prefix
    keys = [key.decode() for key in store.scan_iter(match=f"{prefix}thr:*")]
    assert keys, "no counter was written for an unknown login"
    # Finding 5: sha256(login)[:32] named the counters; a dump and a list of emails told who was
    # attacked. Key names are HMACs under a configured secret now.
    for spelling in ("ghost@example.com", "Ghost@Example.com"):
        digest = hashlib.sha256(spelling.encode()).hexdigest()
        assert not any(digest[:16] in key for key in keys), keys
    assert login(client, "ghost@example.com", "again").count(b"<successful>false") == 1


def test_counter_names_depend_on_the_throttle_key(real_config: dict[str, Any]) -> None:
    from sso_bridge import create_app

    names = []
    for secret in ("first-throttle-key-0123", "second-throttle-key-0123"):
        app = create_app({**real_config, "THROTTLE_KEY": secret})
        client = app.test_client()
        store = app.extensions["sso_bridge"].store.client
        mine = f"{real_config['REDIS_KEY_PREFIX']}thr:{{*"  # not other xdist processes' keys
        before = set(store.scan_iter(match=mine))
        login(client, "ghost@example.com", "guess")
        names.append(set(store.scan_iter(match=mine)) - before)
    assert names[0] and names[1] and not names[0] & names[1]


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


def test_two_login_columns_and_any_spelling_share_one_account(client: FlaskClient) -> None:
    """Finding 2: each login column had its own counters (5 by email + 4 by username, then the
    right password by username signed in)."""
    for n in range(3):
        login(client, "demo@example.com", f"guess-{n}")
    login(client, "DEMO@example.com", "guess-3")
    login(client, "demo", "guess-4")  # the same user by its username column
    assert b"<successful>false</successful>" in login(client, "demo", "123123")
    assert b"<successful>false</successful>" in login(client, "Demo@Example.com", "123123")


def test_successes_and_throttled_attempts_are_not_failures(client: FlaskClient) -> None:
    for _ in range(20):  # far more than any window's limit
        assert b"<successful>true</successful>" in login(client, "demo@example.com", "123123")
    for n in range(4):
        login(client, "demo@example.com", f"guess-{n}")
    assert b"<successful>true</successful>" in login(client, "demo@example.com", "123123")


def test_parallel_wrong_passwords_through_the_app_get_five_guesses(client: FlaskClient) -> None:
    with ThreadPoolExecutor(max_workers=12) as pool:
        bodies = list(pool.map(lambda n: login(client, "demo@example.com", f"g{n}"), range(24)))
    assert all(b"<successful>false</successful>" in body for body in bodies)
    found = client.application.extensions["sso_bridge"]
    store, prefix = found.store.client, found.settings.redis_key_prefix
    # This test's own keys only: other tests (other xdist processes) share the Redis database.
    failures = [int(store.get(key)) for key in store.scan_iter(match=f"{prefix}thr:{{*}}:f:60")]
    # One account counter (the user) saw exactly its five verified guesses; the rest were
    # refused before verifying.
    assert failures == [5]


def with_shopper_ip(document: bytes, root: str, shopper_ip: str) -> bytes:
    attribute = (
        f"<extendedAttributes><item><name>shopperIp</name><value>{shopper_ip}</value></item>"
        f"</extendedAttributes></{root}>"
    )
    return document.replace(f"</{root}>".encode(), attribute.encode())


def test_registration_probes_of_a_taken_email_are_throttled(client: FlaskClient) -> None:
    """Finding 4: 40 back-to-back "Email already used" probes all went through."""
    answers = [
        client.post("/rum", data=create_request("demo@example.com", "probe-pw"), headers=XML)
        for _ in range(40)
    ]
    statuses = [answer.status_code for answer in answers]
    assert statuses == [200] * 5 + [503] * 35
    assert all(b"Email already used" in answer.data for answer in answers[:5])
    assert answers[-1].headers["Retry-After"] == "1"
    assert b"Email already used" not in answers[-1].data


def test_dr_retrying_one_registration_is_never_throttled(client: FlaskClient) -> None:
    """A registration DR retries (same email, same password) gets its ERID back every time: only
    "Email already used" answers count against an email, so retries cannot lock the shopper out
    (the registration crash test retries far more often than the email's limit)."""
    body = create_request("retried.shopper@example.com", "retried-pw-1")
    answers = [client.post("/rum", data=body, headers=XML) for _ in range(12)]
    assert [answer.status_code for answer in answers] == [200] * 12
    erids = {re.search(rb"<externalReferenceID>([^<]+)<", a.data).group(1) for a in answers}  # type: ignore[union-attr]
    assert len(erids) == 1


def test_registrations_from_one_shopper_ip_are_throttled(real_config: dict[str, Any]) -> None:
    from sso_bridge import create_app

    client = create_app({**real_config, "SHOPPER_IP_ATTRIBUTE": "shopperIp"}).test_client()
    root = "CreateUserProfileRequest"
    statuses = [
        client.post(
            "/rum",
            data=with_shopper_ip(create_request(f"new{n}@example.com", "pw-1"), root, "192.0.2.9"),
            headers=XML,
        ).status_code
        for n in range(12)
    ]
    assert statuses == [200] * 10 + [503] * 2
    other = with_shopper_ip(create_request("new-other@example.com", "pw-1"), root, "192.0.2.10")
    answer = client.post("/rum", data=other, headers=XML)
    assert answer.status_code == 200 and b"<successful>true</successful>" in answer.data


def test_profile_lookups_by_login_are_throttled_on_misses(real_config: dict[str, Any]) -> None:
    """Finding 4: GetUserProfileRequest by loginID was an unthrottled lookup."""
    from sso_bridge import create_app

    client = create_app({**real_config, "SHOPPER_IP_ATTRIBUTE": "shopperIp"}).test_client()
    root = "GetUserProfileRequest"

    def lookup(login_id: str, shopper_ip: str | None = None) -> int:
        body = profile_request(login=login_id)
        if shopper_ip:
            body = with_shopper_ip(body, root, shopper_ip)
        return client.post("/rum", data=body, headers=XML).status_code

    assert [lookup("ghost@example.com") for _ in range(12)] == [200] * 10 + [503] * 2
    assert [lookup(f"nobody{n}@example.com", "192.0.2.7") for n in range(32)] == (
        [200] * 30 + [503] * 2
    )
    # Hits are not counted, and another shopper's lookups are untouched.
    assert [lookup("demo@example.com") for _ in range(20)] == [200] * 20
    assert lookup("demo@example.com", "192.0.2.8") == 200
