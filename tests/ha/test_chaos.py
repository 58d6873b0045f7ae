"""Chaos on a single server: bettors keep betting through two API nodes on one embedded
PostgreSQL while, round after round, an API node is SIGKILLed and started again, and PostgreSQL is
restarted in immediate mode (a crash: recovery from the WAL). No acknowledged operation may be
lost, every unknown outcome is resolved through its idempotency key, and the books balance.

The figures (acknowledged operations, unknown outcomes and their resolutions, the time from each
fault until writes succeed again) are printed and recorded (tests/ha/report.py).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.ha.checks import findings, unacknowledged_rows
from tests.ha.load import Load, prepare, wait_for
from tests.ha.report import record, seconds, server_side
from tests.serving import Node, new_secret
from wagerbase.operations.embedded import EmbeddedServer

pytestmark = pytest.mark.timeout(300)

ROUNDS = 4
BETTORS = 6
MARKETS = 3
SETTLE_S = 1.0  # of load between faults, once writes are back
RECOVERY_LIMIT_S = 60.0  # not a threshold: a run that never recovers must end


@dataclass
class Single:
    server: EmbeddedServer
    nodes: list[Node]


@pytest.fixture
def single(tmp_path: Path) -> Iterator[Single]:
    server = EmbeddedServer(tmp_path / "data")
    url = server.start()
    nodes: list[Node] = []
    try:
        secret = new_secret()
        for number in (1, 2):
            nodes.append(Node(url, secret, tmp_path / f"api{number}.log").start(timeout=120))
        yield Single(server, nodes)
    finally:
        for node in nodes:
            node.stop()
        server.stop("immediate")


def _back(load: Load, since: float, started: float, apis: range) -> dict[str, Any]:
    """Seconds from `started` (the fault) to the first write acknowledged through each API node
    and through any, counting only writes that started after `since` (the fault done)."""
    assert wait_for(
        lambda: all(load.first_write_after(since, n) for n in apis), RECOVERY_LIMIT_S
    ), f"writes did not come back within {RECOVERY_LIMIT_S:.0f}s"
    per_node = {f"api{n + 1}": load.first_write_after(since, n) for n in apis}
    return {
        "any_node": seconds((load.first_write_after(since) or started) - started),
        "per_node": {name: seconds((at or started) - started) for name, at in per_node.items()},
    }


def test_killing_api_nodes_and_crashing_postgres_loses_no_acknowledged_operation(
    single: Single, tmp_path: Path
) -> None:
    server, nodes = single.server, single.nodes
    bettors, markets = prepare(nodes[0].url, server.url, bettors=BETTORS, markets=MARKETS)
    load = Load([node.url for node in nodes], bettors, markets, seed=ROUNDS).start()
    apis = range(len(nodes))
    rounds: list[dict[str, Any]] = []
    try:
        assert wait_for(lambda: all(load.first_write_after(0, n) for n in apis), 60)
        for number in range(ROUNDS):
            victim = number % len(nodes)
            started = time.monotonic()
            nodes[victim].stop(signal.SIGKILL)  # returns once the process is gone
            killed = time.monotonic()
            nodes[victim].start(timeout=120)
            api_kill = {"killed": f"api{victim + 1}", **_back(load, killed, started, apis)}
            time.sleep(SETTLE_S)

            started = time.monotonic()
            server.stop("immediate")  # returns once the postmaster is gone
            down = time.monotonic()
            server.start()
            restarted = time.monotonic() - down
            crash = {"restart_s": seconds(restarted), **_back(load, down, started, apis)}
            time.sleep(SETTLE_S)
            rounds.append({"api_node_sigkill": api_kill, "postgres_immediate_restart": crash})
    finally:
        load.stop()

    with psycopg.connect(server.url, autocommit=True) as conn:
        problems = findings(conn, load.snapshot())
        committed_unacknowledged = unacknowledged_rows(conn, load.snapshot())
    keys = {op.key for op in load.snapshot()}
    figures = {
        "rounds": rounds,
        "load": load.figures(),
        "unknown_outcomes_resolved_by_the_api": server_side([n.log_path for n in nodes], keys),
        "still_unknown_but_committed": committed_unacknowledged,
        "check_findings": {name: len(rows) for name, rows in problems.items()},
    }
    record("chaos_single_server", figures, tmp_path)

    assert not load.failures, load.failures
    assert not problems, problems
    assert not load.figures()["refused"], "no operation of the load should be refused"
    unresolved = [op.key for op in load.unknown() if op.resolution == "still unknown"]
    assert not unresolved, f"outcomes never resolved: {unresolved}"
