"""``python -m bench.timing``: can a caller tell unknown logins, wrong passwords and throttled
accounts apart, by body or by time?

The bridge runs under gunicorn (one worker, one thread: requests are measured one at a time, so
queueing cannot blur the comparison) on a merchant table whose typical hash is argon2id. Samples of
each kind are taken interleaved (A, B, A, B, ...), so drift in machine load hits every kind alike.
Phase 1 compares unknown logins (a fresh login each time) with wrong passwords for a real account
(throttling off, so every attempt really verifies); phase 2, with throttling on, compares a
throttled account with unknown logins. The target: byte-identical bodies and medians within 5 ms.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench.load import Request, send
from bench.processes import GunicornApp, ProcessGroup
from bench.scenarios import LOGIN, RUM_PASSWORD, RUM_USER, login_request

TARGET_MEDIAN_GAP_MS = 5.0
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "timing.md"


def _environment(workdir: Path, throttle: bool) -> dict[str, str]:
    return {
        "SSO_BRIDGE_DATABASE_URL": f"sqlite:///{workdir / 'bridge.sqlite3'}",
        "SSO_BRIDGE_DIRECTORY__URL": f"sqlite:///{workdir / 'merchant.sqlite3'}",
        "SSO_BRIDGE_RUM_USERS": json.dumps({RUM_USER: RUM_PASSWORD}),
        "SSO_BRIDGE_THROTTLE_ENABLED": json.dumps(throttle),
        "SSO_BRIDGE_LOG_LEVEL": "WARNING",
    }


def _prepare(workdir: Path) -> None:
    from sso_bridge.db import make_engine
    from sso_bridge.demo import seed_merchant_database
    from sso_bridge.schema import upgrade

    upgrade(make_engine(f"sqlite:///{workdir / 'bridge.sqlite3'}"))
    seed_merchant_database(make_engine(f"sqlite:///{workdir / 'merchant.sqlite3'}"))


def _sample(url: str, request: Request) -> tuple[float, bytes]:
    started = time.perf_counter()
    reply = send(url, request)
    elapsed = time.perf_counter() - started
    if reply.status != 200:
        raise RuntimeError(f"login answered {reply.status}")
    return elapsed * 1000, reply.body


def _same(request: Request) -> Request:
    return request


def _unknown() -> Request:
    return login_request(f"nobody-{secrets.token_hex(6)}@example.com", "wrong-password")


Samples = dict[str, tuple[list[float], set[bytes]]]


def compare(url: str, kinds: dict[str, Callable[[], Request]], samples: int) -> Samples:
    results: Samples = {name: ([], set()) for name in kinds}
    for _ in range(samples):
        for name, make in kinds.items():
            elapsed, body = _sample(url, make())
            results[name][0].append(elapsed)
            results[name][1].add(body)
    return results


def run(samples: int, workdir: Path) -> list[str]:
    _prepare(workdir)
    lines = [
        "| phase | kind | samples | median ms | p90 ms | distinct bodies |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    verdicts: list[str] = []
    bodies: set[bytes] = set()
    with ProcessGroup() as group:
        for phase, throttle in (("1: throttling off", False), ("2: throttling on", True)):
            app = GunicornApp(
                group,
                workdir,
                name=f"timing-{throttle}",
                app="sso_bridge:create_app()",
                env=_environment(workdir, throttle),
                workers=1,
                threads=1,
            ).start()
            wrong = login_request(LOGIN, "wrong-password")
            kinds: dict[str, Callable[[], Request]]
            if throttle:
                for _ in range(10):  # push the account past its per-minute window
                    _sample(app.url, wrong)
                kinds = {
                    "throttled account": partial(_same, wrong),
                    "unknown login": _unknown,
                }
            else:
                kinds = {"wrong password": partial(_same, wrong), "unknown login": _unknown}
            for _ in range(20):  # warm-up: dummy-hash calibration, connection pools
                _sample(app.url, _unknown())
            results = compare(app.url, kinds, samples if not throttle else max(50, samples // 5))
            medians = {}
            for name, (times, seen) in results.items():
                medians[name] = statistics.median(times)
                p90 = statistics.quantiles(times, n=10)[8]
                lines.append(
                    f"| {phase} | {name} | {len(times)} | {medians[name]:.2f} | "
                    f"{p90:.2f} | {len(seen)} |"
                )
                bodies |= seen
            gap = abs(max(medians.values()) - min(medians.values()))
            verdicts.append(
                f"- phase {phase}: median gap {gap:.2f} ms (target <= "
                f"{TARGET_MEDIAN_GAP_MS:g} ms): "
                f"{'PASS' if gap <= TARGET_MEDIAN_GAP_MS else 'MISS'}"
            )
            if app.process is not None:
                app.process.stop()
    verdicts.append(
        f"- distinct response bodies over every sample of both phases: {len(bodies)} "
        f"(target 1): {'PASS' if len(bodies) == 1 else 'MISS'}"
    )
    return [*lines, "", *verdicts]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.timing", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--samples", type=int, default=1000, help="samples of each kind (phase 1)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sso-bridge-timing-") as directory:
        lines = run(args.samples, Path(directory))
    command = f"python -m bench.timing --samples {args.samples}"
    text = "\n".join([f"Command: `{command}`", "", *lines, ""])
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    return 0 if all("MISS" not in line for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
