"""The benchmark's output: one Markdown table (bridge, baseline, ratio, target, PASS/MISS)."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

PASS, MISS, INFO = "PASS", "MISS", "—"


@dataclass(frozen=True)
class Row:
    measure: str
    bridge: str
    baseline: str
    ratio: str
    target: str
    result: str = INFO


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)  # (heading, Markdown)
    load_at_start: str = field(default_factory=lambda: load_average())

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def section(self, heading: str, markdown: str) -> None:
        self.sections.append((heading, markdown))

    @property
    def misses(self) -> list[Row]:
        return [row for row in self.rows if row.result == MISS]


CACHE_HIT_CONNECTIONS = (4, 32)
CACHE_HIT_MEASURES = (
    "requests/s, slowest round",
    "requests/s, median",
    "p50 ms, median",
    "p99 ms, median",
)

ROW_TITLES = (
    *(
        f"Cache-hit POST /v1/tokens, {connections} conns: {measure}"
        for connections in CACHE_HIT_CONNECTIONS
        for measure in CACHE_HIT_MEASURES
    ),
    "LoginRequest (argon2id): logins/s vs raw verifications/s",
    "Cold stampede: mints per user",
    "Redis down: p50 ms",
    "Redis down: p99 ms",
    "Redis down: max ms",
    "DR hang, cached user: p50 / p99 / max ms",
    "DR hang, cold user: p50 / p99 / max ms",
    "RSS per worker after warm-up: MiB (max)",
)
"""Every row the benchmark prints, in order (the smoke test checks each is present)."""


def fmt(value: float, digits: int = 2) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}f}"


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base > 0 else "n/a"


def verdict(ok: bool) -> str:
    return PASS if ok else MISS


def table(rows: Sequence[Row]) -> str:
    header = ["Measure", "Bridge", "Baseline", "Ratio", "Target", "Result"]
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---"] + ["---:"] * 3 + ["---", "---"]) + " |",
    ]
    for row in rows:
        cells = [row.measure, row.bridge, row.baseline, row.ratio, row.target, row.result]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def nproc() -> str:
    try:
        return subprocess.run(
            ["nproc"], capture_output=True, text=True, check=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return str(os.cpu_count())


def tool_version(args: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(args), capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine(load_at_start: str | None = None) -> list[str]:
    start = f"at the start: {load_at_start}, " if load_at_start is not None else ""
    return [
        f"- load average (1/5/15 min) {start}at the end: {load_average()} (other work on the "
        "machine adds noise; the alternating same-run baselines are there for that)",
        f"- nproc: {nproc()}",
        f"- CPU: {cpu_model()}",
        f"- Python: {platform.python_version()} ({sys.executable})",
        f"- wrk: {tool_version(['wrk', '--version'])}",
        f"- redis-server: {tool_version(['redis-server', '--version'])}",
    ]


def command_line() -> str:
    return shlex.join(["python", "-m", "bench", *sys.argv[1:]])


def render(report: Report, *, title: str, settings: Sequence[str]) -> str:
    parts = [f"# {title}", "", table(report.rows), ""]
    for heading, markdown in report.sections:
        parts += [f"## {heading}", "", markdown, ""]
    parts += [
        "## Settings",
        "",
        *[f"- {line}" for line in settings],
        "",
        "## Machine",
        "",
        *machine(report.load_at_start),
        "",
        "## Command",
        "",
        "```sh",
        command_line(),
        "```",
    ]
    if report.notes:
        parts += ["", "## Notes", "", *[f"- {note}" for note in report.notes]]
    return "\n".join(parts) + "\n"
