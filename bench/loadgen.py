"""The load generator of bench/over_http.py: client processes that place wagers over HTTP as fast
as the answers come back, and count every answer.

A scenario's clients are keep-alive HTTP/1.1 connections, each sending one request, waiting for
its answer and sending the next (no pipelining), so `clients` connections keep at most `clients`
requests in flight, as pgbench's clients keep one transaction each. The connections are spread
over several processes (spawned fresh for each scenario), each running one asyncio loop. The HTTP
is written by hand: `HttpConnection` writes prepared bytes and reads a status line, the headers
and a Content-Length body, a few microseconds of Python per request where a general client such
as httpx spends hundreds. Each process measures the CPU it used while it was measured, so that
the report can show the clients are not the bottleneck.

The processes open their connections, say they are ready, and start together at a moment the
parent names (the wall clock): a warm-up, then the measured window, then no new request, while
the requests in flight are answered (the drain). Every answer is counted by status, warm-up and
drain included, because every 2xx is a wager the database must hold; only the answers received
inside the window count for the rate and the latencies.

Each user belongs to one connection (user n to connection (n - 1) % clients), so no user has two
wagers in flight at once: a node admits only so many money calls per user at a time, and the
benchmark measures the node's throughput, not that cap.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from typing import Any, TypeVar

from bench.report import summary

SURFACES = ("rest", "betmarket")
PATHS = {"rest": "/rest/v1/rpc/place_wager", "betmarket": "/api/bet"}
READY_TIMEOUT_S = 120.0  # spawning and connecting, on a busy machine
START_LEAD_S = 0.3  # from "go" to the common start, so every process has the word in time
SAMPLE_CHARS = 300  # of the first answer of each status that is not 2xx, kept for the report

T = TypeVar("T")


class ProtocolError(Exception):
    """An answer this client cannot read (no Content-Length, a malformed status line)."""


# ---- one connection -----------------------------------------------------------------------------


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: `exchange(request)` writes a whole request and returns
    a future of its answer, (status, body). One request at a time; an answer must have a
    Content-Length (every answer of the API has one)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost = False
        self.closing = False  # the server said `Connection: close`
        self._status = 0
        self._body_at = -1  # where the body starts in the buffer, once the head is read
        self._end = -1  # where the answer ends

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def exchange(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None and self.waiter is None
        waiter = asyncio.get_running_loop().create_future()
        if self.lost or self.closing or self.transport.is_closing():
            waiter.set_exception(ConnectionResetError("the connection was closed"))
            return waiter
        self.waiter = waiter
        self.transport.write(request)
        return waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self._body_at < 0:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            try:
                self._read_head(bytes(self.buffer[:head_end]).lower(), head_end + 4)
            except (ProtocolError, ValueError) as exc:
                self._fail(ProtocolError(f"{exc}: {bytes(self.buffer[:200])!r}"))
                return
        if len(self.buffer) < self._end:
            return
        body = bytes(self.buffer[self._body_at : self._end])
        del self.buffer[: self._end]
        self._body_at = self._end = -1
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self._status, body))

    def _read_head(self, head: bytes, body_at: int) -> None:
        if not head.startswith(b"http/1.1 "):
            raise ProtocolError("not an HTTP/1.1 status line")
        self._status = int(head[9:12])
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            raise ProtocolError("an answer without Content-Length")
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        self.closing = b"\r\nconnection: close" in head
        self._body_at, self._end = body_at, body_at + length

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(ConnectionResetError(f"the server closed the connection ({exc})"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(host: str, port: int) -> HttpConnection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(HttpConnection, host, port)
    return protocol


# ---- what the clients send ----------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """What every client of a scenario does: place `stake` on a random outcome of a random
    market of `markets` (first id, count, first outcome id, outcomes per market; the layout of
    bench/fixtures.MarketRange) through `surface`, for `warmup_s` and then `duration_s`."""

    surface: str
    host: str
    port: int
    anon_key: str
    markets: tuple[int, int, int, int]
    stake: int
    clients: int
    warmup_s: float
    duration_s: float
    seed: int
    run_id: str  # in every idempotency key with the scenario's name: no two scenarios share one
    drain_s: float = 60.0  # after the window, how long the requests in flight may take

    @property
    def name(self) -> str:
        return f"{self.surface}-c{self.clients}-{'hot' if self.markets[1] == 1 else 'spread'}"


def request_head(scenario: Scenario, token: str) -> bytes:
    """A request's head up to its Content-Length value: what supabase-js sends for
    `rpc('place_wager', ...)` (apikey, the bearer token, Content-Profile, X-Client-Info), or
    what BetMarket's client sends for a bet (the bearer token)."""
    host = f"Host: {scenario.host}:{scenario.port}\r\n"
    if scenario.surface == "rest":
        lines = (
            f"POST {PATHS['rest']} HTTP/1.1\r\n{host}"
            f"apikey: {scenario.anon_key}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Profile: public\r\n"
            "X-Client-Info: supabase-js-web/2 (wagerbase bench)\r\nAccept: */*\r\n"
        )
    else:
        lines = (
            f"POST {PATHS['betmarket']} HTTP/1.1\r\n{host}Authorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
        )
    return (lines + "Content-Length: ").encode()


