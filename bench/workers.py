"""``python -m bench.workers``: the measurement behind config/gunicorn.conf.py's worker choice.

Cache-hit ``POST /v1/tokens`` (the path that must be nearly free) under several gunicorn worker
settings on this machine, each run against the same Redis and warm token, configurations taken in
rotation round by round so machine noise spreads over all of them. Login throughput is bounded by
the hash whatever the worker class (CPU-bound, one verification per core), so it is not repeated.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.load import LoadResult, Wrk, send
from bench.processes import GunicornApp, ProcessGroup
from bench.scenarios import WARM_USER_KEY, Environment, Plan, token_request

CONFIGURATIONS = [  # (label, worker class, workers, threads)
    (
        "BufferingWorker 2 workers x 4 threads (shipped)",
        "sso_bridge.server.worker.BufferingWorker",
        2,
        4,
    ),
    ("stock gthread 2 workers x 4 threads", "gthread", 2, 4),
    ("sync 2 workers", "sync", 2, 1),
]
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "workers.md"


def _say(message: str) -> None:
    print(f"[bench.workers] {message}", file=sys.stderr, flush=True)


def _sockets(pid: int) -> int:
    fds = Path(f"/proc/{pid}/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            count += os.readlink(fd).startswith("socket:")
    return count


def connection_split(app: GunicornApp, connections: int, trials: int) -> collections.Counter[str]:
    """How a client's keep-alive connections land on the workers: per trial, open them at once,
    send a request on each, and count each worker's new sockets (e.g. "2/2" or "4/0")."""
    splits: collections.Counter[str] = collections.Counter()
    request = f"GET /healthz HTTP/1.1\r\nHost: {app.url[7:]}\r\n\r\n".encode()
    for _ in range(trials):
        pids = app.worker_pids()
        before = {pid: _sockets(pid) for pid in pids}
        held = [socket.create_connection(("127.0.0.1", app.port)) for _ in range(connections)]
        for sock in held:
            sock.sendall(request)
        for sock in held:
            sock.recv(4096)
        counts = sorted((_sockets(pid) - before[pid] for pid in pids), reverse=True)
        splits["/".join(str(count) for count in counts)] += 1
        for sock in held:
            sock.close()
        time.sleep(0.2)  # let the workers see the closes before the next trial
    return splits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.workers", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--split-trials", type=int, default=30)
    args = parser.parse_args(argv)
    results: dict[tuple[str, int], list[LoadResult]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="sso-bridge-workers-") as directory,
        ProcessGroup() as group,
    ):
        workdir = Path(directory)
        env = Environment(group, workdir, Plan.full(), _say)
        env.prepare_databases()
        env.redis.start()
        env.simulator.start()
        apps = []
        for label, worker_class, workers, threads in CONFIGURATIONS:
            app = GunicornApp(
                group,
                workdir,
                name=label.split(" (")[0].replace(" ", "-"),
                app="sso_bridge:create_app()",
                env=env.bridge_environment(),
                workers=workers,
                threads=threads,
                worker_class=worker_class,
            )
            apps.append((label, app.start()))
        request = token_request(WARM_USER_KEY)
        if send(apps[0][1].url, request).status != 200:
            raise SystemExit("the first token request failed")
        splits = {
            (label, connections): connection_split(app, connections, args.split_trials)
            for connections in (4, 32)
            for label, app in apps
            if "sync" not in label  # a sync worker holds one connection at a time anyway
        }
        wrk = Wrk(workdir)
        for connections in (4, 32):
            for _, app in apps:  # warm-up
                wrk.run(app.url, request, connections=connections, seconds=1)
            for round_number in range(args.rounds):
                rotation = apps[round_number % len(apps) :] + apps[: round_number % len(apps)]
                for label, app in rotation:
                    result = wrk.run(
                        app.url, request, connections=connections, seconds=args.seconds
                    )
                    results.setdefault((label, connections), []).append(result)
                    _say(
                        f"{connections} conns, {label}: {result.rps:,.0f}/s "
                        f"p99 {result.p99_ms:.2f} ms"
                    )
    lines = [
        "| gunicorn workers | conns | requests/s (median) | slowest round | p50 ms | p99 ms | "
        "errors | per round req/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for (label, connections), runs in results.items():
        lines.append(
            f"| {label} | {connections} | {statistics.median(r.rps for r in runs):,.0f} | "
            f"{min(r.rps for r in runs):,.0f} | "
            f"{statistics.median(r.p50_ms for r in runs):.2f} | "
            f"{statistics.median(r.p99_ms for r in runs):.2f} | "
            f"{sum(r.non_2xx + r.socket_errors for r in runs)} | "
            f"{', '.join(f'{r.rps:,.0f}' for r in runs)} |"
        )
    split_lines = [
        "| gunicorn workers | conns | how the connections landed on the 2 workers (trials) |",
        "| --- | ---: | --- |",
    ] + [
        f"| {label} | {connections} | "
        + ", ".join(f"{split}: {count}" for split, count in counter.most_common())
        + " |"
        for (label, connections), counter in splits.items()
    ]
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    text = "\n".join(
        [
            f"Command: `python -m bench.workers --seconds {args.seconds:g} "
            f"--rounds {args.rounds}` (medians of the rounds); load average at the end "
            f"(1/5/15 min) {load} on {os.cpu_count()} cores",
            "",
            *lines,
            "",
            f"Connection placement, {args.split_trials} trials each:",
            "",
            *split_lines,
            "",
        ]
    )
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
