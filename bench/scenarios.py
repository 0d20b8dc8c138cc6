"""The benchmark's environment (databases, Redis, simulator, bridge, baseline) and its phases.

Each phase adds rows to the report. Throughput and latency figures are ratios against a
baseline measured in the same run under the same gunicorn settings, bridge and baseline
alternating run by run (ABBA order), the median of the per-round ratios reported.
"""

from __future__ import annotations

import json
import multiprocessing
import secrets
import string
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlalchemy import text

from bench import hashing, sampling
from bench.load import (
    LoadResult,
    Reply,
    Request,
    Wrk,
    basic_auth,
    burst,
    closed_loop,
    median,
    percentile,
    send,
)
from bench.processes import (
    SHIPPED_THREADS,
    SHIPPED_WORKER_CLASS,
    SHIPPED_WORKERS,
    BenchError,
    GunicornApp,
    ProcessGroup,
    RedisServer,
    Simulator,
    default_options,
    rss_mib,
)
from bench.report import CACHE_HIT_CONNECTIONS, INFO, Report, Row, fmt, ratio, verdict
from sso_bridge.rum.samples import dr_login_request

API_KEY = "bench-api-key"
RUM_USER, RUM_PASSWORD = "dr", "bench-rum-password"
REDIS_PREFIX = "bench:"
BASELINE_KEY = "bench-baseline:value"
WARM_USER_KEY = "1"  # demo@example.com, the first seeded user
LOGIN, PASSWORD = "demo@example.com", "123123"  # its password, stored as argon2id
SIM_LATENCY_MS = 50  # DR's latency during the stampede: requests arrive while a mint is in flight

# Targets (from docs: shared/design/hot-paths.md and the issues). The cache hit's are issue 14's,
# against a one-GET route under gunicorn's default (sync) workers: the bridge's slowest round at
# least 1.3 times the baseline's median throughput, its median p99 at most the baseline's.
TARGET_SLOWEST_RPS_RATIO = 1.3
TARGET_P99_RATIO = 1.0
TARGET_LOGIN_RATIO = 0.9
TARGET_REDIS_DOWN_P99_MS = 100.0
TARGET_RSS_MIB = 80.0


@dataclass(frozen=True)
class Plan:
    seconds: float  # per measured run
    rounds: int  # alternating bridge/baseline rounds (median ratio reported)
    warmup_seconds: float
    concurrencies: tuple[int, ...]
    login_connections: int
    login_seconds: float  # longer runs: a login takes a good part of a second under load
    stampede_requests: int
    stampede_users: int
    fault_seconds: float
    fault_connections: int
    hang_users: int

    @classmethod
    def full(cls) -> Plan:
        return cls(seconds=5, rounds=5, warmup_seconds=2, concurrencies=CACHE_HIT_CONNECTIONS,
                   login_connections=SHIPPED_WORKERS * SHIPPED_THREADS, login_seconds=8,
                   stampede_requests=200, stampede_users=10, fault_seconds=5,
                   fault_connections=32, hang_users=8)

    @classmethod
    def quick(cls) -> Plan:
        # Two rounds, so both orders of the alternation and the summaries are exercised.
        return cls(seconds=1, rounds=2, warmup_seconds=1, concurrencies=CACHE_HIT_CONNECTIONS,
                   login_connections=SHIPPED_WORKERS * SHIPPED_THREADS, login_seconds=2,
                   stampede_requests=200, stampede_users=4, fault_seconds=1,
                   fault_connections=32, hang_users=4)

    def describe(self) -> list[str]:
        return [
            f"bridge: as shipped, `gunicorn --config config/gunicorn.conf.py` ({SHIPPED_WORKERS} "
            f"workers of {SHIPPED_WORKER_CLASS}, {SHIPPED_THREADS} threads each, the file's "
            "keep-alive and max_requests recycling); only --bind and --log-level are given",
            f"cache-hit baseline: a Flask route doing one Redis GET of a value of the cached "
            f"token's size, under gunicorn's defaults (sync workers) with {SHIPPED_WORKERS} "
            "workers",
            f"{self.rounds} alternating round(s) of {self.seconds:g} s per app and concurrency "
            f"(ABBA order), after {self.warmup_seconds:g} s warm-up each; cache-hit verdicts "
            "compare the bridge's slowest round and median p99 with the baseline's medians",
            f"login: {self.login_seconds:g} s runs, {self.login_connections} keep-alive "
            f"connections (Python closed loop), alternating with raw verification in a pool of "
            f"{SHIPPED_WORKERS} processes; both rates are count / time to the last completion; "
            "ratio: median of per-round ratios",
            f"stampede: {self.stampede_requests} concurrent requests over "
            f"{self.stampede_users} cold users, 2 bridge instances x {SHIPPED_WORKERS} workers, "
            f"DR latency {SIM_LATENCY_MS} ms",
            f"faults: {self.fault_seconds:g} s runs at {self.fault_connections} connections",
        ]


