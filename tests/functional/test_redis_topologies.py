"""Redis Sentinel and Redis Cluster, each built from our own redis-server processes on free
ports (the machine's shared Redis is never touched)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from sso_bridge.store import RedisStore, StoreUnavailable
from tests.servers import free_port

pytestmark = pytest.mark.slow


def _wait_for_ping(port: int) -> None:
    client = redis.Redis(port=port, socket_timeout=0.5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return
        except redis.RedisError:
            time.sleep(0.05)
    raise RuntimeError(f"redis on {port} did not start")


class Processes:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.running: list[subprocess.Popen[bytes]] = []

    def redis(self, port: int, *extra: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.running.append(process)
        _wait_for_ping(port)
        return process

    def sentinel(self, port: int, master_port: int) -> None:
        config = self.directory / f"sentinel-{port}.conf"
        config.write_text(
            f"port {port}\nbind 127.0.0.1\n"
            f"sentinel monitor bridge 127.0.0.1 {master_port} 1\n"
            "sentinel down-after-milliseconds bridge 500\n"
            "sentinel failover-timeout bridge 2000\n"
        )
        process = subprocess.Popen(
            ["redis-server", str(config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.running.append(process)
        _wait_for_ping(port)

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    owned = Processes(tmp_path)
    yield owned
    owned.stop_all()


def test_sentinel_failover_is_followed_without_a_restart(processes: Processes) -> None:
    master_port, replica_port, sentinel_port = free_port(), free_port(), free_port()
    master = processes.redis(master_port)
    processes.redis(replica_port, "--replicaof", "127.0.0.1", str(master_port))
    processes.sentinel(sentinel_port, master_port)
    store = RedisStore.from_url(
        f"redis+sentinel://127.0.0.1:{sentinel_port}/bridge", prefix="t:", timeout=0.5
    )
    assert store.set("k", b"before", 30)
    assert store.get("k") == b"before"

    master.kill()
    master.wait()
    recovered = False
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            store.set("k2", b"after", 30)
            recovered = store.get("k2") == b"after"
        except StoreUnavailable:
            recovered = False
        if recovered:
            break
        time.sleep(0.2)
    assert recovered, "the store did not follow the Sentinel failover"
    info = redis.Redis(port=replica_port).info("replication")
    assert info["role"] == "master"


def cluster_port() -> int:
    """A free port whose cluster-bus port (port + 10000) exists and is free too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no port pair free for a cluster node")


