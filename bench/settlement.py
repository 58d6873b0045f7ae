"""Settlement, as bench.run measures it: markets loaded with --settle-wagers wagers through the
engine's batched placement, side by side, each settled by the admin (timed from the call to the
end of its commit, optionally with auto_explain's plans of its slow statements), its side-effect
jobs run after it as a node's worker runs them, and its books checked.
"""

from __future__ import annotations

import argparse
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg

from bench import checks, fixtures
from bench.command import BenchError, say
from bench.fixtures import ADMIN_CLAIMS, MarketRange
from bench.in_database import Fixture
from bench.server import checkpoint
from bench.sql_files import statements

QUERIES = statements("settlement.sql")


def load_market(url: str, kind: str, market: MarketRange, args: argparse.Namespace) -> float:
    def progress(done: int, seconds: float) -> None:
        say(f"  {kind}: {done:,}/{args.settle_wagers:,} wagers placed ({done / seconds:,.0f}/s)")

    with psycopg.connect(url, autocommit=False, application_name=f"bench load {kind}") as conn:
        return fixtures.load_wagers(
            conn,
            market,
            wagers=args.settle_wagers,
            users=args.users,
            stake=args.stake,
            chunk=args.load_chunk,
            on_progress=progress,
        )


# auto_explain for --explain-settlement: every statement of the settlement that took this long,
# its plan analyzed for row counts (timing each node would slow the settlement it measures).
# Session commands, one made from EXPLAIN_MIN_MS (which --help quotes), so they stay here.
EXPLAIN_MIN_MS = 50
_EXPLAIN_SETTINGS = (
    "load 'auto_explain'",
    f"set auto_explain.log_min_duration = {EXPLAIN_MIN_MS}",
    "set auto_explain.log_analyze = on",
    "set auto_explain.log_timing = off",
    "set auto_explain.log_nested_statements = on",
    "set client_min_messages = log",  # the plans come to this session, not only to the log
)


def explained(plans: list[str]) -> list[dict[str, Any]]:
    """auto_explain's messages as (ms, rows of the top node, the statement's first line), in the
    order the statements ended; foreign-key checks (one per row, never this slow alone) left out."""
    statements = []
    for plan in plans:
        duration = re.search(r"duration: ([\d.]+) ms", plan)
        text = re.search(r"Query Text: (.*)", plan)
        rows = re.search(r"\(actual rows=([\d.]+)", plan)
        if duration is None or text is None or "FOR KEY SHARE OF x" in text.group(1):
            continue
        statements.append(
            {
                "ms": float(duration.group(1)),
                "rows": float(rows.group(1)) if rows else None,
                "statement": text.group(1).strip()[:120],
            }
        )
    return statements


def settle_one(
    url: str, kind: str, market: MarketRange, load_s: float, explain: bool = False
) -> dict[str, Any]:
    """Settle one loaded market as the admin, timed from the call to the end of its commit (with
    auto_explain's plans of its slow statements when `explain`)."""
    plans: list[str] = []
    with psycopg.connect(url, autocommit=False) as conn:
        placed, accepted = fixtures.count_wagers(conn, market)
        # as autovacuum would have after so many inserts, and so that an autovacuum the loading
        # started does not run beside the timed settlement: the rows are hinted and visible, as a
        # market's wagers are by the time it closes
        conn.commit()
        conn.autocommit = True
        conn.execute("vacuum (analyze) app.wagers")
        conn.autocommit = False
        checkpoint(url)
        if explain:
            conn.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
            for setting in _EXPLAIN_SETTINGS:
                conn.execute(setting)
        fixtures.act_as(conn, ADMIN_CLAIMS)
        winner = market.outcome_first  # the first outcome wins
        started = time.monotonic()
        row = conn.execute(
            QUERIES["settle_market"], {"market_id": market.first, "outcome_id": winner}
        ).fetchone()
        called = time.monotonic()
        conn.commit()
        done = time.monotonic()
    assert row is not None
    settlement: dict[str, Any] = row[0]
    seconds = done - started
    side_effects = side_effects_after(url)
    return {
        "kind": kind,
        "market_id": market.first,
        "wagers": placed,
        "accepted": accepted,
        "load_s": round(load_s, 3),
        "load_wagers_per_s": round(placed / load_s, 1) if load_s else None,
        "settle_s": round(seconds, 4),
        "settle_call_s": round(called - started, 4),
        "commit_s": round(done - called, 4),
        "wagers_per_s": round(placed / seconds, 1),
        "winning_users": settlement.get("winning_users"),
        "side_effects_s": side_effects,
        "settlement": settlement,
        "explained": explained(plans) if explain else None,
    }


def side_effects_after(url: str) -> dict[str, float]:
    """Run the side-effect jobs the settlement wrote, as a node's worker does (one job per
    transaction), timing each handler; they run after the payout, never inside it."""
    timings: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True, application_name="bench side effects") as conn:
        while True:
            started = time.monotonic()
            row = conn.execute(QUERIES["work_side_effect"]).fetchone()
            assert row is not None
            if row[0] is None:
                return timings
            job = row[0]
            if job["status"] != "done":
                raise BenchError(f"side-effect job failed: {job}")
            timings[job["handler"]] = round(time.monotonic() - started, 4)


def settlement(url: str, fixture: Fixture, args: argparse.Namespace) -> list[dict[str, Any]]:
    kinds = list(fixture.settle)
    say(
        f"placing {args.settle_wagers:,} wagers on each of {len(kinds)} market(s) "
        f"({', '.join(kinds)}) through the batched placement, {args.load_chunk} per batch"
    )
    with ThreadPoolExecutor(max_workers=len(kinds)) as pool:
        futures = {
            kind: pool.submit(load_market, url, kind, fixture.settle[kind], args) for kind in kinds
        }
        load_times = {kind: future.result() for kind, future in futures.items()}
    results = []
    for kind in kinds:
        market = fixture.settle[kind]
        say(f"settling the {kind} market {market.first} ({args.settle_wagers:,} wagers)")
        result = settle_one(url, kind, market, load_times[kind], args.explain_settlement)
        if result["wagers"] != args.settle_wagers or result["accepted"] != result["wagers"]:
            raise BenchError(
                f"{kind}: expected {args.settle_wagers} accepted wagers, found "
                f"{result['accepted']} of {result['wagers']}"
            )
        say(
            f"  settled in {result['settle_s']:.2f}s ({result['wagers_per_s']:,.0f} wagers/s), "
            f"{result['winning_users']} winning users; side effects after it: "
            + ", ".join(f"{h} {t:.2f}s" for h, t in result["side_effects_s"].items())
            + "; checking the books"
        )
        with psycopg.connect(url, autocommit=False) as conn:
            result["check_failures"] = checks.settlement_failures(conn, market.first)
        results.append(result)
    return results
