"""gunicorn server hooks shared by config/gunicorn.conf.py and ``sso-bridge serve``.

prometheus-client's multiprocess mode: every worker writes its metrics to files in
PROMETHEUS_MULTIPROC_DIR, which must exist before workers start, be emptied at start-up (stale
files from an earlier run would be summed in), and forget a worker's live gauges when it exits.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def prepare_metrics_directory() -> str:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        directory = tempfile.mkdtemp(prefix="sso-bridge-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return directory


def on_starting(_server: Any) -> None:
    prepare_metrics_directory()


def child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
