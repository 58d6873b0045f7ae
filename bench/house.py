"""The house-game runs of bench.run, beside TPC-B in the same round: single play_dice calls by
the pgbench clients over many users (bench/scripts/play_dice.sql), and auto-bets of many dice
bets a call (bench/scripts/auto_bet.sql), both counted in bets per second. A run counts only if
every call pgbench counted left exactly its bets behind (an auto-bet of N bets, N), none refused:
a refusal aborts its pgbench client and fails the benchmark."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.command import BenchError
from bench.environment import REPO_ROOT
from bench.pgbench import PgbenchResult
from bench.server import Server, timed_pgbench
from bench.sql_files import statements

QUERIES = statements("house.sql")
SCRIPTS = REPO_ROOT / "bench" / "scripts"


@dataclass
class HouseRun:
    """One pgbench run of house bets: the run, and the bets each of its calls makes."""

    run: PgbenchResult
    bets_per_call: int

    @property
    def bets_per_s(self) -> float:
        return round(self.run.tps * self.bets_per_call, 1)

    @property
    def server_cpu_ms_per_bet(self) -> float | None:
        per_call = self.run.server_cpu_ms_per_transaction
        return None if per_call is None else round(per_call / self.bets_per_call, 4)

    def as_json(self) -> dict[str, Any]:
        return {
            **self.run.as_json(),
            "bets_per_call": self.bets_per_call,
            "bets_per_s": self.bets_per_s,
            "server_cpu_ms_per_bet": self.server_cpu_ms_per_bet,
        }


def _bets(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(QUERIES["count_house_bets"]).fetchone()
    assert row is not None
    return int(row[0])


def house_run(
    srv: Server, url: str, name: str, bets_per_call: int, args: argparse.Namespace, on_line: Any
) -> HouseRun:
    """One pgbench run of play_dice (bets_per_call 1) or of auto_bet (more)."""
    script = SCRIPTS / ("play_dice.sql" if bets_per_call == 1 else "auto_bet.sql")
    options = ["-n", "-P", "5", "-M", args.protocol, "-f", str(script)]
    for variable in (f"users={args.users}", f"stake={args.stake}", f"bets={bets_per_call}"):
        options += ["-D", variable]
    before = _bets(url)
    result = timed_pgbench(srv, url, name, options, args, on_line)
    made = _bets(url) - before
    if result.failed or made != result.transactions * bets_per_call:
        raise BenchError(
            f"{name}: pgbench counted {result.transactions} calls ({result.failed} failed) of "
            f"{bets_per_call} bets, but {made} bets were made"
        )
    return HouseRun(result, bets_per_call)


def house_json(runs: dict[str, list[HouseRun]], tpcb: list[PgbenchResult]) -> dict[str, Any]:
    """The median run of each (by bets per second), its ratio to the median TPC-B of the same
    rounds, and each round's figures."""
    median_tpcb = sorted(run.tps for run in tpcb)[(len(tpcb) - 1) // 2]
    chosen = {
        key: sorted(items, key=lambda item: item.bets_per_s)[(len(items) - 1) // 2]
        for key, items in runs.items()
    }
    return {
        **{key: item.as_json() for key, item in chosen.items()},
        "ratios": {key: round(item.bets_per_s / median_tpcb, 4) for key, item in chosen.items()},
        "rounds": [
            {f"{key}_bets_per_s": items[index].bets_per_s for key, items in runs.items()}
            for index in range(len(tpcb))
        ],
    }
