"""Registration exactly once under crashes: racing CreateUserProfileRequests for one email, with
gunicorn workers killed (SIGKILL) mid-request, through real gunicorn on PostgreSQL.

The merchant table has no unique index on email (nothing in the database stops a second
account) and a trigger makes every insert slow, so the create is in flight when the worker
that runs it is killed. Every round must end with one account and one ERID for its email, and
every successful answer must carry that ERID.
"""

from __future__ import annotations

import base64
import os
import random
import signal
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Boolean, Column, Engine, Integer, MetaData, String, Table, select, text

from sso_bridge.db import make_engine
from sso_bridge.schema import identities, upgrade
from tests.conftest import REDIS_URL
from tests.helpers import RUM_PASSWORD, RUM_USER, bridge_config, create_request
from tests.servers import Gunicorn

pytestmark = pytest.mark.slow

ROUNDS = 20
RACERS = 12
PASSWORD = "crash-test-pw-1"
AUTH = "Basic " + base64.b64encode(f"{RUM_USER}:{RUM_PASSWORD}".encode()).decode()


def _merchant_table(engine: Engine) -> None:
    metadata = MetaData()
    Table(
        "users",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("email", String(320), nullable=False),  # deliberately no unique index
        Column("username", String(150), nullable=True),
        Column("password", String(255), nullable=False),
        Column("first_name", String(100)),
        Column("last_name", String(100)),
        Column("active", Boolean, nullable=False),
    )
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            text(
                """CREATE FUNCTION slow_insert() RETURNS trigger AS $$
                   BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END $$ LANGUAGE plpgsql"""
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER slow_insert BEFORE INSERT ON users "
                "FOR EACH ROW EXECUTE FUNCTION slow_insert()"
            )
        )


def _workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def _socket_inodes(local_port: int) -> set[str]:
    """Inodes of the TCP sockets whose local port is ``local_port`` (from /proc/net)."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(name).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                found.add(fields[9])
    return found


def _owner_of(local_port: int, pids: list[int]) -> int | None:
    inodes = _socket_inodes(local_port)
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return pid
        except OSError:  # the process went away meanwhile
            continue
    return None


def _inserting_worker(merchant: Engine, master: int, deadline: float) -> int | None:
    """The worker whose directory insert is running now (sleeping in the trigger)."""
    query = text(
        "select client_port from pg_stat_activity where datname = current_database() "
        "and state = 'active' and query ilike 'insert into users%'"
    )
    while time.monotonic() < deadline:
        with merchant.connect() as connection:
            ports = list(connection.execute(query).scalars())
        for port in ports:
            owner = _owner_of(int(port), _workers(master))
            if owner is not None:
                return owner
        time.sleep(0.02)
    return None


def _register(url: str, email: str) -> tuple[int | None, str | None]:
    """(HTTP status, ERID of a successful answer); status None when the worker died under it."""
    try:
        response = requests.post(
            url + "/rum",
            data=create_request(email, PASSWORD),
            headers={"Authorization": AUTH, "Content-Type": "text/xml"},
            timeout=30,
        )
    except requests.ConnectionError:
        return None, None
    if response.status_code != 200:
        return response.status_code, None
    root = ET.fromstring(response.content)
    if root.findtext("successful") != "true":
        return 200, None
    return 200, root.findtext("userKey/externalReferenceID")


def test_racing_registrations_with_killed_workers_make_one_account_and_one_erid(
    postgres_database: Any, redis_prefix: str
) -> None:
    merchant_url, bridge_url = postgres_database(), postgres_database()
    merchant = make_engine(merchant_url)
    _merchant_table(merchant)
    bridge = make_engine(bridge_url)
    upgrade(bridge)
    config = bridge_config(
        merchant_url=merchant_url,
        bridge_url=bridge_url,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        REGISTRATION_LEASE=0.6,
    )
    chooser = random.Random(8)
    killed_owners = 0
    with Gunicorn(config, workers=4, threads=4) as server:
        assert server.process is not None
        master = server.process.pid
        for round_ in range(ROUNDS):
            email = f"crash.{round_}@example.com"
            with ThreadPoolExecutor(max_workers=RACERS) as pool:
                racing = [pool.submit(_register, server.url, email) for _ in range(RACERS)]
                owner = _inserting_worker(merchant, master, time.monotonic() + 10)
                victims = [owner] if owner is not None else []
                others = [pid for pid in _workers(master) if pid not in victims]
                victims += chooser.sample(others, min(len(others), 2 - len(victims)))
                for pid in victims:
                    os.kill(pid, signal.SIGKILL)
                killed_owners += owner is not None
                answers = [future.result() for future in racing]
            # DR retries the registration whose answer it never got.
            retried: tuple[int | None, str | None] = (None, None)
            for _attempt in range(60):
                retried = _register(server.url, email)
                if retried[1] is not None:
                    break
                time.sleep(0.25)
            with merchant.connect() as connection:
                keys = list(
                    connection.execute(
                        text("select id from users where email = :email"), {"email": email}
                    ).scalars()
                )
            assert len(keys) == 1, (round_, keys, answers)
            with bridge.connect() as connection:
                erids = list(
                    connection.execute(
                        select(identities.c.erid).where(identities.c.user_key == str(keys[0]))
                    ).scalars()
                )
            assert len(erids) == 1, (round_, erids)
            assert retried[1] == erids[0], (round_, retried)
            given = {erid for _, erid in answers if erid is not None}
            assert given <= {erids[0]}, (round_, given, erids)
    # Most rounds killed the very worker that was inserting (the point of the test).
    assert killed_owners >= ROUNDS // 2, killed_owners
    with bridge.connect() as connection:
        assert len(connection.execute(select(identities.c.erid)).all()) == ROUNDS
    merchant.dispose()
    bridge.dispose()