def token_request(user_key: str) -> Request:
    return Request.of(
        "POST",
        "/v1/tokens",
        json.dumps({"userKey": user_key}).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
    )


def login_request(login: str, password: str) -> Request:
    """DR's documented LoginRequest form (as tests/helpers.py: dr_login_request)."""
    body = dr_login_request(login, password)
    return Request.of(
        "POST",
        "/rum",
        body,
        {"Content-Type": "text/xml", "Authorization": basic_auth(RUM_USER, RUM_PASSWORD)},
    )


class Environment:
    """Everything a run needs, started in ``workdir`` and owned by ``group``."""

    def __init__(self, group: ProcessGroup, workdir: Path, plan: Plan, say: Callable[[str], None]):
        self.group = group
        self.workdir = workdir
        self.plan = plan
        self.say = say
        self.wrk = Wrk(workdir)
        self.bridge_db = f"sqlite:///{workdir / 'bridge.sqlite3'}"
        self.merchant_db = f"sqlite:///{workdir / 'merchant.sqlite3'}"
        self.cold_users: list[str] = []
        self.stored_hash = ""
        self.redis = RedisServer(group, workdir)
        self.simulator = Simulator(group, workdir)
        self.bridge: GunicornApp | None = None
        self.baseline: GunicornApp | None = None
        self.value_size = 0

    # --- setup ----------------------------------------------------------------------------

    def prepare_databases(self) -> None:
        from sso_bridge.db import make_engine
        from sso_bridge.demo import seed_merchant_database
        from sso_bridge.schema import upgrade

        bridge_engine = make_engine(self.bridge_db)
        upgrade(bridge_engine)
        bridge_engine.dispose()
        merchant = make_engine(self.merchant_db)
        seed_merchant_database(merchant)
        cold_count = self.plan.stampede_users + self.plan.hang_users
        with merchant.begin() as connection:
            stored = connection.execute(
                text("SELECT password FROM users WHERE email = :email"), {"email": LOGIN}
            ).scalar_one()
            self.stored_hash = str(stored)
            for index in range(cold_count):
                connection.execute(
                    text(
                        "INSERT INTO users (email, password, first_name, last_name, active) "
                        "VALUES (:email, :password, 'Cold', :last, 1)"
                    ),
                    {"email": f"cold-{index}@bench.example", "password": self.stored_hash,
                     "last": f"User{index}"},
                )
            rows = connection.execute(
                text("SELECT id FROM users WHERE email LIKE 'cold-%@bench.example' ORDER BY id")
            ).scalars()
            self.cold_users = [str(row) for row in rows]
        merchant.dispose()

    def bridge_environment(self) -> dict[str, str]:
        return {
            "SSO_BRIDGE_DATABASE_URL": self.bridge_db,
            "SSO_BRIDGE_DIRECTORY__URL": self.merchant_db,
            "SSO_BRIDGE_RUM_USERS": json.dumps({RUM_USER: RUM_PASSWORD}),
            "SSO_BRIDGE_API_KEYS": json.dumps([API_KEY]),
            "SSO_BRIDGE_REDIS_URL": self.redis.url,
            "SSO_BRIDGE_REDIS_KEY_PREFIX": REDIS_PREFIX,
            "SSO_BRIDGE_DR_BASE_URL": self.simulator.url,
            "SSO_BRIDGE_DR_API_KEY": "sim-api-key",
            "SSO_BRIDGE_DR_API_SECRET": "sim-api-secret",
            "SSO_BRIDGE_DR_CALLS_PER_SECOND": "1000",
            "SSO_BRIDGE_LOG_LEVEL": "WARNING",
            # As deployed: metrics of every worker aggregated through files (multiprocess mode).
            "PROMETHEUS_MULTIPROC_DIR": str(self._metrics_directory()),
        }

    def _metrics_directory(self) -> Path:
        directory = self.workdir / f"metrics-{secrets.token_hex(4)}"
        directory.mkdir()
        return directory

    def start_bridge(self, name: str) -> GunicornApp:
        # Nothing in bridge_environment() turns a default off: the bridge's own caches run as
        # they would in production.
        return GunicornApp.shipped_bridge(
            self.group, self.workdir, name=name, env=self.bridge_environment()
        ).start()

    def start(self) -> None:
        self.say("preparing databases")
        self.prepare_databases()
        self.say("starting redis-server and the DR simulator")
        self.redis.start()
        self.simulator.start()
        self.say("starting the bridge under gunicorn")
        self.bridge = self.start_bridge("bridge")
        reply = send(self.bridge.url, token_request(WARM_USER_KEY))
        if reply.status != 200:
            raise BenchError(f"the first token request answered {reply.status}: {reply.body!r}")
        self.value_size = self._cached_value_size()
        client = self.redis.client()
        alphabet = string.ascii_letters + string.digits
        value = "".join(secrets.choice(alphabet) for _ in range(self.value_size))
        client.set(BASELINE_KEY, value.encode())
        client.close()
        self.say(f"cached token value: {self.value_size} bytes; starting the baseline app")
        self.baseline = GunicornApp(
            self.group, self.workdir, name="baseline", app="bench.baseline_app:create_app()",
            env={"BENCH_BASELINE_REDIS_URL": self.redis.url, "BENCH_BASELINE_KEY": BASELINE_KEY},
            workers=SHIPPED_WORKERS, options=default_options(SHIPPED_WORKERS),
        ).start()

    def _cached_value_size(self) -> int:
        client = self.redis.client()
        try:
            keys = list(client.scan_iter(match=REDIS_PREFIX + "tok:*", count=100))[:10]
            if len(keys) != 1:
                raise BenchError(f"expected one cached token after warm-up, found {len(keys)}")
            value = client.get(keys[0])
            if not isinstance(value, bytes):
                raise BenchError("the cached token vanished")
            return len(value)
        finally:
            client.close()

    @property
    def apps(self) -> tuple[GunicornApp, GunicornApp]:
        if self.bridge is None or self.baseline is None:
            raise BenchError("the environment is not started")
        return self.bridge, self.baseline


