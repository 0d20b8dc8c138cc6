"""Load generators: `wrk` for throughput and latency, small Python bursts for the race phases.

`wrk` (Debian package ``wrk``) does the measuring: one thread, keep-alive connections, a Lua
script per request kind. The script's ``done`` hook prints exact percentiles (microseconds) as
one JSON line; the ``--latency`` text is parsed as a fallback. wrk's own CPU time is recorded
so the report can show the generator was not the bottleneck.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import math
import re
import resource
import shutil
import signal
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.processes import LOCALHOST, BenchError

WRK_INSTALL_HINT = "install it with: apt-get update && apt-get install -y wrk (Debian/Ubuntu)"

_DONE_HOOK = """
done = function(summary, latency, requests)
  io.write(string.format(
    "BENCH_JSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"p50_us\\":%d,\\"p99_us\\":%d," ..
    "\\"max_us\\":%d,\\"non_2xx\\":%d,\\"socket_errors\\":%d}\\n",
    summary.requests, summary.duration, latency:percentile(50.0), latency:percentile(99.0),
    latency.max, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise BenchError(f"the benchmark needs wrk, which is not installed: {WRK_INSTALL_HINT}")
    return found


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for ASCII


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True)
class Request:
    """One kind of request: what wrk sends on every connection."""

    method: str
    path: str
    body: bytes
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> Request:
        return cls(method, path, body, tuple(headers.items()))

    def lua(self) -> str:
        lines = [
            f"wrk.method = {lua_string(self.method)}",
            f"wrk.body = {lua_string(self.body.decode('ascii'))}",
        ]
        lines += [
            f"wrk.headers[{lua_string(name)}] = {lua_string(value)}"
            for name, value in self.headers
        ]
        return "\n".join(lines) + "\n" + _DONE_HOOK


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    generator_cpu: float  # the generator's CPU seconds per wall second (1.0 = one core busy)
    rate: float | None = None  # a closed loop's steady-state rate, when it measured one
    statuses: tuple[tuple[int, int], ...] = ()  # (status, count) where known; 0: no answer

    @property
    def rps(self) -> float:
        if self.rate is not None:
            return self.rate
        return self.requests / self.seconds if self.seconds > 0 else 0.0


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if match is None:
        raise BenchError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str, cpu: float) -> LoadResult:
    """Read wrk's output: the BENCH_JSON line, else the ``--latency`` text."""
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line.removeprefix("BENCH_JSON "))
            seconds = data["duration_us"] / 1e6
            return LoadResult(
                requests=int(data["requests"]),
                seconds=seconds,
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                max_ms=data["max_us"] / 1000,
                non_2xx=int(data["non_2xx"]),
                socket_errors=int(data["socket_errors"]),
                generator_cpu=cpu / seconds if seconds else 0.0,
            )
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    latency_max = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", output)
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    if not (rps and p50 and p99 and latency_max and total):
        raise BenchError(f"cannot parse wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    seconds = _to_ms(total.group(2) + total.group(3)) / 1000
    return LoadResult(
        requests=int(total.group(1)),
        seconds=seconds,
        p50_ms=_to_ms(p50.group(1)),
        p99_ms=_to_ms(p99.group(1)),
        max_ms=_to_ms(latency_max.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in socket.groups()) if socket else 0,
        generator_cpu=cpu / seconds if seconds else 0.0,
    )


class Wrk:
    """Runs wrk against 127.0.0.1 only, bounded in time, with scripts kept in ``workdir``."""

    def __init__(self, workdir: Path, *, threads: int = 1) -> None:
        self.binary = require_wrk()
        self.workdir = workdir
        self.threads = threads
        self._scripts: dict[Request, Path] = {}

    def _script(self, request: Request) -> Path:
        path = self._scripts.get(request)
        if path is None:
            path = self.workdir / f"wrk-{len(self._scripts)}.lua"
            path.write_text(request.lua())
            self._scripts[request] = path
        return path

    def run(
        self, base_url: str, request: Request, *, connections: int, seconds: float
    ) -> LoadResult:
        if urlsplit(base_url).hostname != LOCALHOST:
            raise BenchError(f"refusing to send load anywhere but {LOCALHOST}: {base_url}")
        args = [
            self.binary,
            "--threads", str(min(self.threads, connections)),
            "--connections", str(connections),
            "--duration", f"{max(1, round(seconds))}s",
            "--timeout", "10s",
            "--latency",
            "--script", str(self._script(request)),
            base_url + request.path,
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            output, _ = process.communicate(timeout=seconds + 30)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)
            process.wait()
            raise
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        text = output.decode(errors="replace")
        if process.returncode != 0:
            raise BenchError(f"wrk exited with {process.returncode}:\n{text}")
        return parse_wrk(text, cpu)


# --------------------------------------------------------------------------- Python bursts


@dataclass(frozen=True)
class Reply:
    status: int
    seconds: float
    body: bytes


def send(url: str, request: Request, timeout: float = 10.0) -> Reply:
    """One request on a fresh connection (status 0: no answer at all)."""
    parts = urlsplit(url)
    if parts.hostname != LOCALHOST:
        raise BenchError(f"refusing to send anything but to {LOCALHOST}: {url}")
    started = time.perf_counter()
    connection = http.client.HTTPConnection(LOCALHOST, parts.port, timeout=timeout)
    try:
        connection.request(request.method, request.path, body=request.body,
                           headers=dict(request.headers))
        response = connection.getresponse()
        body = response.read()
        return Reply(response.status, time.perf_counter() - started, body)
    except OSError:
        return Reply(0, time.perf_counter() - started, b"")
    finally:
        connection.close()


def burst(
    targets: Sequence[tuple[str, Request]], *, timeout: float = 10.0, start_within: float = 10.0
) -> list[Reply]:
    """Every (url, request) at once, one thread each, released together by a barrier."""
    replies: list[Reply | None] = [None] * len(targets)
    barrier = threading.Barrier(len(targets), timeout=start_within)

    def one(index: int, url: str, request: Request) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()  # broken: go anyway, a late start only makes the race milder
        replies[index] = send(url, request, timeout)

    threads = [
        threading.Thread(target=one, args=(i, url, req), daemon=True)
        for i, (url, req) in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + start_within + timeout + 5
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [reply or Reply(0, timeout, b"") for reply in replies]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def closed_loop(
    url: str, request: Request, *, connections: int, seconds: float, timeout: float = 30.0
) -> LoadResult:
    """A Python closed loop for slow requests (logins): ``connections`` keep-alive clients.

    wrk counts only what completes inside its window, which under-counts by up to one request
    per connection: a large error when each request takes a good part of a second. Here every
    client runs until the deadline and finishes its last request; its rate is its count over
    the time to its last completion, the same estimator as the raw-verification pool uses.
    At tens of requests per second the generator's CPU use is negligible (reported).
    """
    parts = urlsplit(url)
    if parts.hostname != LOCALHOST:
        raise BenchError(f"refusing to send load anywhere but {LOCALHOST}: {url}")
    latencies: list[list[float]] = [[] for _ in range(connections)]
    rates = [0.0] * connections
    failures = [0] * connections
    statuses: list[Counter[int]] = [Counter() for _ in range(connections)]
    barrier = threading.Barrier(connections + 1, timeout=10)
    clock: list[float] = []

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(LOCALHOST, parts.port, timeout=timeout)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        started = clock[0]
        deadline = started + seconds
        last = started
        try:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                status = _exchange(connection, request)
                last = time.perf_counter()
                latencies[index].append(last - sent)
                statuses[index][status] += 1
                failures[index] += 0 if 200 <= status < 300 else 1
        finally:
            connection.close()
        count = len(latencies[index])
        rates[index] = count / (last - started) if last > started else 0.0

    threads = [threading.Thread(target=client, args=(i,), daemon=True)
               for i in range(connections)]
    for thread in threads:
        thread.start()
    cpu_before = time.process_time()
    clock.append(time.perf_counter())
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()
    hard_stop = clock[0] + seconds + timeout + 5
    for thread in threads:
        thread.join(max(0.0, hard_stop - time.perf_counter()))
    wall = time.perf_counter() - clock[0]
    cpu = time.process_time() - cpu_before
    everything = [value for per_client in latencies for value in per_client]
    if not everything:
        raise BenchError(f"no request completed against {url}")
    return LoadResult(
        requests=len(everything),
        seconds=wall,
        p50_ms=percentile(everything, 0.5) * 1000,
        p99_ms=percentile(everything, 0.99) * 1000,
        max_ms=max(everything) * 1000,
        non_2xx=sum(failures),
        socket_errors=0,
        generator_cpu=cpu / wall if wall > 0 else 0.0,
        rate=sum(rates),
        statuses=tuple(sorted(sum(statuses, Counter[int]()).items())),
    )


def _exchange(connection: http.client.HTTPConnection, request: Request) -> int:
    """One request on a keep-alive connection; status 0 if no answer came.

    A connection the server closed while idle is retried once on a fresh one, as any HTTP
    client does; a failure after that counts.
    """
    for attempt in range(2):
        try:
            connection.request(request.method, request.path, body=request.body,
                               headers=dict(request.headers))
            response = connection.getresponse()
            response.read()
            return response.status
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            connection.close()
            if attempt:
                return 0
        except OSError:
            connection.close()
            return 0
    return 0
