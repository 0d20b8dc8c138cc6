"""``python -m bench.timing``: can a caller tell failed sign-ins apart, by body or by time?

The bridge runs under gunicorn (one worker, one thread: requests are measured one at a time, so
queueing cannot blur the comparison), throttling on, on a merchant table that mixes hash costs as
legacy tables do: cheap md5-crypt and sha512-crypt rows, expensive PBKDF2-SHA256 rows (~0.25 s a
verification), social-login rows with an unusable ``!`` hash, and logins that match two rows
(ambiguous). Each kind of failure is sampled interleaved (A, B, C, ... A, B, C, ...), so drift in
machine load hits every kind alike; every wrong-password sample uses an account of its own, so
the account throttle never turns a "wrong password" sample into a throttled one, and the
"throttled account" samples hit one account pushed past its per-minute limit first.

The target: byte-identical bodies, and medians of every kind within 10% of the largest one.
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
from pathlib import Path

from bench.load import Request, send
from bench.processes import GunicornApp, ProcessGroup
from bench.scenarios import RUM_PASSWORD, RUM_USER, login_request

TARGET_MEDIAN_GAP = 0.10  # of the largest median
PBKDF2_ROUNDS = 150_000  # ~0.25 s a verification on the reference machine
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "timing.md"
THROTTLED = "throttled@example.com"
WARM_UP = 5


def _environment(workdir: Path) -> dict[str, str]:
    return {
        "SSO_BRIDGE_DATABASE_URL": f"sqlite:///{workdir / 'bridge.sqlite3'}",
        "SSO_BRIDGE_DIRECTORY__URL": f"sqlite:///{workdir / 'merchant.sqlite3'}",
        "SSO_BRIDGE_DIRECTORY__LOGIN_COLUMNS": json.dumps(["email"]),
        "SSO_BRIDGE_RUM_USERS": json.dumps({RUM_USER: RUM_PASSWORD}),
        "SSO_BRIDGE_THROTTLE_ENABLED": "true",
        "SSO_BRIDGE_LOG_LEVEL": "WARNING",
    }


def _rows(samples: int) -> list[tuple[str, str]]:
    """(email, stored hash) for every account the run uses; one hash per kind (rows may share a
    stored hash: only its cost matters here)."""
    from passlib.hash import md5_crypt, pbkdf2_sha256, sha512_crypt

    count = samples + WARM_UP
    md5 = md5_crypt.hash("right-password")
    sha512 = sha512_crypt.using(rounds=5000).hash("right-password")  # glibc's default cost
    pbkdf2 = pbkdf2_sha256.using(rounds=PBKDF2_ROUNDS).hash("right-password")
    rows = [(THROTTLED, md5)]
    for n in range(count):
        rows += [
            (f"md5-{n}@example.com", md5),
            (f"sha512-{n}@example.com", sha512),
            (f"pbkdf2-{n}@example.com", pbkdf2),
            (f"social-{n}@example.com", "!" + sha512),
            # Two rows whose logins differ only by case: the login is ambiguous and refused.
            (f"Twin-{n}@example.com", md5),
            (f"twin-{n}@example.com", md5),
        ]
    return rows


def _prepare(workdir: Path, samples: int) -> None:
    from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table

    from sso_bridge.db import make_engine
    from sso_bridge.schema import upgrade

    upgrade(make_engine(f"sqlite:///{workdir / 'bridge.sqlite3'}"))
    metadata = MetaData()
    users = Table(
        "users",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("email", String(320), nullable=False),
        Column("password", String(255), nullable=False),
        Column("first_name", String(100)),
        Column("last_name", String(100)),
        Column("active", Boolean, nullable=False),
    )
    engine = make_engine(f"sqlite:///{workdir / 'merchant.sqlite3'}")
    metadata.create_all(engine)
    rows = [
        {"email": login, "password": hashed, "active": True} for login, hashed in _rows(samples)
    ]
    with engine.begin() as connection:
        connection.execute(users.insert(), rows)


def _sample(url: str, request: Request) -> tuple[float, bytes]:
    started = time.perf_counter()
    reply = send(url, request)
    elapsed = time.perf_counter() - started
    if reply.status != 200:
        raise RuntimeError(f"login answered {reply.status}")
    return elapsed * 1000, reply.body


def _kinds(offset: int) -> dict[str, Callable[[int], Request]]:
    """Each kind's request for sample ``n`` (accounts ``offset + n``: warm-up uses the first)."""

    def wrong(prefix: str) -> Callable[[int], Request]:
        return lambda n: login_request(f"{prefix}-{offset + n}@example.com", "wrong-password")

    return {
        "unknown login": lambda _: login_request(
            f"nobody-{secrets.token_hex(6)}@example.com", "wrong-password"
        ),
        "wrong password, md5-crypt": wrong("md5"),
        "wrong password, sha512-crypt": wrong("sha512"),
        "wrong password, PBKDF2": wrong("pbkdf2"),
        "unusable hash (!)": wrong("social"),
        "ambiguous login": wrong("twin"),
        "throttled account": lambda _: login_request(THROTTLED, "wrong-password"),
    }


Samples = dict[str, tuple[list[float], set[bytes]]]


def compare(url: str, kinds: dict[str, Callable[[int], Request]], samples: int) -> Samples:
    results: Samples = {name: ([], set()) for name in kinds}
    for n in range(samples):
        for name, make in kinds.items():
            elapsed, body = _sample(url, make(n))
            results[name][0].append(elapsed)
            results[name][1].add(body)
    return results


def run(samples: int, workdir: Path) -> list[str]:
    _prepare(workdir, samples)
    lines = [
        "| kind | samples | median ms | p90 ms | distinct bodies |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    with ProcessGroup() as group:
        app = GunicornApp(
            group,
            workdir,
            name="timing",
            app="sso_bridge:create_app()",
            env=_environment(workdir),
            workers=1,
            threads=1,
        ).start()
        # Push one account past its per-minute limit (each later minute, its first five attempts
        # are verified wrong passwords again: that is what a throttled account does).
        for _ in range(10):
            _sample(app.url, login_request(THROTTLED, "wrong-password"))
        # Warm-up: dummy-hash calibration, connection pools, and the failure floor's first
        # samples (real verifications of each cost), on accounts of their own.
        compare(app.url, _kinds(0), WARM_UP)
        results = compare(app.url, _kinds(WARM_UP), samples)
        if app.process is not None:
            app.process.stop()
    medians: dict[str, float] = {}
    bodies: set[bytes] = set()
    for name, (times, seen) in results.items():
        medians[name] = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[8]
        lines.append(f"| {name} | {len(times)} | {medians[name]:.1f} | {p90:.1f} | {len(seen)} |")
        bodies |= seen
    largest = max(medians.values())
    gap = largest - min(medians.values())
    return [
        *lines,
        "",
        f"- median gap {gap:.1f} ms = {gap / largest:.1%} of the largest median (target < "
        f"{TARGET_MEDIAN_GAP:.0%}): {'PASS' if gap < TARGET_MEDIAN_GAP * largest else 'MISS'}",
        f"- distinct response bodies over every sample: {len(bodies)} (target 1): "
        f"{'PASS' if len(bodies) == 1 else 'MISS'}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.timing", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--samples", type=int, default=30, help="samples of each kind")
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
