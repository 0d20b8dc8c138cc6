"""`sso-bridge serve` as an operator runs it, in a process of the test's own (the shipped server:
the worker class, limits and proxy settings that `serve` picks, not the test's)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.helpers import RUM_PASSWORD, RUM_USER
from tests.servers import ServerProcess

SSO_BRIDGE = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "sso-bridge"
RUM_AUTH = "Basic " + base64.b64encode(f"{RUM_USER}:{RUM_PASSWORD}".encode()).decode()


class BridgeServe(ServerProcess):
    name = "serve"

    def __init__(self, config: Mapping[str, Any], *, workers: int = 2) -> None:
        super().__init__(
            config,
            [str(SSO_BRIDGE), "serve", "--bind", "127.0.0.1:{port}", "--workers", str(workers)],
        )
