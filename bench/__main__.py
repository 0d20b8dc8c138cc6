"""``python -m bench [--quick] [--profile]``: start everything, measure, print the Markdown table.

Starts its own redis-server (free port), the DR simulator, the bridge and a baseline app under
identical gunicorn settings, drives them with wrk, and stops every process it started however
the run ends (Ctrl-C and SIGTERM included). Sends traffic to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from bench import scenarios
from bench.load import require_wrk
from bench.processes import BenchError, ProcessGroup
from bench.report import Report, render
from bench.sampling import require_py_spy

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "latest.md"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 s runs, 1 round, smaller phases (a smoke test, not a measurement)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"where to write the Markdown report (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--profile", action="store_true",
                        help="after the cache-hit rounds, one more run per concurrency with py-spy "
                             "sampling the bridge's workers (raw stacks next to --output)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (logs, databases) for inspection")
    return parser.parse_args(argv)


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(plan: scenarios.Plan, workdir: Path, profile_to: Path | None = None) -> Report:
    report = Report()
    with ProcessGroup() as group:
        env = scenarios.Environment(group, workdir, plan, say)
        env.start()
        healthy = scenarios.cache_hit(env, report)
        after_cache_hit = scenarios.rss_snapshot(env)
        if profile_to is not None:
            scenarios.profile_cache_hit(env, report, profile_to)
        scenarios.login(env, report)
        scenarios.memory(env, report, after_cache_hit)
        scenarios.stampede(env, report)
        reference = healthy[plan.fault_connections]
        scenarios.dr_hang(env, report, reference)
        scenarios.redis_down(env, report, reference)  # last: it kills the bridge's Redis
    report.rows.sort(key=_row_order)
    return report


def _row_order(row: object) -> int:
    from bench.report import ROW_TITLES

    title = getattr(row, "measure", "")
    return ROW_TITLES.index(title) if title in ROW_TITLES else len(ROW_TITLES)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        require_wrk()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if shutil.which("redis-server") is None:
        print("error: redis-server is not installed (apt-get install -y redis-server)",
              file=sys.stderr)
        return 2
    if args.profile:
        try:
            require_py_spy()
        except BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    plan = scenarios.Plan.quick() if args.quick else scenarios.Plan.full()
    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="sso-bridge-bench-"))
    started = time.monotonic()
    keep = args.keep
    try:
        if args.profile:
            args.output.parent.mkdir(parents=True, exist_ok=True)
        report = run(plan, workdir, args.output.parent if args.profile else None)
    except BenchError as exc:
        keep = True
        print(f"error: {exc}", file=sys.stderr)
        print(f"logs kept in {workdir}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; every process started was stopped", file=sys.stderr)
        return 130
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    title = "sso-bridge benchmark" + (" (--quick: smoke run, not a measurement)" if args.quick
                                      else "")
    text = render(report, title=title, settings=plan.describe())
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    say(f"done in {time.monotonic() - started:.0f} s; report written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
