"""Running the simulator: in the foreground (`serve_simulator`) or in a test (`SimulatorServer`)."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server, run_simple

from .config import SimulatorConfig
from .state import SimulatorState
from .views import EXTENSION

if TYPE_CHECKING:
    from flask import Flask


class QuietRequestHandler(WSGIRequestHandler):
    """Logs requests without their query string, where DR's API carries tokens (``?token=``)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = getattr(self, "path", "")
        path = path.partition("?")[0] or "-"
        command = getattr(self, "command", "-")
        version = getattr(self, "request_version", "-")
        self.log("info", '"%s %s %s" %s %s', command, path, version, code, size)


def parse_bind(bind: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``:port`` (127.0.0.1) to ``(host, port)``."""
    host, sep, port_text = bind.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"bind must be HOST:PORT, not {bind!r}")
    host = host.strip("[]") or "127.0.0.1"
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range in {bind!r}")
    return host, port


def serve_simulator(bind: str, config: SimulatorConfig) -> None:
    """Serve the simulator on ``bind`` until interrupted (one process, threaded)."""
    from . import create_simulator_app

    host, port = parse_bind(bind)
    run_simple(
        host,
        port,
        create_simulator_app(config),
        threaded=True,
        request_handler=QuietRequestHandler,
    )


class SimulatorServer:
    """The simulator on a free local port in a background thread, for tests::

    with SimulatorServer(SimulatorConfig(...)) as sim:
        client = CommerceClient(base_url=sim.url, ...)
        sim.state.stats()
    """

    def __init__(
        self, config: SimulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        from . import create_simulator_app

        self.config = config or SimulatorConfig()
        self.app: Flask = create_simulator_app(self.config)
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> SimulatorState:
        sim_state: SimulatorState = self.app.extensions[EXTENSION]
        return sim_state

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._server.server_port}"

    def start(self) -> SimulatorServer:
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        server = make_server(
            self._host, self._port, self.app, threaded=True, request_handler=QuietRequestHandler
        )
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"dr-simulator-{server.server_port}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self.state.wake_sleepers()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
