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
    "Round 1, one at a time: p50 / max",
    "Round 1, stampede: p50 / max",
    "Round 2, one at a time: p50 / max",
    "Round 2, stampede: p50 / max",
    "All rounds, 6 cold users one at a time: p50 / DR latency",
    "All rounds, 6 cold users one at a time: max / DR latency",
    "All rounds, stampede 2 users x 3 (4 users): p50 / DR latency",
    "All rounds, stampede 2 users x 3 (4 users): max / DR latency",
    "Mints per user (distinct counts)",
    "Shopper creations per user",
    "Plan searches / application tokens (whole run)",
    "Other DR calls (whole run)",
    "Plan authorizations per user",
)


def test_coldpath_benchmark_runs_and_counts_one_of_each_per_user(tmp_path: Path) -> None:
    output = tmp_path / "coldpath.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench.coldpath", "--rounds", "2", "--users", "3",
         "--stampede-users", "2",
         "--per-user", "3", "--latency-ms", "20", "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    rows = {line.split(" | ")[0].lstrip("| "): line for line in done.stdout.splitlines()
            if line.startswith("| ")}
    for title in ROWS:
        assert title in rows, f"row missing from the table: {title}"
    assert "| 11/11 |" in rows["Shopper creations per user"]
    assert "| 11/11 |" in rows["Plan authorizations per user"]
    assert "| {} | {} |" in rows["Other DR calls (whole run)"]
    assert " | [1] | " in rows["Mints per user (distinct counts)"]
    assert "python -m bench.coldpath --rounds 2 --users 3" in done.stdout
    assert output.read_text() == done.stdout.rstrip("\n") + "\n"
