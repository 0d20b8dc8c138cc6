"""Sampling profiles of live gunicorn workers under load with py-spy: `python -m bench --profile`.

py-spy attaches to the master and follows its workers (``--subprocesses``) without restarting
anything, so the bridge is profiled exactly as the benchmark ran it. It samples without pausing
the workers (``--nonblocking``): the run it watches is not one of the measured rounds anyway.
Two recorders watch the same run: one keeps only samples of a thread holding the GIL (CPU spent
in Python, what limits throughput on two cores), the other every thread py-spy does not judge
idle (a thread waiting for Redis's answer counts: where a request's time goes).

py-spy is not a project dependency: ``.venv/bin/pip install py-spy`` (it needs ptrace rights
over the workers, which a process started by the same user, or root, has).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.processes import BenchError

INSTALL_HINT = "install it into the venv with: .venv/bin/pip install py-spy"
SAMPLES_PER_SECOND = 200


def require_py_spy() -> str:
    """py-spy next to this interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise BenchError(f"--profile needs py-spy, which is not installed: {INSTALL_HINT}")
    return found


def _start(master_pid: int, output: Path, seconds: float, *, gil: bool) -> subprocess.Popen[bytes]:
    args = [
        require_py_spy(), "record",
        "--pid", str(master_pid),
        "--subprocesses",
        "--nonblocking",
        "--rate", str(SAMPLES_PER_SECOND),
        "--duration", str(max(1, round(seconds))),
        "--format", "raw",
        "--output", str(output),
        *(["--gil"] if gil else []),
    ]
    with output.with_suffix(".log").open("wb") as sink:
        return subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _finish(process: subprocess.Popen[bytes], output: Path, seconds: float) -> None:
    try:
        process.wait(timeout=seconds + 15)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
        process.wait(timeout=10)
    log = output.with_suffix(".log")
    if process.returncode != 0 or not output.exists():
        raise BenchError(f"py-spy failed (exit {process.returncode}):\n"
                         f"{log.read_text(errors='replace')[-2000:]}")
    log.unlink()  # only its progress lines: the stacks are in ``output``


@contextmanager
def recording(master_pid: int, cpu: Path, wall: Path, seconds: float) -> Iterator[None]:
    """Both recorders sample the master's workers for ``seconds`` while the body runs."""
    processes = [(_start(master_pid, cpu, seconds, gil=True), cpu),
                 (_start(master_pid, wall, seconds, gil=False), wall)]
    try:
        yield
        for process, output in processes:
            _finish(process, output, seconds)
    finally:
        for process, _ in processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()


@dataclass(frozen=True)
class Profile:
    samples: int
    by_package: Counter[str]  # samples whose innermost frame is in that package
    self_time: Counter[str]  # innermost frame (function and file)
    inclusive: Counter[str]  # the bridge's own functions anywhere on the stack


def _frames(stack: str) -> list[str]:
    # py-spy's raw (collapsed) format: "frame;frame;...;innermost count", each frame
    # "function (package/file.py:line)"; with --subprocesses the first is "process N:...".
    return [frame for frame in stack.split(";") if not frame.startswith("process ")]


def _function(frame: str) -> str:
    """``name (path:line)`` -> ``name (path)``: samples of one function add up across lines."""
    name, _, location = frame.partition(" (")
    return f"{name} ({location.rpartition(':')[0] or location.rstrip(')')})"


def _package(frame: str) -> str:
    location = frame.partition(" (")[2].rstrip(")").rpartition(":")[0]
    head = location.split("/", 1)[0]
    return head.removesuffix(".py") if head else "?"


def parse(raw: str) -> Profile:
    samples = 0
    by_package: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = _frames(stack)
        if not frames:
            continue
        count = int(count_text)
        samples += count
        by_package[_package(frames[-1])] += count
        self_time[_function(frames[-1])] += count
        for function in {_function(f) for f in frames if _package(f) == "sso_bridge"}:
            inclusive[function] += count
    return Profile(samples, by_package, self_time, inclusive)


def summary(cpu: Profile, wall: Profile, top: int = 12) -> str:
    """Markdown: where the samples were, by package and by function, on CPU and in all."""
    if cpu.samples == 0 or wall.samples == 0:
        return f"py-spy recorded too few samples (on CPU {cpu.samples}, in all {wall.samples})."

    def share(count: int, profile: Profile) -> str:
        return f"{count / profile.samples:.1%}"

    def both(title: str, pick: Callable[[Profile], Counter[str]]) -> list[str]:
        names = [name for name, _ in (pick(cpu) + pick(wall)).most_common(top)]
        rows = [f"| {title} | on CPU (GIL held) | in all (not idle) |", "| --- | ---: | ---: |"]
        rows += [f"| `{name}` | {share(pick(cpu)[name], cpu)} | {share(pick(wall)[name], wall)} |"
                 for name in names]
        return rows

    rows = ["| innermost function, on CPU (self time) | share |", "| --- | ---: |"]
    rows += [f"| `{name}` | {share(count, cpu)} |"
             for name, count in cpu.self_time.most_common(top)]
    return "\n".join([
        f"{cpu.samples:,} samples with the GIL held, {wall.samples:,} of threads not idle, "
        f"at {SAMPLES_PER_SECOND} a second per worker.",
        "",
        *both("innermost frame in package", lambda p: p.by_package),
        "",
        *rows,
        "",
        *both("sso_bridge function on the stack (inclusive)", lambda p: p.inclusive),
    ])