def test_cluster_keeps_each_users_keys_in_one_slot(processes: Processes) -> None:
    ports = _cluster(processes)
    store = RedisStore.from_url(f"redis+cluster://127.0.0.1:{ports[0]}", prefix="sso:", timeout=1.0)
    erid = "5A420B10-9FBA-4A86-8C30-902399ABB48E"
    # The broker's keys for one user (token, lock, negative entry) share the {ERID} tag.
    keys = [f"tok:{{{erid}}}", f"lock:{{{erid}}}", f"neg:{{{erid}}}", f"tok:{{{erid}}}:s:ab"]
    cluster = store.client
    slots = {cluster.keyslot("sso:" + key) for key in keys}
    assert len(slots) == 1
    assert store.set(keys[1], b"owner", 5, only_if_absent=True)
    assert not store.set(keys[1], b"other", 5, only_if_absent=True)
    assert store.extend_if_equals(keys[1], b"owner", 10)
    assert not store.delete_if_equals(keys[1], b"other")
    assert store.delete_if_equals(keys[1], b"owner")
    assert [store.increment("rate:dr:1", 5) for _ in range(3)] == [1, 2, 3]
    # Many users spread over the three masters.
    spread = {cluster.keyslot(f"sso:tok:{{user-{n}}}") // 5462 for n in range(50)}
    assert len(spread) == 3


# --------------------------------------------------------------------------- the local token cache


def _eventually(condition: Callable[[], bool], what: str, guard: float = 20.0) -> None:
    give_up = time.monotonic() + guard  # a hang guard, never a speed claim
    while not condition():
        assert time.monotonic() < give_up, f"never happened: {what}"
        time.sleep(0.01)


def _tracking_on(store: RedisStore) -> bool:
    return store.local_cache is not None and store.local_cache.enabled


def _tracking_clients(port: int) -> int:
    clients = redis.Redis(port=port).client_list()
    return sum(1 for client in clients if "t" in client["flags"])


def test_sentinel_local_cache_is_invalidated_and_follows_a_failover(
    processes: Processes,
) -> None:
    master_port, replica_port, sentinel_port = free_port(), free_port(), free_port()
    master = processes.redis(master_port)
    processes.redis(replica_port, "--replicaof", "127.0.0.1", str(master_port))
    processes.sentinel(sentinel_port, master_port)
    store = RedisStore.from_url(
        f"redis+sentinel://127.0.0.1:{sentinel_port}/bridge",
        prefix="t:",
        timeout=0.5,
        local_cache_size=100,
    )
    tracker = store.tracker
    assert tracker is not None
    try:
        store.get("tok:{u}")  # starts the tracker
        _eventually(lambda: _tracking_on(store), "tracking on")
        assert _tracking_clients(master_port) == 1  # on the master, where the writes land
        store.set("tok:{u}", b"first", 30)
        assert store.get("tok:{u}") == b"first"
        redis.Redis(port=master_port).set("t:tok:{u}", b"second", px=30_000)
        _eventually(lambda: store.get("tok:{u}") == b"second", "an outside write seen")

        master.kill()
        master.wait()
        _eventually(lambda: not _tracking_on(store), "the cache off with its master gone")
        assert store.local_cache is not None and len(store.local_cache) == 0
        _eventually(lambda: _tracking_on(store) and tracker.sessions >= 2, "tracking back")
        promoted = redis.Redis(port=replica_port)
        assert promoted.info("replication")["role"] == "master"
        assert _tracking_clients(replica_port) == 1
        promoted.set("t:tok:{u}", b"third", px=30_000)
        _eventually(lambda: store.get("tok:{u}") == b"third", "a write on the new master seen")
    finally:
        store.close()


def _cluster(processes: Processes) -> list[int]:
    ports = [cluster_port() for _ in range(3)]
    for port in ports:
        processes.redis(
            port,
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            f"nodes-{port}.conf",
            "--cluster-node-timeout",
            "2000",
        )
    created = subprocess.run(
        [
            "redis-cli",
            "--cluster",
            "create",
            *(f"127.0.0.1:{p}" for p in ports),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert created.returncode == 0, created.stdout[-500:]
    # Every node must agree before a client maps the slots (redis-py parses CLUSTER INFO).
    _eventually(
        lambda: all(
            redis.Redis(port=port).cluster("INFO").get("cluster_state") == "ok" for port in ports
        ),
        "cluster ok",
    )
    return ports


def test_cluster_local_cache_tracks_every_master(processes: Processes) -> None:
    ports = _cluster(processes)
    store = RedisStore.from_url(
        f"redis+cluster://127.0.0.1:{ports[0]}", prefix="sso:", timeout=1.0, local_cache_size=100
    )
    try:
        store.get("tok:{warm-up}")
        _eventually(lambda: _tracking_on(store), "tracking on")
        assert [_tracking_clients(port) for port in ports] == [1, 1, 1]
        users = [f"tok:{{user-{n}}}" for n in range(30)]  # spread over the three masters
        for key in users:
            store.set(key, b"old", 30)
            assert store.get(key) == b"old"
        outside = RedisCluster(host="127.0.0.1", port=ports[0])
        for key in users:
            outside.set("sso:" + key, b"new", px=30_000)
        _eventually(
            lambda: all(store.get(key) == b"new" for key in users), "writes on every master seen"
        )
        outside.close()
    finally:
        store.close()
