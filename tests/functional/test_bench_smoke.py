"""Smoke test of the benchmark: ``python -m bench --quick`` runs end to end and prints every row.

It checks that the benchmark works, never its numbers: benchmark targets are not pass/fail in CI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.processes import SHIPPED_CONFIG, GunicornApp, ProcessGroup, default_options
from bench.report import CACHE_HIT_CONNECTIONS, ROW_TITLES
from bench.sampling import parse, summary

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
    for connections in CACHE_HIT_CONNECTIONS:
        rounds = _section_rows(done.stdout, f"## Cache hit, {connections} keep-alive connections")
        # --quick runs 2 rounds, one in each order, then the median and the worst round.
        assert [row[:2] for row in rounds] == [
            ["1", "bridge"], ["2", "baseline"], ["median", ""], ["worst (min req/s, max ms)", ""]
        ], rounds
        for row in rounds:
            assert len(row) == 10, row
            assert all(float(cell.replace(",", "")) > 0 for cell in row[2:8]), row
            assert row[9].count("/") == 1, row  # errors of the bridge / of the baseline


def _section_rows(text: str, heading: str) -> list[list[str]]:
    """The body rows of the Markdown table under ``heading``."""
    assert heading in text, f"section missing: {heading}"
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")][2:]
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]


def test_the_bridge_runs_as_shipped_and_the_baseline_on_gunicorn_defaults(tmp_path: Path) -> None:
    """The cache-hit comparison is only what issue 14 asks if neither side is tuned by the bench."""
    with ProcessGroup() as group:  # nothing is started: only the command lines are built
        bridge = GunicornApp.shipped_bridge(group, tmp_path, name="bridge", env={})
        baseline = GunicornApp(group, tmp_path, name="baseline", app="bench.baseline_app:app",
                               env={}, options=default_options(2))
    options = bridge.args[bridge.args.index("gunicorn") + 1 : -1]
    assert options[:2] == ["--config", str(SHIPPED_CONFIG)]
    assert set(options[2::2]) == {"--bind", "--log-level"}
    baseline_options = baseline.args[baseline.args.index("gunicorn") + 1 : -1]
    assert set(baseline_options[::2]) == {"--workers", "--bind", "--log-level"}


def test_quick_scale_benchmark_prints_its_tables(tmp_path: Path) -> None:
    output = tmp_path / "scale.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    for operation in ("key -> ERID", "ERID -> key", "first sign-in"):
        assert f"| identity map: {operation} |" in done.stdout
    assert "| Redis memory per cached token (43-char token) |" in done.stdout
    assert "| PostgreSQL identity map per 1,000,000 rows (table + indexes) |" in done.stdout
    assert output.read_text() == done.stdout.rstrip("\n") + "\n"


def test_profile_summary_reads_py_spy_collapsed_stacks() -> None:
    """``--profile``'s summary (py-spy itself is not a CI dependency: its raw format is fixed)."""
    raw = "\n".join([
        'process 41:"gunicorn: worker";run (gunicorn/arbiter.py:10);'
        "create_token (sso_bridge/api.py:5);get (redis/commands/core.py:7) 3",
        'process 42:"gunicorn: worker";run (gunicorn/arbiter.py:10);'
        "create_token (sso_bridge/api.py:6) 1",
        "select (selectors.py:468) 4",
        "not a stack line",
    ])
    profile = parse(raw)
    assert profile.samples == 8
    assert profile.by_package == {"redis": 3, "sso_bridge": 1, "selectors": 4}
    assert profile.self_time["create_token (sso_bridge/api.py)"] == 1  # lines of one function
    assert profile.inclusive == {"create_token (sso_bridge/api.py)": 4}
    text = summary(profile, profile)
    assert "| `create_token (sso_bridge/api.py)` | 50.0% | 50.0% |" in text
    assert "| `selectors` | 50.0% | 50.0% |" in text
