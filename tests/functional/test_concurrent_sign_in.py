"""Finding 11: correct passwords are never throttled by their own concurrency.

Every attempt used to reserve a slot in the account's window before its password was checked,
and only a later success cleared the window: ten concurrent correct sign-ins of one user (DR
retrying, two tabs, a burst of first sign-ins) answered three of them "Invalid login".
"""

from __future__ import annotations

import base64
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from passlib.hash import bcrypt
from sqlalchemy import MetaData

from sso_bridge.db import make_engine
from sso_bridge.schema import upgrade
from tests.conftest import REDIS_URL
from tests.helpers import RUM_PASSWORD, RUM_USER, bridge_config, dr_login_request, users_table
from tests.servers import Gunicorn

pytestmark = pytest.mark.slow

AUTH = "Basic " + base64.b64encode(f"{RUM_USER}:{RUM_PASSWORD}".encode()).decode()


def seed(url: str, users: list[tuple[str, str]], rounds: int) -> None:
    engine = make_engine(url)
    metadata = MetaData()
    table = users_table(metadata)
    metadata.create_all(engine)
    scheme = bcrypt.using(rounds=rounds)
    with engine.begin() as connection:
        for email, password in users:
            connection.execute(
                table.insert().values(
                    email=email, username=None, password=scheme.hash(password), active=True
                )
            )


def config(postgres_database: Any, redis_prefix: str) -> dict[str, Any]:
    merchant, bridge = postgres_database(), postgres_database()
    upgrade(make_engine(bridge))
    return bridge_config(
        merchant_url=merchant,
        bridge_url=bridge,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        # The verification gate must not shed these (that would be a 503, a different answer).
        LOGIN_QUEUE_SECONDS=120,
    )


def sign_in_all(url: str, attempts: list[tuple[str, str]]) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    with requests.Session() as session:
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=len(attempts)))

        def one(attempt: tuple[str, str]) -> str:
            response = session.post(
                url + "/rum",
                data=dr_login_request(*attempt),
                headers={"Authorization": AUTH, "Content-Type": "text/xml"},
                timeout=120,
            )
            if response.status_code != 200:
                return f"status {response.status_code}"
            return (
                "signed in" if b"<successful>true</successful>" in response.content else "refused"
            )

        with ThreadPoolExecutor(max_workers=min(len(attempts), 64)) as pool:
            outcomes.update(pool.map(one, attempts))
    return outcomes


def test_ten_concurrent_correct_sign_ins_of_one_user_all_succeed(
    postgres_database: Any, redis_prefix: str
) -> None:
    settings = config(postgres_database, redis_prefix)
    seed(settings["DIRECTORY"]["URL"], [("burst@example.com", "burst-pw-1")], rounds=12)
    with Gunicorn(settings, workers=2, threads=8) as server:
        outcomes = sign_in_all(server.url, [("burst@example.com", "burst-pw-1")] * 10)
    assert outcomes == Counter({"signed in": 10})


def test_a_racing_burst_of_ten_per_user_for_twenty_users_all_succeed(
    postgres_database: Any, redis_prefix: str
) -> None:
    settings = config(postgres_database, redis_prefix)
    users = [(f"racer{n:02d}@example.com", f"racer-pw-{n:02d}") for n in range(20)]
    seed(settings["DIRECTORY"]["URL"], users, rounds=8)
    # Each user's ten attempts arrive together (the users' bursts overlap one another).
    attempts = [user for user in users for _ in range(10)]
    with Gunicorn(settings, workers=4, threads=8) as server:
        outcomes = sign_in_all(server.url, attempts)
    assert outcomes == Counter({"signed in": 200})
