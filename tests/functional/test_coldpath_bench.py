"""Smoke test of ``python -m bench.coldpath``: it runs end to end, prints every row, and its
counts (one mint, shopper creation and authorization per user) hold. Never its timings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ROWS = (
    "First user, plan search uncached: time / DR latency",
    "3 cold users one at a time: p50 / DR latency",
    "3 cold users one at a time: max / DR latency",
    "Stampede, 2 users x 3: p50 / DR latency",
    "Stampede, 2 users x 3: max / DR latency",
    "Mints per user (distinct counts)",
    "Shopper creations per user",
    "Plan searches (whole run)",
    "Plan authorizations per user",
)


def test_coldpath_benchmark_runs_and_counts_one_of_each_per_user(tmp_path: Path) -> None:
    output = tmp_path / "coldpath.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench.coldpath", "--users", "3", "--stampede-users", "2",
         "--per-user", "3", "--latency-ms", "20", "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    rows = {line.split(" | ")[0].lstrip("| "): line for line in done.stdout.splitlines()
            if line.startswith("| ")}
    for title in ROWS:
        assert title in rows, f"row missing from the table: {title}"
    assert "| 6/6 |" in rows["Shopper creations per user"]
    assert "| 6/6 |" in rows["Plan authorizations per user"]
    assert " | [1] | " in rows["Mints per user (distinct counts)"]
    assert "python -m bench.coldpath --users 3" in done.stdout
    assert output.read_text() == done.stdout.rstrip("\n") + "\n"
