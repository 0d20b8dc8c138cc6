"""gunicorn server hooks shared by config/gunicorn.conf.py and ``sso-bridge serve``.

prometheus-client's multiprocess mode: every worker writes its metrics to files in
PROMETHEUS_MULTIPROC_DIR, which must exist before workers start, be emptied at start-up (stale
files from an earlier run would be summed in), and forget a worker's live gauges when it exits.
A directory the bridge made for itself is removed when the master exits; one the operator named
is left where it is.

``on_starting`` also holds the start-up contract (sso_bridge.startup) in the master, before any
worker forks: a refusal ends gunicorn with status 2 and one line, instead of every worker failing
to boot with a traceback. Nothing here may import prometheus_client before the directory is set.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any


def _remove_own_directory(directory: str, owner: int) -> None:
    # Forked workers run atexit handlers too: only the process that made it removes it.
    if os.getpid() == owner:
        shutil.rmtree(directory, ignore_errors=True)


def prepare_metrics_directory() -> str:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        directory = tempfile.mkdtemp(prefix="sso-bridge-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        atexit.register(_remove_own_directory, directory, os.getpid())
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return directory


def refuse_unless_startable() -> None:
    """Check the environment's configuration as `create_app()` will; exit 2 with one line if not."""
    from sso_bridge.db import make_engine
    from sso_bridge.operator_errors import describe
    from sso_bridge.settings import load_settings
    from sso_bridge.startup import check_startup

    try:
        settings = load_settings()
        engine = make_engine(settings.database_url)
        try:
            check_startup(settings, engine)
        finally:
            engine.dispose()  # no connection may be inherited by the forked workers
    except Exception as exc:
        message = describe(exc)
        if message is None:
            raise
        print(f"sso-bridge: {message}", file=sys.stderr, flush=True)
        sys.exit(2)


def on_starting(_server: Any) -> None:
    prepare_metrics_directory()
    refuse_unless_startable()


def child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
