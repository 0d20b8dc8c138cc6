"""After PostgreSQL drops the bridge's connections (a restart, a failover, an idle-connection
reaper), pooled connections are checked before use: at most one 503, then normal service."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.helpers import dr_login_request
from tests.serve_process import RUM_AUTH, BridgeServe

pytestmark = pytest.mark.slow


def _sign_in(url: str) -> int:
    response = requests.post(
        url + "/rum",
        data=dr_login_request("bcrypt@example.com", "bcrypt-pw-1"),
        headers={"Authorization": RUM_AUTH, "Content-Type": "text/xml"},
        timeout=10,
    )
    if response.status_code == 200:
        assert b"<successful>true</successful>" in response.content
    return response.status_code


def test_dropped_database_connections_cost_at_most_one_503(
    real_config: dict[str, Any], postgres_admin: Any
) -> None:
    databases = [
        make_url(real_config["DATABASE_URL"]).database,
        make_url(real_config["DIRECTORY"]["URL"]).database,
    ]
    # Throttling is another subject (and concurrent correct sign-ins are its own finding).
    with BridgeServe({**real_config, "THROTTLE_ENABLED": False}) as bridge:
        # Fill every worker's pools: concurrent sign-ins on fresh connections, several rounds.
        with ThreadPoolExecutor(max_workers=8) as pool:
            warm = list(pool.map(lambda _: _sign_in(bridge.url), range(48)))
        assert set(warm) == {200}
        with postgres_admin.connect() as connection:
            dropped = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = ANY(:names) AND pid <> pg_backend_pid()"
                ),
                {"names": databases},
            ).scalar_one()
        assert dropped >= 4  # both databases, both workers: the test really cut something
        after = [_sign_in(bridge.url) for _ in range(30)]
    assert after.count(503) <= 1, after
    assert set(after[-10:]) == {200}, after
    assert set(after) <= {200, 503}, after