# --------------------------------------------------------------------------- helpers


Measured = float | LoadResult


def alternate(
    rounds: int, bridge: Callable[[], Measured], baseline: Callable[[], Measured]
) -> Iterator[tuple[Measured, Measured]]:
    """(bridge, baseline) per round, run in ABBA order so drift hits both alike."""
    for number in range(rounds):
        if number % 2 == 0:
            first = bridge()
            second = baseline()
            yield first, second
        else:
            second = baseline()
            first = bridge()
            yield first, second


def _load(value: float | LoadResult) -> LoadResult:
    assert isinstance(value, LoadResult)
    return value


def _number(value: float | LoadResult) -> float:
    assert isinstance(value, float)
    return value


def _ms(values: list[float]) -> tuple[float, float, float]:
    return percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000, max(values) * 1000


# --------------------------------------------------------------------------- phases


@dataclass(frozen=True)
class CacheHitRound:
    number: int  # from 1
    bridge_first: bool
    bridge: LoadResult
    baseline: LoadResult
    recycled: int  # bridge workers replaced during the bridge's run (max_requests recycling)

    @property
    def errors(self) -> int:
        return sum(run.non_2xx + run.socket_errors for run in (self.bridge, self.baseline))


def _bridge_run(env: Environment, app: GunicornApp, run: Callable[[], LoadResult],
                recycled: list[int]) -> LoadResult:
    """One bridge run, counting the workers that were not there before it (recycled ones)."""
    before = set(app.worker_pids())
    result = run()
    recycled.append(len(set(app.worker_pids()) - before))
    return result