def request_body(scenario: Scenario, rng: random.Random, key: str) -> bytes:
    """One wager: a random market and outcome. /rest gets the engine's minor units and an
    idempotency key (the web app sends one with every wager); /api gets BetMarket's major units
    and no key (its client sends none; the node makes one). Neither names the odds it expects:
    under load the odds move between any quote and the wager, and a refusal would not be a
    placement."""
    first, count, outcome_first, outcomes = scenario.markets
    index = rng.randrange(count)
    position = rng.randrange(outcomes)
    if scenario.surface == "rest":
        outcome = outcome_first + index * outcomes + position
        return (
            f'{{"market_id":{first + index},"outcome_id":{outcome},'
            f'"stake":{scenario.stake},"idempotency_key":"{key}"}}'
        ).encode()
    amount = f"{scenario.stake // 100}.{scenario.stake % 100:02d}"
    return (
        f'{{"game_id":{first + index},"amount":{amount},"choice":"opt{position + 1}"}}'
    ).encode()


# ---- one process --------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one process (or, merged, all of them) saw."""

    connections: int = 0
    sent: int = 0
    answered_in_window: int = 0
    latencies_us: list[int] = field(default_factory=list)  # of the answers inside the window
    statuses: Counter[int] = field(default_factory=Counter)  # every answer
    errors: Counter[str] = field(default_factory=Counter)  # requests with no answer, and why
    samples: dict[int, str] = field(default_factory=dict)  # the first answer of a non-2xx status
    cpu_window_s: float = 0.0  # the process's CPU while measured
    cpu_total_s: float = 0.0  # from its start to its end, start-up and connecting included
    window_s: float = 0.0

    def add(self, other: Tally) -> None:
        self.connections += other.connections
        self.sent += other.sent
        self.answered_in_window += other.answered_in_window
        self.latencies_us += other.latencies_us
        self.statuses.update(other.statuses)
        self.errors.update(other.errors)
        for status, text in other.samples.items():
            self.samples.setdefault(status, text)
        self.cpu_window_s += other.cpu_window_s
        self.cpu_total_s += other.cpu_total_s
        self.window_s = max(self.window_s, other.window_s)


async def _client(
    scenario: Scenario,
    index: int,
    tokens: list[str],
    clock: tuple[float, float, float],
    tally: Tally,
    opened: HttpConnection,
) -> None:
    """One connection's loop: from `start` until `end` (loop time), a request, its answer, the
    next; answers after `measured_from` and before `end` are the window's."""
    start, measured_from, end = clock
    loop = asyncio.get_running_loop()
    rng = random.Random(f"{scenario.seed}-{scenario.name}-{index}")
    heads = [request_head(scenario, token) for token in tokens]
    key = f"bench-{scenario.run_id}-{scenario.name}-{index}"  # and the request's number
    conn: HttpConnection | None = opened
    await asyncio.sleep(max(0.0, start - loop.time()))
    number = 0
    while loop.time() < end:
        if conn is None or conn.lost or conn.closing:  # closed while idle, failed, or told to
            if conn is not None:
                conn.close()
            try:
                conn = await connect(scenario.host, scenario.port)
            except OSError as exc:
                conn = None
                tally.errors[f"connect: {type(exc).__name__}"] += 1
                await asyncio.sleep(0.1)
                continue
        body = request_body(scenario, rng, f"{key}-{number}")
        head = heads[number % len(heads)]
        number += 1
        tally.sent += 1
        sent_at = loop.time()
        try:
            status, answer = await conn.exchange(head + b"%d\r\n\r\n" % len(body) + body)
        except (OSError, ProtocolError) as exc:
            tally.errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
            conn.close()
            conn = None
            continue
        at = loop.time()
        tally.statuses[status] += 1
        if measured_from <= at <= end:
            tally.answered_in_window += 1
            tally.latencies_us.append(int((at - sent_at) * 1e6))
        if not 200 <= status < 300 and status not in tally.samples:
            tally.samples[status] = answer[:SAMPLE_CHARS].decode(errors="replace")
    if conn is not None:
        conn.close()


async def _process(
    scenario: Scenario, connections: list[list[str]], pipe: Pipe, started_cpu: float
) -> Tally:
    loop = asyncio.get_running_loop()
    tally = Tally(connections=len(connections))
    opened = await asyncio.gather(*(connect(scenario.host, scenario.port) for _ in connections))
    pipe.send("ready")
    start_at = await loop.run_in_executor(None, pipe.recv)  # the wall-clock start
    start = loop.time() + (start_at - time.time())
    measured_from = start + scenario.warmup_s
    end = measured_from + scenario.duration_s
    cpu: dict[str, float] = {}

    def note(name: str) -> None:
        cpu[name] = time.process_time()
        cpu[f"{name}_at"] = loop.time()

    loop.call_at(measured_from, note, "from")
    loop.call_at(end, note, "to")
    clients = [
        asyncio.create_task(
            _client(scenario, number, tokens, (start, measured_from, end), tally, conn)
        )
        for (number, tokens), conn in zip(
            ((int(tokens[0]), tokens[1:]) for tokens in connections), opened, strict=True
        )
    ]
    _, late = await asyncio.wait(clients, timeout=max(0.0, end - loop.time()) + scenario.drain_s)
    for task in late:  # its request has had no answer for drain_s after the end
        task.cancel()
        tally.errors[f"no answer {scenario.drain_s:.0f} s after the end"] += 1
    await asyncio.gather(*clients, return_exceptions=True)
    if "to" not in cpu:
        note("to")
    tally.cpu_window_s = cpu["to"] - cpu.get("from", cpu["to"])
    tally.window_s = cpu["to_at"] - cpu.get("from_at", cpu["to_at"])
    tally.cpu_total_s = time.process_time() - started_cpu
    return tally


