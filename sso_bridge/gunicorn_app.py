"""Run the bridge under gunicorn from the CLI, with the settings of config/gunicorn.conf.py."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gunicorn.app.base import BaseApplication

from sso_bridge.gunicorn_hooks import child_exit, on_starting

# Defaults kept in step with config/gunicorn.conf.py (the file operators copy and tune).
DEFAULTS: dict[str, Any] = {
    "bind": "127.0.0.1:8080",
    "workers": 2,
    "worker_class": "sso_bridge.server.worker.BufferingWorker",
    "threads": 4,
    "timeout": 30,
    "graceful_timeout": 20,
    "keepalive": 5,
    "max_requests": 1_000_000,
    "max_requests_jitter": 100_000,
    "accesslog": None,
    "control_socket_disable": True,  # see config/gunicorn.conf.py
    "on_starting": on_starting,
    "child_exit": child_exit,
}


class BridgeServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, app_factory: Callable[[], Any], options: Mapping[str, Any]) -> None:
        self._factory = app_factory
        self._options = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Any:
        return self._factory()
