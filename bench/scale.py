"""``python -m bench.scale [--rows N] [--quick]``: what a large deployment costs.

1. The identity map at scale, on the machine's PostgreSQL (127.0.0.1:5432; two databases of its
   own, dropped afterwards): resolving a user (key -> ERID and ERID -> key, the identity map's
   in-process cache cold, so each is one indexed query) and a first sign-in (the ERID created:
   INSERT + read back) in a map of N rows (default 1,000,000) against a map holding only the
   sampled rows. Samples alternate between the two maps (A, B, A, B, ...) so machine load hits both
   alike; reported as p50 and p99 with their ratios (target: at most 1.2x at p99).
2. Redis memory per cached token, on a redis-server of its own: N_TOKENS cache entries written
   as the broker writes them (key ``tok:{ERID}``, value a sealed `CachedToken`, a TTL), measured
   by ``INFO memory`` before and after, for a token of the simulator's size (43 characters) and of
   a large JWT-like size (1,000 characters).
3. The identity map's own size on disk per million rows (``pg_total_relation_size``).
It prints a Markdown table (also written to ``bench/results/scale.md``) and the per-million-users
figures the README quotes. Sends traffic to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import redis
from sqlalchemy import Engine, text

from bench.load import percentile
from bench.processes import ProcessGroup, RedisServer
from bench.report import machine
from sso_bridge.db import make_engine
from sso_bridge.dr.broker import CachedToken, TokenBroker
from sso_bridge.dr.sealing import Sealer, derive_key
from sso_bridge.identity import IdentityMap
from sso_bridge.schema import identities, upgrade
from sso_bridge.store import RedisStore

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "scale.md"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_P99_RATIO = 1.2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the large map")
    parser.add_argument("--samples", type=int, default=2000, help="samples per measure and map")
    parser.add_argument("--tokens", type=int, default=20_000, help="cache entries to measure")
    parser.add_argument("--quick", action="store_true", help="10,000 rows, few samples (smoke)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.samples, args.tokens = 10_000, 100, 1_000
    return args


def say(message: str) -> None:
    print(f"[bench.scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def own_database(admin: Engine, name: str) -> Iterator[Engine]:
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(POSTGRES.rpartition("/")[0] + "/" + name)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def fill(engine: Engine, rows: int, sample_keys: list[str]) -> None:
    """``rows`` identities: the sampled keys plus generated ones, inserted by the server itself."""
    upgrade(engine)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        # The bridge's engine cancels statements after 5 s; a bulk fill takes longer.
        connection.execute(text("SET LOCAL statement_timeout = 0"))
        connection.execute(
            identities.insert(),
            [
                {
                    "user_key": key,
                    "erid": str(uuid.uuid4()).upper(),
                    "created_at": now,
                    "origin": "import",
                }
                for key in sample_keys
            ],
        )
        extra = rows - len(sample_keys)
        if extra > 0:
            connection.execute(
                text(
                    "INSERT INTO sso_bridge_identities (user_key, erid, created_at, origin) "
                    "SELECT 'bulk-' || g, upper(gen_random_uuid()::text), now(), 'import' "
                    "FROM generate_series(1, :extra) AS g"
                ),
                {"extra": extra},
            )
        connection.execute(text("ANALYZE sso_bridge_identities"))


def erids_of(engine: Engine, keys: list[str]) -> list[str]:
    with engine.connect() as connection:
        found: dict[str, str] = dict(
            connection.execute(
                text("SELECT user_key, erid FROM sso_bridge_identities WHERE user_key = ANY(:k)"),
                {"k": keys},
            ).all()
        )
    return [str(found[key]) for key in keys]


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def measure_maps(
    small: Engine, large: Engine, keys: list[str], samples: int
) -> dict[str, dict[str, list[float]]]:
    """Interleaved samples of each operation on both maps, the in-process cache always cold."""
    erids = {"small": erids_of(small, keys), "large": erids_of(large, keys)}
    engines = {"small": small, "large": large}
    results: dict[str, dict[str, list[float]]] = {
        op: {"small": [], "large": []} for op in ("key -> ERID", "ERID -> key", "first sign-in")
    }
    for index in range(samples):
        for name in ("small", "large") if index % 2 == 0 else ("large", "small"):
            # A new IdentityMap per call: its in-process cache is cold, so each is one query.
            identity_map = IdentityMap(engine=engines[name])
            at = index % len(keys)
            key, erid, new_key = keys[at], erids[name][at], f"new-{name}-{index}"
            results["key -> ERID"][name].append(timed(partial(identity_map.find_erid, key)))
            identity_map = IdentityMap(engine=engines[name])
            results["ERID -> key"][name].append(timed(partial(identity_map.find_user_key, erid)))
            results["first sign-in"][name].append(timed(partial(identity_map.erid_for, new_key)))
    return results


def table_size_mib(engine: Engine) -> float:
    with engine.connect() as connection:
        size = connection.execute(
            text("SELECT pg_total_relation_size('sso_bridge_identities')")
        ).scalar_one()
    return float(size) / 2**20


def redis_bytes_per_token(url: str, count: int, token_chars: int) -> float:
    """Bytes of Redis memory per cached token, written as the broker writes one."""
    store = RedisStore.from_url(url, prefix=f"scale{token_chars}:", timeout=2.0)
    client = redis.Redis.from_url(url, socket_timeout=5)
    sealer = Sealer([derive_key("bench-secret")])
    client.memory_purge()
    before = int(client.info("memory")["used_memory"])
    now = time.time()
    for _ in range(count):
        key = TokenBroker._keys(str(uuid.uuid4()).upper(), None)[0]  # the broker's own key
        entry = CachedToken(
            secrets.token_urlsafe(token_chars)[:token_chars], "bearer", now, now + 86400
        )
        store.set(key, sealer.seal(entry.encode(), context=key), 86340)
    after = int(client.info("memory")["used_memory"])
    client.close()
    return (after - before) / count


def _p50_p99(samples: list[float]) -> str:
    return f"{statistics.median(samples):.2f} / {percentile(samples, 0.99):.2f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("redis-server") is None:
        print(
            "error: redis-server is not installed (apt-get install -y redis-server)",
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    admin = make_engine(POSTGRES).execution_options(isolation_level="AUTOCOMMIT")
    suffix = secrets.token_hex(4)
    keys = [f"sample-{i}" for i in range(min(1000, args.rows))]
    with (
        own_database(admin, f"bench_scale_small_{suffix}") as small,
        own_database(admin, f"bench_scale_large_{suffix}") as large,
    ):
        say(f"filling a map of {args.rows:,} rows")
        fill(small, len(keys), keys)
        fill(large, args.rows, keys)
        mib = table_size_mib(large)
        say(f"measuring {args.samples} samples per operation and map")
        results = measure_maps(small, large, keys, args.samples)
    workdir = Path(tempfile.mkdtemp(prefix="sso-bridge-scale-"))
    try:
        with ProcessGroup() as group:
            redis_server = RedisServer(group, workdir).start()
            say(f"writing {args.tokens:,} cache entries twice")
            small_token = redis_bytes_per_token(redis_server.url, args.tokens, 43)
            large_token = redis_bytes_per_token(redis_server.url, args.tokens, 1000)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    lines = [
        "# sso-bridge scale figures"
        + (" (--quick: smoke run, not a measurement)" if args.quick else ""),
        "",
        *machine(),
        f"- command: `python -m bench.scale{' --quick' if args.quick else ''}`"
        f" (rows {args.rows:,}, samples {args.samples} per operation and map, "
        f"{args.tokens:,} cache entries)",
        "",
        f"| Measure | {args.rows:,} rows p50 / p99 ms | {len(keys):,} rows p50 / p99 ms "
        "| p99 ratio | Target | Result |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for operation, by_map in results.items():
        big, few = by_map["large"], by_map["small"]
        ratio = percentile(big, 0.99) / percentile(few, 0.99)
        verdict = "PASS" if ratio <= TARGET_P99_RATIO else "MISS"
        lines.append(
            f"| identity map: {operation} | {_p50_p99(big)} | {_p50_p99(few)} | {ratio:.2f}x"
            f" | <= {TARGET_P99_RATIO}x | {verdict} |"
        )
    per_million_small = small_token * 1e6 / 2**20
    per_million_large = large_token * 1e6 / 2**20
    lines += [
        "",
        "| Per million users | Figure |",
        "| --- | ---: |",
        f"| Redis memory per cached token (43-char token) | {small_token:,.0f} B |",
        f"| Redis memory per cached token (1,000-char token) | {large_token:,.0f} B |",
        f"| Redis for 1,000,000 cached tokens (43 / 1,000 chars) | {per_million_small:,.0f} MiB / "
        f"{per_million_large:,.0f} MiB |",
        f"| PostgreSQL identity map per 1,000,000 rows (table + indexes) | "
        f"{mib * 1e6 / args.rows:,.0f} MiB |",
        "",
    ]
    text_out = "\n".join(lines)
    print(text_out)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text_out)
    say(f"done in {time.monotonic() - started:.0f} s; report written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