def process_main(scenario: Scenario, connections: list[list[str]], pipe: Pipe) -> None:
    """A client process: `connections` lists, per connection, its global number (as text)
    then its users' tokens. Sends "ready" once connected, waits for the start time, and sends
    its Tally at the end (or the text of what went wrong)."""
    started_cpu = time.process_time()
    try:
        tally = asyncio.run(_process(scenario, connections, pipe, started_cpu))
    except Exception as exc:  # the parent reports it; the run is then not ok
        pipe.send(f"{type(exc).__name__}: {exc}")
    else:
        pipe.send(tally)
    finally:
        pipe.close()


# ---- the parent ---------------------------------------------------------------------------------


def shares(clients: int, processes: int, tokens: list[str]) -> list[list[list[str]]]:
    """Per process, per connection: its number (as text) and its users' tokens. User n (tokens
    index n - 1) belongs to connection (n - 1) % clients; connection k to process k % processes."""
    parts: list[list[list[str]]] = [[] for _ in range(min(processes, clients))]
    for number in range(clients):
        parts[number % len(parts)].append([str(number), *tokens[number::clients]])
    return parts


def run(
    scenario: Scenario,
    tokens: list[str],
    processes: int,
    watch: Callable[[float, float], T],
) -> tuple[Tally, T, list[str]]:
    """One scenario: `processes` client processes, `scenario.clients` connections in all, over
    the users of `tokens` (at least one per connection). `watch(measured_from, end)` runs here
    meanwhile, given the window's wall-clock times (to take the node's CPU, sample waits...).
    Returns the merged Tally, what `watch` returned, and what went wrong in any process."""
    if len(tokens) < scenario.clients:
        raise ValueError(f"{scenario.clients} clients need at least as many users")
    context = multiprocessing.get_context("spawn")
    pipes: list[Pipe] = []
    children = []
    for connections in shares(scenario.clients, processes, tokens):
        mine, theirs = context.Pipe()
        child = context.Process(
            target=process_main, args=(scenario, connections, theirs), daemon=True
        )
        child.start()
        theirs.close()
        pipes.append(mine)
        children.append(child)
    problems: list[str] = []
    try:
        for pipe in pipes:
            if not pipe.poll(READY_TIMEOUT_S):
                raise RuntimeError(f"a client process was not ready in {READY_TIMEOUT_S:.0f} s")
            word = pipe.recv()
            if word != "ready":
                raise RuntimeError(f"a client process failed to start: {word}")
        start_at = time.time() + START_LEAD_S
        for pipe in pipes:
            pipe.send(start_at)
        measured_from = start_at + scenario.warmup_s
        watched = watch(measured_from, measured_from + scenario.duration_s)
        total = Tally()
        limit = time.time() + scenario.duration_s + scenario.drain_s + 60
        for pipe in pipes:
            if not pipe.poll(max(1.0, limit - time.time())):
                problems.append("a client process sent no result")
                continue
            answer: Any = pipe.recv()
            if isinstance(answer, Tally):
                total.add(answer)
            else:
                problems.append(f"a client process failed: {answer}")
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.terminate()
                child.join()
    return total, watched, problems


def figures(tally: Tally) -> dict[str, Any]:
    """The rate, the latencies (ms) and every answer of a merged Tally, as the report gives them."""
    window = tally.window_s
    answered = tally.answered_in_window
    return {
        "connections": tally.connections,
        "window_s": round(window, 3),
        "answered_in_window": answered,
        "tps": round(answered / window, 1) if window > 0 else None,
        "latency_ms": summary([value / 1000 for value in tally.latencies_us]),
        "requests_sent": tally.sent,
        "answers": sum(tally.statuses.values()),
        "statuses": {str(status): n for status, n in sorted(tally.statuses.items())},
        "errors": dict(tally.errors),
        "non_2xx_samples": {str(status): text for status, text in sorted(tally.samples.items())},
        "client_cpu_s": round(tally.cpu_window_s, 3),
        "client_cpu_pct_of_core": round(100 * tally.cpu_window_s / window, 1) if window else None,
        "client_cpu_us_per_request": (
            round(tally.cpu_window_s * 1e6 / answered, 1) if answered else None
        ),
        "client_cpu_total_s": round(tally.cpu_total_s, 3),
    }
