"""``python -m bench.inprocess``: the cache-hit token path inside the process, without a server.

Both WSGI apps (the bridge and the one-Redis-GET baseline) are called directly with the same
request, alternating batches, so the difference is what the bridge's own code costs per request
(server, network and load generator excluded). ``--profile`` adds a cProfile of the bridge's
functions. Uses the machine's Redis (DB 9, keys under ``bench-inprocess:``, removed at the end)
and the DR simulator in a thread for the one mint that warms the cache.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
PREFIX = "bench-inprocess:"
BODY = json.dumps({"userKey": "1"}).encode()


def _caller(app: Any, headers: dict[str, str]) -> Callable[[], None]:
    all_headers = Headers(headers)
    all_headers["Content-Type"] = "application/json"
    environ = EnvironBuilder(
        method="POST", path="/v1/tokens", data=BODY, headers=all_headers
    ).get_environ()

    def call() -> None:
        request = dict(environ)
        request["wsgi.input"] = io.BytesIO(BODY)
        status: list[str] = []
        body = b"".join(app(request, lambda code, _headers: status.append(code)))
        if not status or not status[0].startswith("200") or not body:
            raise RuntimeError(f"unexpected answer {status}")

    return call


def _per_call_us(call: Callable[[], None], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - started) / count * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess")
    parser.add_argument("--count", type=int, default=3000, help="requests per batch")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)

    from bench.baseline_app import create_app as create_baseline
    from sso_bridge import create_app
    from sso_bridge.demo import API_KEY, prepare
    from sso_bridge.simulator import SimulatorConfig
    from sso_bridge.simulator.server import SimulatorServer

    client = redis.Redis.from_url(REDIS_URL)
    try:
        with (
            SimulatorServer(SimulatorConfig()) as simulator,
            tempfile.TemporaryDirectory() as directory,
        ):
            config = {
                **prepare(Path(directory), simulator.url),
                "REDIS_URL": REDIS_URL,
                "REDIS_KEY_PREFIX": PREFIX,
                "LOG_LEVEL": "WARNING",
            }
            bridge = _caller(create_app(config).wsgi_app, {"Authorization": f"Bearer {API_KEY}"})
            bridge()  # mints once, then every call is a cache hit
            sealed = client.get(next(client.scan_iter(match=PREFIX + "tok:*"))) or b""
            # A text value of the same size (the baseline returns it as a JSON string).
            client.set(PREFIX + "baseline", b"x" * len(sealed))
            os.environ["BENCH_BASELINE_REDIS_URL"] = REDIS_URL
            os.environ["BENCH_BASELINE_KEY"] = PREFIX + "baseline"
            baseline = _caller(create_baseline().wsgi_app, {})
            for call in (bridge, baseline):
                _per_call_us(call, 300)
            pairs = [
                (_per_call_us(bridge, args.count), _per_call_us(baseline, args.count))
                for _ in range(args.rounds)
            ]
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                _per_call_us(bridge, args.count)
                profiler.disable()
    finally:
        keys = list(client.scan_iter(match=PREFIX + "*"))
        if keys:
            client.delete(*keys)
    bridge_us = statistics.median(b for b, _ in pairs)
    baseline_us = statistics.median(a for _, a in pairs)
    print(
        f"bridge {bridge_us:.0f} us/request, baseline {baseline_us:.0f} us/request, "
        f"bridge's own code {bridge_us - baseline_us:.0f} us "
        f"({bridge_us / baseline_us - 1:+.0%}); medians of {args.rounds} rounds of "
        f"{args.count}"
    )
    if args.profile:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats("sso_bridge", 25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