def cache_hit(env: Environment, report: Report) -> dict[int, LoadResult]:
    """Cache-hit POST /v1/tokens vs the one-GET sync baseline; returns the bridge's median runs."""
    bridge, baseline = env.apps
    request = token_request(WARM_USER_KEY)
    plan = env.plan
    medians: dict[int, LoadResult] = {}
    for connections in plan.concurrencies:
        env.say(f"cache hit, {connections} connections: warm-up")
        for app in (bridge, baseline):
            env.wrk.run(app.url, request, connections=connections, seconds=plan.warmup_seconds)
        recycled: list[int] = []
        run_bridge = partial(env.wrk.run, bridge.url, request, connections=connections,
                             seconds=plan.seconds)
        rounds: list[CacheHitRound] = []
        for number, (bridge_run, baseline_run) in enumerate(alternate(
            plan.rounds,
            partial(_bridge_run, env, bridge, run_bridge, recycled),
            partial(env.wrk.run, baseline.url, request, connections=connections,
                    seconds=plan.seconds),
        )):
            rounds.append(CacheHitRound(number + 1, number % 2 == 0, _load(bridge_run),
                                        _load(baseline_run), recycled[-1]))
            last = rounds[-1]
            env.say(
                f"  round {last.number}: bridge {last.bridge.rps:,.0f}/s p99 "
                f"{last.bridge.p99_ms:.2f} ms | baseline {last.baseline.rps:,.0f}/s p99 "
                f"{last.baseline.p99_ms:.2f} ms"
            )
        cache_hit_rows(report, connections, rounds)
        ordered = sorted((r.bridge for r in rounds), key=lambda run: run.rps)
        medians[connections] = ordered[len(ordered) // 2]
    return medians


def cache_hit_rows(report: Report, connections: int, rounds: list[CacheHitRound]) -> None:
    """The four table rows of one concurrency, its per-round section and a note."""
    errors = sum(r.errors for r in rounds)
    label = f"Cache-hit POST /v1/tokens, {connections} conns"
    bridge_rps = [r.bridge.rps for r in rounds]
    base_rps = median([r.baseline.rps for r in rounds])
    slowest = min(bridge_rps)
    bridge_p99 = median([r.bridge.p99_ms for r in rounds])
    base_p99 = median([r.baseline.p99_ms for r in rounds])
    report.add(Row(f"{label}: requests/s, slowest round", fmt(slowest),
                   f"median {fmt(base_rps)}", ratio(slowest, base_rps),
                   f">= {TARGET_SLOWEST_RPS_RATIO:.2f}x baseline median",
                   verdict(slowest >= TARGET_SLOWEST_RPS_RATIO * base_rps and errors == 0)))
    report.add(Row(f"{label}: requests/s, median", fmt(median(bridge_rps)), fmt(base_rps),
                   ratio(median(bridge_rps), base_rps), "info"))
    bridge_p50 = median([r.bridge.p50_ms for r in rounds])
    base_p50 = median([r.baseline.p50_ms for r in rounds])
    report.add(Row(f"{label}: p50 ms, median", fmt(bridge_p50), fmt(base_p50),
                   ratio(bridge_p50, base_p50), "info"))
    report.add(Row(f"{label}: p99 ms, median", fmt(bridge_p99), fmt(base_p99),
                   ratio(bridge_p99, base_p99), f"<= {TARGET_P99_RATIO:.2f}x baseline median",
                   verdict(bridge_p99 <= TARGET_P99_RATIO * base_p99 and errors == 0)))
    report.section(f"Cache hit, {connections} keep-alive connections, per round",
                   rounds_table(rounds))
    generator = max(max(r.bridge.generator_cpu, r.baseline.generator_cpu) for r in rounds)
    report.note(
        f"{label}: non-2xx or socket errors: {errors}; bridge workers recycled by max_requests "
        f"during the measured runs: {sum(r.recycled for r in rounds)}; wrk used at most "
        f"{generator:.2f} of a core"
    )


def _errors(run: LoadResult) -> int:
    """Non-2xx answers and socket errors (a connection dropped or reset) of one run."""
    return run.non_2xx + run.socket_errors


def rounds_table(rounds: list[CacheHitRound]) -> str:
    """Per round: requests/s, p50 and p99 of each side, then the median and the worst round."""
    lines = [
        "| round | first | bridge req/s | p50 ms | p99 ms | baseline req/s | p50 ms | p99 ms "
        "| workers recycled | errors bridge/baseline |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rounds:
        lines.append(
            f"| {r.number} | {'bridge' if r.bridge_first else 'baseline'} | {fmt(r.bridge.rps)} | "
            f"{fmt(r.bridge.p50_ms)} | {fmt(r.bridge.p99_ms)} | {fmt(r.baseline.rps)} | "
            f"{fmt(r.baseline.p50_ms)} | {fmt(r.baseline.p99_ms)} | {r.recycled} | "
            f"{_errors(r.bridge)}/{_errors(r.baseline)} |"
        )

    def summary(name: str, pick: Callable[[list[float]], float],
                worst_ms: Callable[[list[float]], float]) -> str:
        cells = []
        for side in ("bridge", "baseline"):
            runs: list[LoadResult] = [getattr(r, side) for r in rounds]
            cells += [fmt(pick([run.rps for run in runs])),
                      fmt(worst_ms([run.p50_ms for run in runs])),
                      fmt(worst_ms([run.p99_ms for run in runs]))]
        errors = (f"{sum(_errors(r.bridge) for r in rounds)}/"
                  f"{sum(_errors(r.baseline) for r in rounds)}")
        return (f"| {name} | | " + " | ".join(cells)
                + f" | {sum(r.recycled for r in rounds)} | {errors} |")

    lines.append(summary("median", median, median))
    lines.append(summary("worst (min req/s, max ms)", min, max))
    return "\n".join(lines)


def profile_cache_hit(env: Environment, report: Report, directory: Path) -> list[Path]:
    """One more cache-hit run per concurrency with py-spy on the bridge's workers (not counted
    in any row); the raw stacks go to ``directory``, a summary to the report."""
    bridge, _ = env.apps
    if bridge.process is None:
        raise BenchError("the bridge is not running")
    request = token_request(WARM_USER_KEY)
    written: list[Path] = []
    for connections in env.plan.concurrencies:
        cpu = directory / f"profile-cache-hit-{connections}-cpu.txt"
        wall = directory / f"profile-cache-hit-{connections}-all.txt"
        env.say(f"profile: cache hit, {connections} connections, py-spy on the bridge's workers")
        with sampling.recording(bridge.process.pid, cpu, wall, env.plan.seconds):
            time.sleep(0.5)  # py-spy attaches to the master and finds its workers first
            env.wrk.run(bridge.url, request, connections=connections, seconds=env.plan.seconds)
        report.section(
            f"Profile of the bridge's workers, cache hit at {connections} connections",
            sampling.summary(sampling.parse(cpu.read_text()), sampling.parse(wall.read_text()))
            + f"\n\nRaw stacks: `{cpu.name}`, `{wall.name}` (py-spy's collapsed format, which "
            "flamegraph.pl and speedscope read).",
        )
        written += [cpu, wall]
    return written


def login(env: Environment, report: Report) -> None:
    bridge, _ = env.apps
    plan = env.plan
    request = login_request(LOGIN, PASSWORD)
    reply = send(bridge.url, request)
    if reply.status != 200 or b"<successful" not in reply.body or b">true<" not in reply.body:
        raise BenchError(f"the benchmark login did not succeed: {reply.status} {reply.body!r}")
    context = multiprocessing.get_context("spawn")  # the bench has threads: never fork it
    with ProcessPoolExecutor(max_workers=SHIPPED_WORKERS, mp_context=context) as pool:
        # Start every pool process and load the hasher before measuring.
        warm = [pool.submit(hashing.verify_once, PASSWORD, env.stored_hash)
                for _ in range(SHIPPED_WORKERS * 2)]
        if not all(future.result(timeout=60) for future in warm):
            raise BenchError("the stored hash does not verify")

        def raw() -> float:
            futures = [
                pool.submit(hashing.verify_for, PASSWORD, env.stored_hash, plan.login_seconds,
                            100_000)
                for _ in range(SHIPPED_WORKERS)
            ]
            results = [future.result(timeout=plan.login_seconds + 60) for future in futures]
            return float(sum(count / elapsed for count, elapsed in results))

        env.say("login: warm-up")
        closed_loop(bridge.url, request, connections=plan.login_connections,
                    seconds=plan.warmup_seconds)
        pairs: list[tuple[LoadResult, float]] = []
        for bridge_run, raw_run in alternate(
            plan.rounds,
            lambda: closed_loop(bridge.url, request, connections=plan.login_connections,
                                seconds=plan.login_seconds),
            raw,
        ):
            pairs.append((_load(bridge_run), _number(raw_run)))
            env.say(f"  bridge {pairs[-1][0].rps:.1f} logins/s | raw {pairs[-1][1]:.1f} verify/s")
    errors = sum(b.non_2xx + b.socket_errors for b, _ in pairs)
    login_ratio = median([b.rps / r for b, r in pairs])
    report.add(Row(
        "LoginRequest (argon2id): logins/s vs raw verifications/s",
        fmt(median([b.rps for b, _ in pairs])), fmt(median([r for _, r in pairs])),
        f"{login_ratio:.2f}x", f">= {TARGET_LOGIN_RATIO:.2f}x",
        verdict(login_ratio >= TARGET_LOGIN_RATIO and errors == 0),
    ))
    report.note(
        "LoginRequest: per round bridge/raw per second "
        + ", ".join(f"{b.rps:.1f}/{r:.1f}" for b, r in pairs)
        + f"; bridge p50 {median([b.p50_ms for b, _ in pairs]):.1f} ms, "
        f"p99 {median([b.p99_ms for b, _ in pairs]):.1f} ms; non-2xx or no answer: {errors} "
        f"(statuses {dict(sum((Counter(dict(b.statuses)) for b, _ in pairs), Counter()))}); "
        f"the Python generator used at most {max(b.generator_cpu for b, _ in pairs):.3f} of a core"
    )


def rss_snapshot(env: Environment) -> tuple[list[float], list[float]]:
    """VmRSS (MiB) of every gunicorn worker (children of the master): bridge, baseline.

    Read once the load has stopped, the lowest of three readings 0.3 s apart per worker, so a
    request still in flight (an argon2id hash holds 64 MiB while it runs) is not counted as
    resident memory.
    """
    bridge, baseline = env.apps
    readings: list[tuple[list[float], list[float]]] = []
    for _ in range(3):
        time.sleep(0.3)
        readings.append(([rss_mib(pid) for pid in bridge.worker_pids()],
                         [rss_mib(pid) for pid in baseline.worker_pids()]))
    bridge_rss = [min(values) for values in zip(*(r[0] for r in readings), strict=False)]
    baseline_rss = [min(values) for values in zip(*(r[1] for r in readings), strict=False)]
    if not bridge_rss or not baseline_rss:
        raise BenchError("no gunicorn workers found")
    return bridge_rss, baseline_rss


def memory(
    env: Environment, report: Report, after_cache_hit: tuple[list[float], list[float]]
) -> None:
    """The row uses the reading after every hot path ran (cache hits, then logins)."""
    bridge_rss, baseline_rss = rss_snapshot(env)
    worst = max(bridge_rss)
    report.add(Row(
        "RSS per worker after warm-up: MiB (max)", fmt(worst, 1), fmt(max(baseline_rss), 1),
        ratio(worst, max(baseline_rss)), f"< {TARGET_RSS_MIB:.0f} MiB",
        verdict(worst < TARGET_RSS_MIB),
    ))
    def listed(values: list[float]) -> str:
        return ", ".join(f"{value:.1f}" for value in values)

    report.note(
        f"RSS (VmRSS) of bridge workers after the cache-hit runs {listed(after_cache_hit[0])} "
        f"MiB, after the login runs too {listed(bridge_rss)} MiB; baseline workers "
        f"{listed(baseline_rss)} MiB"
    )


def stampede(env: Environment, report: Report) -> None:
    bridge, _ = env.apps
    plan = env.plan
    users = env.cold_users[: plan.stampede_users]
    env.say(f"stampede: starting a second bridge instance; {plan.stampede_requests} requests "
            f"over {len(users)} cold users")
    second = env.start_bridge("bridge-2")
    try:
        urls = [bridge.url, second.url]
        targets = [
            (urls[(index // len(users)) % len(urls)], token_request(users[index % len(users)]))
            for index in range(plan.stampede_requests)
        ]
        before = env.simulator.mints_by_erid()
        env.simulator.set_faults({"latency_ms": SIM_LATENCY_MS})
        try:
            replies = burst(targets, timeout=15)
        finally:
            env.simulator.clear_faults()
        after = env.simulator.mints_by_erid()
    finally:
        if second.process is not None:
            second.process.stop()
    minted = {erid: after[erid] - before.get(erid, 0) for erid in after}
    minted = {erid: count for erid, count in minted.items() if count}
    statuses = Counter(reply.status for reply in replies)
    tokens_per_user: dict[str, set[str]] = {}
    for (_, request), reply in zip(targets, replies, strict=True):
        if reply.status == 200:
            token = json.loads(reply.body).get("access_token", "")
            tokens_per_user.setdefault(request.body.decode(), set()).add(token)
    counts = sorted(minted.values())
    per_user = plan.stampede_requests / len(users)
    exact = (
        len(minted) == len(users)
        and all(count == 1 for count in counts)
        and statuses == Counter({200: plan.stampede_requests})
        and all(len(tokens) == 1 for tokens in tokens_per_user.values())
    )
    worst = max(counts, default=0)
    report.add(Row(
        "Cold stampede: mints per user",
        f"max {worst}, min {min(counts, default=0)} ({len(minted)}/{len(users)} users minted)",
        f"{per_user:g} (one per request, no single flight)",
        ratio(worst, per_user), "exactly 1", verdict(exact),
    ))
    report.note(
        f"Cold stampede: {plan.stampede_requests} concurrent requests, statuses "
        + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
        + f"; distinct tokens per user: {sorted(len(t) for t in tokens_per_user.values())}; "
        f"latency p50/p99/max {'/'.join(f'{v:.0f}' for v in _ms([r.seconds for r in replies]))}"
        " ms"
    )


@contextmanager
def dr_hanging(env: Environment) -> Iterator[None]:
    env.simulator.set_faults({"hang": True})
    try:
        yield
    finally:
        env.simulator.clear_faults()


def dr_hang(env: Environment, report: Report, healthy: LoadResult) -> None:
    bridge, _ = env.apps
    plan = env.plan
    users = env.cold_users[plan.stampede_users : plan.stampede_users + plan.hang_users]
    start_cold_after = min(0.5, plan.fault_seconds * 0.1)
    env.say(f"DR hangs: cached user under load; cold users join {start_cold_after:g} s in")
    cold: list[Reply] = []

    def cold_burst() -> None:
        # Two requests per cold user at once: one mints (and hangs), the other waits for it.
        cold.extend(burst(
            [(bridge.url, token_request(user)) for user in users for _ in range(2)], timeout=15
        ))

    with dr_hanging(env):
        cold_thread = threading.Timer(start_cold_after, cold_burst)
        cold_thread.start()
        try:
            warm = env.wrk.run(bridge.url, token_request(WARM_USER_KEY),
                               connections=plan.fault_connections, seconds=plan.fault_seconds)
        finally:
            cold_thread.join(timeout=40)
            cold_thread.cancel()
    if not cold:
        raise BenchError("the cold-user requests during the DR hang did not finish")
    report.add(Row(
        "DR hang, cached user: p50 / p99 / max ms",
        f"{fmt(warm.p50_ms)} / {fmt(warm.p99_ms)} / {fmt(warm.max_ms)}",
        f"healthy p99 {fmt(healthy.p99_ms)}", ratio(warm.p99_ms, healthy.p99_ms),
        "info (DR not on this path)", INFO,
    ))
    cold_ms = _ms([reply.seconds for reply in cold])
    statuses = Counter(reply.status for reply in cold)
    report.add(Row(
        "DR hang, cold user: p50 / p99 / max ms",
        " / ".join(fmt(value, 0) for value in cold_ms),
        "DR hangs 30 s", ratio(cold_ms[2], 30_000.0), "info (bounded by the DR deadline)", INFO,
    ))
    report.note(
        f"DR hang (DR calls hang 30 s; the bridge's DR deadline is 1.5 s): cached user "
        f"{warm.rps:,.0f} req/s at {plan.fault_connections} conns, non-2xx {warm.non_2xx}, "
        f"while {len(users)} cold users x 2 concurrent requests arrived {start_cold_after:g} s "
        "in, statuses "
        + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    )


def redis_down(env: Environment, report: Report, healthy: LoadResult) -> None:
    """Kill the bridge's Redis early in a loaded run; everything after runs without it."""
    bridge, _ = env.apps
    plan = env.plan
    kill_after = min(0.5, plan.fault_seconds * 0.1)
    env.say(f"Redis down: killing redis-server {kill_after:g} s into a {plan.fault_seconds:g} s "
            "run")
    killer = threading.Timer(kill_after, env.redis.crash)
    killer.start()
    try:
        down = env.wrk.run(bridge.url, token_request(WARM_USER_KEY),
                           connections=plan.fault_connections, seconds=plan.fault_seconds)
    finally:
        killer.cancel()
        killer.join()
    target = TARGET_REDIS_DOWN_P99_MS
    label = f"{plan.fault_connections} conns"
    report.add(Row("Redis down: p50 ms", fmt(down.p50_ms), fmt(healthy.p50_ms),
                   ratio(down.p50_ms, healthy.p50_ms), f"info ({label}; baseline: healthy)"))
    report.add(Row("Redis down: p99 ms", fmt(down.p99_ms), fmt(healthy.p99_ms),
                   ratio(down.p99_ms, healthy.p99_ms), f"<= {target:.0f} ms",
                   verdict(down.p99_ms <= target)))
    report.add(Row("Redis down: max ms", fmt(down.max_ms), fmt(healthy.max_ms),
                   ratio(down.max_ms, healthy.max_ms), "info"))
    report.note(
        f"Redis down: {down.requests} requests, {down.non_2xx} non-2xx "
        f"({down.non_2xx / max(1, down.requests):.0%}; the rest were served before the kill), "
        f"{down.socket_errors} socket errors; baseline column: the bridge's healthy cache-hit "
        f"run at {plan.fault_connections} conns in this run"
    )
