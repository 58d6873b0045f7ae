"""What the benchmarks' commands share (bench.run, bench.live, bench.over_http): progress lines
stamped with the time since the start (`say`), the error that stops a run (`BenchError`), the
options of pgbench's load, and how a run ends (`conclude`: its result file, its table, what failed
and its exit status).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import report
from bench.environment import REPO_ROOT
from bench.pgbench import PgbenchError

RESULTS = REPO_ROOT / "bench" / "results"


class BenchError(RuntimeError):
    """The benchmark could not measure what it set out to (refused wagers, failed checks...)."""


# ---- progress -----------------------------------------------------------------------------------

_STARTED = time.monotonic()


def say(message: str) -> None:
    """One progress line, stamped with the time since the benchmark started."""
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", flush=True)


def elapsed() -> float:
    """Seconds since the benchmark started (a result's `total_s`)."""
    return round(time.monotonic() - _STARTED, 1)


# ---- arguments ----------------------------------------------------------------------------------


def add_load_options(group: argparse._ArgumentGroup) -> None:
    """pgbench's load, the same options in every benchmark that runs it: -c, -j, -T, -M, and the
    clients of the batched hot-market run."""
    group.add_argument("-c", "--clients", type=int, default=8, help="pgbench clients (8)")
    group.add_argument("-j", "--threads", type=int, default=2, help="pgbench threads (2)")
    group.add_argument(
        "-T", "--duration", type=int, default=20, help="seconds per pgbench run (20)"
    )
    group.add_argument(
        "-M",
        "--protocol",
        choices=["simple", "extended", "prepared"],
        default="simple",
        help="pgbench query protocol (simple)",
    )
    group.add_argument(
        "--batched-clients",
        type=int,
        default=64,
        help="clients of the batched hot-market run, placements gathered as an API node does;"
        " 0 skips it (64)",
    )
    group.add_argument(
        "--auto-bet-count",
        type=int,
        default=100,
        help="bets per auto_bet call in the house-game runs (play_dice, then auto_bet);"
        " 0 skips both (100)",
    )


# ---- the end of a run ---------------------------------------------------------------------------


def conclude(
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace], tuple[dict[str, Any], bool]],
    markdown: Callable[[dict[str, Any]], str],
    failures: Callable[[dict[str, Any]], list[str]],
) -> int:
    """Run a benchmark (bench.run's, bench.live's or bench.over_http's), write its result file
    unless --no-save, print its table, and on failure what failed (`failures`, to standard
    error). The exit status: 0, or 1 when it could not run or a check failed."""
    try:
        result, ok = run(args)
    except (BenchError, PgbenchError) as exc:
        say(f"FAILED: {exc}")
        return 1
    if not args.no_save:
        path = report.result_path(args.results_dir, result["started_at"][:10], args.label)
        report.write_json(path, result)
        say(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    print()
    print(markdown(result))
    if not ok:
        print("", *failures(result), sep="\n", file=sys.stderr)
        return 1
    return 0


def listed_problems(result: dict[str, Any]) -> list[str]:
    """What went wrong in a run of bench.live or bench.over_http: its `problems`, one a line."""
    return ["PROBLEMS:", *(f"  {problem}" for problem in result["problems"])]
