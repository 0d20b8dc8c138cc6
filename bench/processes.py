"""The real processes a benchmark run starts: its own Redis, the DR simulator, gunicorn apps.

Every process is started in its own session (so its whole process group can be signalled) and
registered with a `ProcessGroup`, which stops them all, in reverse order, however the run ends.
Nothing here ever touches the machine's own Redis (6379) or PostgreSQL: ports are picked free.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import redis
import requests

from sso_bridge.gunicorn_app import DEFAULTS as SHIPPED_SERVER

ROOT = Path(__file__).resolve().parent.parent
LOCALHOST = "127.0.0.1"
BRIDGE_APP = "sso_bridge:create_app()"

# The bridge as deployed: gunicorn reads config/gunicorn.conf.py (the shipped BufferingWorker,
# its threads, keep-alive and max_requests recycling), and only the bind address and log level
# are given on the command line. tests/unit/test_config_examples.py keeps the file and
# sso_bridge.gunicorn_app.DEFAULTS in step, so the counts are read from the latter.
SHIPPED_CONFIG = ROOT / "config" / "gunicorn.conf.py"
SHIPPED_WORKERS = int(SHIPPED_SERVER["workers"])
SHIPPED_THREADS = int(SHIPPED_SERVER["threads"])
SHIPPED_WORKER_CLASS = str(SHIPPED_SERVER["worker_class"])

# Explicit settings, for the benches that compare or pin a worker class (bench.workers,
# bench.timing, bench.coldpath); the main benchmark runs the bridge as shipped instead.
GUNICORN_WORKERS = SHIPPED_WORKERS
GUNICORN_THREADS = SHIPPED_THREADS
WORKER_CLASS = "gthread"


class BenchError(RuntimeError):
    """Something the benchmark needs did not work; the message says what."""


def free_port() -> int:
    """A free TCP port for a server of ours, below Linux's ephemeral range (32768-60999).

    A port the kernel hands out for ``bind(0)`` lies in the range it also gives outgoing
    connections their source ports from: between this check and the server's own bind, any
    client socket (the test suite opens thousands) may take it. Below that range, only another
    server choosing at random can, and it checks with a bind as this does.
    """
    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind((LOCALHOST, port))
            except OSError:
                continue
            return port
    raise BenchError("no free port between 20000 and 32000")


class Managed:
    """One child process in its own process group, stopped with SIGTERM then SIGKILL."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.name = name
        self.args = list(args)
        self.env = dict(env) if env is not None else None
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError(f"{self.name} is not running")
        return self.process.pid

    def start(self) -> Managed:
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                self.args,
                env=self.env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if not isinstance(log, int):
                log.close()
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill_now(self) -> None:
        """SIGKILL the whole group at once (a crash, not a shutdown)."""
        self._signal(signal.SIGKILL)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)

    def stop(self, grace: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        # Whatever is left of the group (workers of a master that died first, say) goes too.
        self._signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class ProcessGroup:
    """Owns every process of a run; stops them in reverse start order on exit, even on Ctrl-C."""

    def __init__(self) -> None:
        self._started: list[Managed] = []

    def start(self, process: Managed) -> Managed:
        self._started.append(process)
        return process.start()

    def stop_all(self) -> None:
        while self._started:
            process = self._started.pop()
            with contextlib.suppress(Exception):
                process.stop()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()


def wait_for(check: object, what: str, process: Managed, timeout: float = 30.0) -> None:
    """Poll ``check()`` (truthy when ready) every 0.1 s, at most ``timeout`` seconds."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise BenchError(f"{process.name} exited before {what}:\n{process.tail()}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    raise BenchError(
        f"{process.name}: {what} did not happen within {timeout:g} s\n{process.tail()}"
    )


# --------------------------------------------------------------------------- Redis


class RedisServer:
    """A private redis-server on a free port: no persistence, nothing shared with the machine's."""

    def __init__(self, group: ProcessGroup, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://{LOCALHOST}:{self.port}/0"
        self._group = group
        self._workdir = workdir
        self.process: Managed | None = None

    def start(self) -> RedisServer:
        args = [
            "redis-server",
            "--port", str(self.port),
            "--bind", LOCALHOST,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(self._workdir),
            "--loglevel", "warning",
        ]
        self.process = self._group.start(
            Managed("redis-server", args, log_path=self._workdir / "redis.log")
        )
        client = self.client()
        wait_for(client.ping, "answering PING", self.process)
        client.close()
        return self

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def crash(self) -> None:
        """SIGKILL, as a crash would: clients see reset connections, then refused ones."""
        if self.process is not None:
            self.process.kill_now()


# --------------------------------------------------------------------------- DR simulator


class Simulator:
    """``sso-bridge simulate-dr`` in its own process (one process: its state lives there)."""

    def __init__(self, group: ProcessGroup, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://{LOCALHOST}:{self.port}"
        self._group = group
        self._workdir = workdir

    def start(self) -> Simulator:
        script = Path(sys.executable).parent / "sso-bridge"
        if not script.exists():
            raise BenchError(f"{script} not found: install the project (pip install -e .)")
        process = self._group.start(
            Managed(
                "dr-simulator",
                [str(script), "simulate-dr", "--bind", f"{LOCALHOST}:{self.port}"],
                env=_clean_environment(),
                log_path=self._workdir / "simulator.log",
            )
        )
        wait_for(lambda: requests.get(self.url + "/_sim/stats", timeout=1).ok, "serving", process)
        return self

    def stats(self) -> dict[str, object]:
        response = requests.get(self.url + "/_sim/stats", timeout=5)
        response.raise_for_status()
        stats: dict[str, object] = response.json()
        return stats

    def mints_by_erid(self) -> dict[str, int]:
        counts = self.stats().get("mints_by_erid", {})
        assert isinstance(counts, dict)
        return {str(erid): int(count) for erid, count in counts.items()}

    def set_faults(self, faults: Mapping[str, object]) -> None:
        requests.post(self.url + "/_sim/faults", json=dict(faults), timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        self.set_faults({})


# --------------------------------------------------------------------------- gunicorn


def _clean_environment() -> dict[str, str]:
    """This environment without any SSO_BRIDGE_* setting of the caller's shell."""
    return {key: value for key, value in os.environ.items() if not key.startswith("SSO_BRIDGE_")}


def shipped_options() -> list[str]:
    """gunicorn's options for the bridge as shipped: its config file, nothing overridden."""
    return ["--config", str(SHIPPED_CONFIG)]


def default_options(workers: int) -> list[str]:
    """gunicorn's defaults (the sync worker: one request at a time per worker, no keep-alive)
    with only the worker count set."""
    return ["--workers", str(workers)]


class GunicornApp:
    """A WSGI app under gunicorn on a free port of 127.0.0.1.

    By default with explicit settings (``workers``, ``threads``, ``worker_class``); ``options``
    replaces those with other gunicorn options (``shipped_options()``, ``default_options()``),
    ``workers`` then being the worker count they give, which ``start`` waits for.
    """

    def __init__(
        self,
        group: ProcessGroup,
        workdir: Path,
        *,
        name: str,
        app: str,
        env: Mapping[str, str],
        workers: int = GUNICORN_WORKERS,
        threads: int = GUNICORN_THREADS,
        worker_class: str = WORKER_CLASS,
        options: Sequence[str] | None = None,
    ) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://{LOCALHOST}:{self.port}"
        self.workers = workers
        self._group = group
        self._log = workdir / f"{name}.log"
        self._env = {**_clean_environment(), **env}
        if options is None:
            options = [
                "--workers", str(workers),
                "--worker-class", worker_class,
                "--threads", str(threads),
            ]
        # Given on the command line, these two override a config file's values.
        self.args = [
            sys.executable, "-m", "gunicorn",
            *options,
            "--bind", f"{LOCALHOST}:{self.port}",
            "--log-level", "warning",
            app,
        ]
        self.process: Managed | None = None

    @classmethod
    def shipped_bridge(
        cls, group: ProcessGroup, workdir: Path, *, name: str, env: Mapping[str, str]
    ) -> GunicornApp:
        return cls(group, workdir, name=name, app=BRIDGE_APP, env=env,
                   workers=SHIPPED_WORKERS, options=shipped_options())

    def start(self, health_path: str = "/healthz") -> GunicornApp:
        self.process = self._group.start(
            Managed(self.name, self.args, env=self._env, log_path=self._log)
        )
        process = self.process
        wait_for(
            lambda: requests.get(self.url + health_path, timeout=1).status_code == 200,
            "serving",
            process,
        )
        # Every worker must be up (not just the first to answer) before anything is measured.
        wait_for(lambda: len(self.worker_pids()) == self.workers, "all workers up", process)
        return self

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        return children_of(self.process.pid)


def children_of(parent: int) -> list[int]:
    """PIDs whose parent is ``parent`` (from /proc/<pid>/stat)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 is the parent PID; the command (field 2) may contain spaces, so split after ')'.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1 and int(fields[1]) == parent:
            found.append(int(entry.name))
    return sorted(found)


def rss_mib(pid: int) -> float:
    """Resident memory of one process, from /proc/<pid>/status VmRSS, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise BenchError(f"no VmRSS for pid {pid}")
