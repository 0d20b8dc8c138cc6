"""200 concurrent first sign-ins for 20 users, through real gunicorn workers on PostgreSQL."""

from __future__ import annotations

import base64
import random
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from sqlalchemy import select, text

from sso_bridge.db import make_engine
from sso_bridge.schema import identities, upgrade
from tests.conftest import REDIS_URL
from tests.helpers import SampleUser, bridge_config, dr_login_request, seed_users
from tests.servers import Gunicorn

pytestmark = pytest.mark.slow

USERS = [SampleUser(f"user{n:02d}@example.com", f"pw-{n:02d}", "bcrypt") for n in range(20)]


def test_concurrent_first_sign_ins_give_exactly_one_erid_per_user(
    postgres_database: Any, redis_prefix: str
) -> None:
    merchant, bridge = postgres_database(), postgres_database()
    seed_users(make_engine(merchant), USERS)
    upgrade(make_engine(bridge))
    config = bridge_config(
        merchant_url=merchant, bridge_url=bridge, redis_url=REDIS_URL, redis_prefix=redis_prefix
    )
    attempts = [user for user in USERS for _ in range(10)]
    random.Random(7).shuffle(attempts)
    auth = "Basic " + base64.b64encode(b"dr:rum-basic-secret-1").decode()

    with Gunicorn(config, workers=4) as server, requests.Session() as session:
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=50)
        session.mount("http://", adapter)

        def sign_in(user: SampleUser) -> tuple[str, int, str | None]:
            response = session.post(
                server.url + "/rum",
                data=dr_login_request(user.email, user.password),
                headers={"Authorization": auth, "Content-Type": "text/xml"},
                timeout=30,
            )
            erid = None
            if response.status_code == 200:
                erid = ET.fromstring(response.content).findtext("userKey/externalReferenceID")
            return user.email, response.status_code, erid

        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(sign_in, attempts))
        # /metrics aggregates every worker (prometheus-client multiprocess mode).
        exposition = session.get(server.url + "/metrics", timeout=10).text

    assert [status for _, status, _ in results] == [200] * 200
    assert ('sso_bridge_rum_requests_total{operation="LoginRequest",outcome="success"} 200.0'
            in exposition)
    with make_engine(bridge).connect() as connection:
        stored = dict(connection.execute(select(identities.c.user_key, identities.c.erid)).all())
    with make_engine(merchant).connect() as connection:
        keys: dict[str, int] = dict(connection.execute(text("select email, id from users")).all())
    assert len(stored) == 20
    assert len(set(stored.values())) == 20  # two users never share an ERID
    for email, _, erid in results:
        assert erid == stored[str(keys[email])]
