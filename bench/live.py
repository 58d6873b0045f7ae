"""Live updates: fan-out latency from commit to socket, and the messages per second one node pushes.

    scripts/bench-live [options]       (or: .venv/bin/python -m bench.live [options])

Starts an embedded PostgreSQL in a temporary folder (or uses BENCH_DATABASE_URL, a role that may
create databases), makes a fresh migrated database, bettors with funded wallets and markets, and
starts ONE `wagerbase serve` node on 127.0.0.1. Then, in this one process (asyncio, the
`websockets` client):

1. latency, for each socket count (1, 100, 1,000): that many anonymous sockets on the node's /ws;
   --wagers wagers committed one at a time through public.place_wager (as a request does: the
   `authenticated` role and the bettor's claims), each timed right after its COMMIT returns; each
   socket stamps each odds_update as it arrives, matched to its wager by market and version. The
   next wager goes once every socket has the previous one (or --timeout passed), --gap-ms later:
   this measures one update fanning out, not a queue;
2. throughput, with the largest socket count still connected: pgbench places wagers as fast as it
   can across --throughput-markets markets for --throughput-seconds; every odds_update received
   by every socket is counted, and at the end every socket must hold the last version of every
   market (odds of one market may be coalesced by design, never lost).

Both sides stamp with time.perf_counter in this process, so latency is receipt minus commit on
one clock. Writes bench/results/<date>-<label>.json and prints Markdown tables; bench/README.md
explains what the numbers include.

This module is the command: its options and the run. The parts are bench/node.py (the node and
its CPU), live_sockets.py, live_latency.py, live_throughput.py, live_measure.py (the two in
order) and live_report.py (the tables), with the server.py and environment.py bench.run uses.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import resource
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.command import RESULTS, conclude, listed_problems, say
from bench.environment import git_info, machine_info, server_info
from bench.live_measure import measure, prepare
from bench.live_report import markdown
from bench.live_sockets import BenchError
from bench.node import Node, api_changed, node_checkout, node_commit, shown_python
from bench.server import create_database, drop_database, server
from wagerbase.operations.migrate import migrate

NODE_IDLE_SECONDS = 3600  # the anonymous sockets say nothing; keep them past /ws's 60 s timeout
_STARTED = time.monotonic()


# ---- arguments ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.live",
        description="Fan-out latency (commit to socket) and messages per second on one API node.",
    )
    latency = parser.add_argument_group("latency")
    latency.add_argument(
        "--sockets",
        default="1,100,1000",
        help="socket counts to measure latency at, comma-separated, ascending (1,100,1000)",
    )
    latency.add_argument(
        "--wagers", type=int, default=200, help="wagers committed per socket count (200)"
    )
    latency.add_argument(
        "--markets",
        type=int,
        default=20,
        help="markets the latency wagers take turns on, so no two in a row share one (20)",
    )
    latency.add_argument(
        "--gap-ms",
        type=float,
        default=5.0,
        help="pause after every socket has an update, before the next wager (5)",
    )
    latency.add_argument(
        "--timeout",
        type=float,
        default=2.0,
        help="seconds to wait for every socket to get an update before going on (2)",
    )
    tput = parser.add_argument_group("throughput (with the largest socket count connected)")
    tput.add_argument(
        "--throughput-seconds",
        type=int,
        default=10,
        help="seconds of pgbench placing wagers; 0 skips the throughput run (10)",
    )
    tput.add_argument(
        "--throughput-markets", type=int, default=200, help="markets the wagers spread over (200)"
    )
    tput.add_argument(
        "--throughput-clients", type=int, default=4, help="pgbench clients placing wagers (4)"
    )
    tput.add_argument(
        "--throughput-rate",
        type=int,
        default=100,
        help="wagers per second pgbench aims at (-R); 0 for as fast as it can. The default "
        "already offers far more messages than a node can send, and leaves CPU to the node (100)",
    )
    tput.add_argument(
        "--drain-limit",
        type=float,
        default=60.0,
        help="seconds to wait after the run for every socket to hold every market's last "
        "version (60)",
    )
    tput.add_argument("--users", type=int, default=100, help="bettors taking turns (100)")
    client = parser.add_argument_group("sockets")
    client.add_argument(
        "--client",
        choices=["websockets", "raw"],
        default="websockets",
        help="the sockets' client: the `websockets` asyncio client, as a browser-like client "
        "(websockets), or a minimal one that only reads frames, so that the figures are the "
        "node's more than the client's (raw; offers no compression)",
    )
    client.add_argument(
        "--compression",
        choices=["deflate", "none"],
        default="deflate",
        help="permessage-deflate offered by the client, as browsers do (deflate)",
    )
    node = parser.add_argument_group("the node")
    node.add_argument(
        "--workers",
        type=int,
        default=1,
        help="the node's worker processes (`wagerbase serve --workers`); the sockets spread "
        "over them as the kernel hands out connections (1)",
    )
    node.add_argument(
        "--profile",
        type=Path,
        help="run the node under py-spy (`--py-spy`) and write its samples of every worker to "
        "this file (py-spy's raw format: one line per stack and its count); the node's CPU "
        "figures then include the profiler's cost",
    )
    node.add_argument(
        "--py-spy", default="py-spy", help="the py-spy command, for --profile (py-spy on PATH)"
    )
    node.add_argument(
        "--node-python",
        default=sys.executable,
        help="the Python that runs the node, with its `wagerbase` (another checkout's "
        ".venv/bin/python: its API, driven by this client, to compare versions); this one's",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--label", help="result file label (live, or live-nodeflate)")
    out.add_argument("--results-dir", type=Path, default=RESULTS, help="where the JSON goes")
    out.add_argument(
        "--no-save", action="store_true", help="print the table but write no JSON file"
    )
    out.add_argument(
        "--keep",
        action="store_true",
        help="keep the database (and the embedded server running) afterwards, to inspect",
    )
    args = parser.parse_args(argv)
    try:
        args.sockets = [int(part) for part in args.sockets.split(",") if part.strip()]
    except ValueError:
        parser.error("--sockets: give whole numbers, e.g. 1,100,1000")
    if not args.sockets or any(n < 1 for n in args.sockets) or args.sockets != sorted(args.sockets):
        parser.error("--sockets: positive, ascending socket counts")
    numbers = ("wagers", "markets", "throughput_markets", "throughput_clients", "users", "workers")
    for name in numbers:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.throughput_seconds < 0 or args.gap_ms < 0 or args.timeout <= 0:
        parser.error("--throughput-seconds and --gap-ms not negative, --timeout positive")
    if args.label is None:
        args.label = "live" if args.compression == "deflate" else "live-nodeflate"
        if args.client == "raw":
            args.label = "live-raw"
        if args.workers > 1:
            args.label += f"-w{args.workers}"
    return args


# ---- the run ------------------------------------------------------------------------------------


def node_settings(sockets: int, workers: int) -> dict[str, str]:
    """The node's environment: its silent anonymous sockets outlive /ws's idle timeout, and its
    socket limits (per node and per client address, divided among its workers) hold every
    socket of the benchmark, which all come from 127.0.0.1, on any one worker, however unevenly
    the kernel spreads them."""
    room = str(sockets * max(1, workers))
    return {
        "WAGERBASE_WS_IDLE_SECONDS": str(NODE_IDLE_SECONDS),
        "WAGERBASE_MAX_SOCKETS": room,
        "WAGERBASE_CLIENT_SOCKETS": room,
    }


def raise_file_limit(sockets: int) -> dict[str, int]:
    """Room for the sockets (both ends: the node inherits the limit from this process)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = sockets + 512
    if soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
        soft = ceiling
    if soft < wanted:
        raise BenchError(f"the open-file limit is {soft}; {wanted} are needed (ulimit -n)")
    return {"soft": soft, "hard": hard}


