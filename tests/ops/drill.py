"""What the restore drill (test_restore_drill.py) runs and checks: its phases, the engine's state
compared whole, where each kind of call leaves its row, the journal of committed calls, the
workload of engine calls as real users, the server's clock, the last segment archived, a
`wagerbase db restore`, and the checks of a restored server against the journal and the state
recorded at its target."""

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.db.actors import Actor
from tests.db.invariants import assert_invariants
from tests.db.personas import create_user
from wagerbase.operations.backup import BackupInfo
from wagerbase.operations.cli import main
from wagerbase.operations.embedded import EmbeddedServer

WAIT = 60.0  # seconds to wait for the archiver before giving up

BEFORE_BACKUP = "before the backup"
BEFORE_TIME = "after the backup, before the target time"
BEFORE_LSN = "after the target time, before the target LSN"
AFTER_LSN = "after the target LSN"
PHASES = (BEFORE_BACKUP, BEFORE_TIME, BEFORE_LSN, AFTER_LSN)

# The engine's state, compared whole between the source at a target and the restored server.
STATE = {
    "accounts": "select id, kind, user_id, market_id, balance, version from app.accounts",
    "ledger": "select id, kind, market_id, wager_id from app.ledger_transactions",
    "entries": "select id, transaction_id, account_id, amount from app.ledger_entries",
    "wagers": """select id, user_id, market_id, outcome_id, stake, odds, approval, settlement,
                        payout from app.wagers""",
    "markets": "select id, status, total_pool, version from app.markets",
    "settlements": "select market_id, winning_outcome_id, total_paid from app.settlements",
    "users": "select id from auth.users",
}

# Where each kind of call leaves its row: table and key column.
ROW_OF = {
    "create_user": ("auth.users", "id"),
    "create_market": ("app.markets", "id"),
    "deposit": ("app.ledger_transactions", "id"),
    "withdraw": ("app.ledger_transactions", "id"),
    "place_wager": ("app.wagers", "id"),
    "settle_market": ("app.settlements", "market_id"),
}

FIXED = {"margin": 100_000, "min_cap": 5_000}


@dataclass(frozen=True)
class Committed:
    """One call whose commit was acknowledged, and the row it left."""

    phase: str
    function: str
    row_id: Any


@dataclass
class Drill:
    server: EmbeddedServer
    archive: Path
    backup: Path
    info: BackupInfo
    target_time: str = ""
    target_lsn: str = ""
    journal: list[Committed] = field(default_factory=list)
    states: dict[str, dict[str, list[tuple[Any, ...]]]] = field(default_factory=dict)


def state_of(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            name: conn.execute(f"{query} order by 1").fetchall() for name, query in STATE.items()
        }


class Workload:
    """The engine's functions called as real users, each call committed and journaled."""

    def __init__(self, url: str, journal: list[Committed]) -> None:
        self.url = url
        self.journal = journal
        self.actors: dict[str, Actor] = {}
        self.markets: dict[str, dict[str, Any]] = {}
        self.phase = BEFORE_BACKUP

    def user(self, name: str, *, admin: bool = False) -> None:
        with psycopg.connect(self.url) as conn:
            user_id = create_user(conn, name, admin=admin)
            conn.commit()
        self.journal.append(Committed(self.phase, "create_user", user_id))
        self.actors[name] = Actor(self.url, user_id, admin=admin, name=name)

    def call(self, who: str, function: str, **args: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.actors[who].call(function, **args)
        row_id = {
            "create_market": lambda: result["id"],
            "deposit": lambda: result["transaction_id"],
            "withdraw": lambda: result["transaction_id"],
            "place_wager": lambda: result["wager_id"],
            "settle_market": lambda: args["market_id"],
        }[function]()
        self.journal.append(Committed(self.phase, function, row_id))
        return result

    def market(self, name: str, kind: str, outcomes: list[str], options: dict[str, Any]) -> None:
        self.markets[name] = self.call(
            "admin", "create_market", title=name, outcomes=outcomes, kind=kind, options=options
        )

    def bet(self, who: str, market: str, position: int, stake: int) -> None:
        chosen = self.markets[market]
        outcome = chosen["outcomes"][position]["outcome_id"]
        self.call(who, "place_wager", market_id=chosen["id"], outcome_id=outcome, stake=stake)

    def settle(self, market: str, position: int) -> None:
        chosen = self.markets[market]
        outcome = chosen["outcomes"][position]["outcome_id"]
        self.call("admin", "settle_market", market_id=chosen["id"], outcome_id=outcome)

    def close(self) -> None:
        for actor in self.actors.values():
            actor.close()


def server_now(url: str, what: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"select ({what})::text").fetchone()
    assert row is not None
    return str(row[0])


def archive_the_last_segment(url: str) -> None:
    """Switch to a new WAL segment and wait until the archiver has the one just finished."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("select pg_walfile_name(pg_switch_wal())").fetchone()
        assert row is not None
        deadline = time.monotonic() + WAIT
        while True:
            status = conn.execute(
                "select last_archived_wal, last_failed_wal from pg_stat_archiver"
            ).fetchone()
            assert status is not None
            if status[0] is not None and status[0] >= row[0]:
                return
            assert time.monotonic() < deadline, f"{row[0]} not archived: {status}"
            time.sleep(0.1)


def restore(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """`wagerbase db restore ARGS`; the URL it prints."""
    capsys.readouterr()
    assert main(["db", "restore", *args]) == 0, capsys.readouterr().err
    return capsys.readouterr().out.strip().splitlines()[-1]


def assert_restored(url: str, drill: Drill, phases: tuple[str, ...], state: str) -> None:
    """On the restored server: every call of `phases` is there, no other one is, the state is the
    one recorded at `state`, and the invariants hold."""
    present: dict[str, list[Committed]] = {"there": [], "missing": []}
    with psycopg.connect(url) as conn:
        for done in drill.journal:
            table, key = ROW_OF[done.function]
            row = conn.execute(
                f"select exists (select 1 from {table} where {key} = %s)", [done.row_id]
            ).fetchone()
            assert row is not None
            present["there" if row[0] else "missing"].append(done)
        assert_invariants(conn)
        recovering = conn.execute("select pg_is_in_recovery()").fetchone()
    expected = [done for done in drill.journal if done.phase in phases]
    assert present["there"] == expected
    assert {done.phase for done in present["missing"]}.isdisjoint(phases)
    assert state_of(url) == drill.states[state]
    assert recovering == (False,), "the restored server was promoted"
