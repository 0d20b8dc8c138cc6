"""`sso-bridge serve` as an operator runs it, in a process of the test's own (the shipped server:
the worker class, limits and proxy settings that `serve` picks, not the test's)."""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.helpers import RUM_PASSWORD, RUM_USER, leaked_secrets
from tests.servers import config_environment, free_port, wait_until_up

SSO_BRIDGE = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "sso-bridge"
RUM_AUTH = "Basic " + base64.b64encode(f"{RUM_USER}:{RUM_PASSWORD}".encode()).decode()


class BridgeServe:
    def __init__(self, config: Mapping[str, Any], *, workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SSO_BRIDGE_") and k != "PROMETHEUS_MULTIPROC_DIR"
        }
        env.update(config_environment(config))
        self._env = env
        self._args = [
            str(SSO_BRIDGE), "serve", "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers)
        ]
        self.process: subprocess.Popen[bytes] | None = None
        self.output = ""

    def __enter__(self) -> BridgeServe:
        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            self._args, env=self._env, stdout=self._log, stderr=subprocess.STDOUT
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
        self._log.seek(0)
        self.output = self._log.read().decode(errors="replace")
        self._log.close()
        leaks = leaked_secrets(self.output)
        assert not leaks, f"serve output holds {len(leaks)} secret(s)"