def run(args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    started_at = datetime.now(UTC)
    limits = raise_file_limit(max(args.sockets))
    database = f"bench_live_{secrets.token_hex(3)}"
    folder = Path(tempfile.mkdtemp(prefix="wagerbase-bench-live-"))
    node: Node | None = None
    with server(args.keep) as srv:
        try:
            url = create_database(srv, database)
            say(f"database {database}; migrating")
            git = git_info()
            # the node runs the API from this tree: say whether it differs from the commit
            git["api_changed_since_commit"] = api_changed()
            # with the node's own SQL: another checkout's node refuses a database that has
            # migrations it does not know, and must run its own functions
            migrated = migrate(url, root=node_checkout(args.node_python))
            git["layers_checksum"] = migrated.layers_checksum
            say(f"  {migrated.summary()}")
            fixture = prepare(url, args)
            prefix: tuple[str, ...] = ()
            if args.profile is not None:
                prefix = (
                    args.py_spy, "record", "--subprocesses", "--format", "raw", "--rate", "250",
                    "--output", str(args.profile.resolve()), "--",
                )  # fmt: skip
            node = Node(
                url,
                secrets.token_urlsafe(48),
                folder / "serve.log",
                env=node_settings(max(args.sockets), args.workers),
                workers=args.workers,
                prefix=prefix,
                python=args.node_python,
            )
            say(
                f"starting one `wagerbase serve` node on 127.0.0.1:{node.port}, "
                f"{args.workers} worker(s){' under py-spy' if prefix else ''}"
            )
            node.start()
            measured = asyncio.run(measure(srv, url, node, fixture, args))
            info = server_info(url, srv)
        finally:
            if node is not None:
                node.stop()
                if node.process is not None and node.process.returncode not in (0, -15, None):
                    say(f"the node exited with {node.process.returncode}: {node.log_tail()}")
            if args.keep:
                say(f"kept database {database}; the node's log is {folder / 'serve.log'}")
            else:
                drop_database(srv, database)
    if not args.keep:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    problems = [
        f"{item['sockets']} sockets: {item['missing']} missing, {item['duplicates']} duplicated, "
        f"{item['out_of_order']} out of order"
        for item in measured["latency"]
        if item["missing"] or item["duplicates"] or item["out_of_order"]
    ]
    tput = measured["throughput"]
    if tput is not None and tput["sockets_missing_a_final_version"]:
        problems.append(
            f"throughput: {tput['sockets_missing_a_final_version']} sockets lack the final "
            "version of a market"
        )
    if measured["sockets_closed_by_the_node"]:
        problems.append(f"{len(measured['sockets_closed_by_the_node'])} sockets closed by the node")
    machine = machine_info()
    machine["open_file_limit"] = limits
    result: dict[str, Any] = {
        "format": 1,
        "started_at": started_at.isoformat(timespec="seconds"),
        "label": args.label,
        "arguments": sys.argv[1:],
        "ok": not problems,
        "problems": problems,
        "engine": git,
        "machine": machine,
        "server": info,
        "node": {
            "workers": args.workers,
            "command": (
                f"wagerbase serve --workers {args.workers} (uvicorn; each worker a process with "
                "one event loop, default asyncio loop)"
            ),
            "settings": node_settings(max(args.sockets), args.workers),
            "profiled_with": " ".join(node.prefix) if node is not None and node.prefix else None,
            # the node's Python, and so its API (--node-python: another checkout's, at commit)
            "python": shown_python(args.node_python),
            "commit": node_commit(args.node_python),
            "negotiated_extensions": measured["negotiated_extensions"],
        },
        "client": {
            "library": (
                "websockets (asyncio client)"
                if args.client == "websockets"
                else "RawSocket (bench/live_sockets.py: frames read by an asyncio.Protocol)"
            )
            + ", all sockets in this one process",
            "python": platform.python_version(),
            "compression_offered": args.compression,
        },
        "parameters": {
            "sockets": args.sockets,
            "wagers": args.wagers,
            "latency_markets": args.markets,
            "gap_ms": args.gap_ms,
            "timeout_s": args.timeout,
            "throughput_seconds": args.throughput_seconds,
            "throughput_markets": args.throughput_markets,
            "throughput_clients": args.throughput_clients,
            "throughput_rate": args.throughput_rate,
            "users": args.users,
            "stake": 100,
        },
        "latency": measured["latency"],
        "throughput": measured["throughput"],
        "sockets_closed_by_the_node": measured["sockets_closed_by_the_node"],
        "total_s": round(time.monotonic() - _STARTED, 1),
    }
    return result, not problems


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    say(
        f"Wagerbase live-update benchmark: sockets {', '.join(map(str, args.sockets))}, "
        f"{args.wagers} wagers each, throughput {args.throughput_seconds} s"
    )
    return conclude(args, run, markdown, listed_problems)


if __name__ == "__main__":
    sys.exit(main())
