"""Real server processes for functional tests: gunicorn running the bridge."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import requests

from bench.processes import free_port as bench_free_port
from tests.helpers import leaked_secrets

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A free port outside the ephemeral range (see bench.processes.free_port: one home)."""
    return bench_free_port()


def config_environment(config: Mapping[str, Any], prefix: str = "SSO_BRIDGE_") -> dict[str, str]:
    """Flatten a config mapping into SSO_BRIDGE_* variables (nested keys joined with __)."""
    env: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and key != "RUM_USERS":
            env.update(config_environment(value, f"{prefix}{key}__"))
        else:
            env[prefix + key] = value if isinstance(value, str) else json.dumps(value)
    return env


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not come up within {timeout} s")


def server_environment(config: Mapping[str, Any]) -> dict[str, str]:
    """This process's environment with none of its SSO_BRIDGE_* settings, and ``config``'s."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SSO_BRIDGE_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    return {**inherited, **config_environment(config)}


class ServerProcess:
    """A bridge server in a process of the test's own, on a free port: started and waited for on
    entry, stopped on exit, everything it wrote kept in ``output`` and checked for secrets."""

    name = "server"

    def __init__(self, config: Mapping[str, Any], args: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = server_environment(config)
        self._args = [arg.replace("{port}", str(self.port)) for arg in args]
        self.process: subprocess.Popen[bytes] | None = None
        self.output = ""

    def __enter__(self) -> Self:
        self._output = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            self._args, env=self._env, cwd=ROOT, stdout=self._output, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(self.url + "/healthz", self.process)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._output.seek(0)
        self.output = self._output.read().decode(errors="replace")
        self._output.close()
        leaks = leaked_secrets(self.output)
        assert not leaks, f"{self.name} output holds {len(leaks)} secret(s)"


class Gunicorn(ServerProcess):
    """The bridge under real gunicorn with N workers, configured through the environment."""

    name = "gunicorn"

    def __init__(self, config: Mapping[str, Any], *, workers: int = 4, threads: int = 4) -> None:
        # The production configuration file, with the test's own worker settings on top.
        super().__init__(
            config,
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "config" / "gunicorn.conf.py"),
                "--workers",
                str(workers),
                "--worker-class",
                "gthread",
                "--threads",
                str(threads),
                "--bind",
                "127.0.0.1:{port}",
                "--log-level",
                "warning",
                "sso_bridge:create_app()",
            ],
        )


# A Redis whose ACL refuses CLIENT TRACKING, as a proxy or a locked-down server would: the
# local token cache cannot be kept coherent and must stay off.
REFUSING_TRACKING = ("--user", "default", "on", "nopass", "~*", "&*", "+@all", "-client|tracking")


class OwnRedis:
    """A redis-server of the test's own on a free port, to kill and restart at will (the
    machine's shared Redis is never touched)."""

    def __init__(self, options: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.options = tuple(options)  # more redis-server arguments, e.g. REFUSING_TRACKING
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OwnRedis:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("own redis-server did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> OwnRedis:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.kill()
