"""Smoke test of the benchmark: ``python -m bench --quick`` runs end to end and prints every row.

It checks that the benchmark works, never its numbers: benchmark targets are not pass/fail in CI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import ROW_TITLES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_prints_every_row(tmp_path: Path) -> None:
    for tool, package in (("wrk", "wrk"), ("redis-server", "redis-server")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: apt-get update && apt-get install -y {package}"
                        " (scripts/test installs it where apt-get is available)", pytrace=False)
    output = tmp_path / "latest.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    table_rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    for title in ROW_TITLES:
        matching = [line for line in table_rows if line.startswith(f"| {title} |")]
        assert len(matching) == 1, f"row missing from the table: {title}"
        cells = [cell.strip() for cell in matching[0].strip("|").split(" | ")]
        assert len(cells) == 6 and all(cells), matching[0]
    assert output.read_text() == done.stdout.rstrip("\n") + "\n"
    assert "python -m bench --quick" in done.stdout
    assert "nproc" in done.stdout and "CPU" in done.stdout and "Python" in done.stdout
