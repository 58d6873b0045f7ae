"""The load generator of bench/over_http.py: client processes that place wagers over HTTP as fast
as the answers come back, and count every answer.

A scenario's clients are keep-alive HTTP/1.1 connections, each sending one request, waiting for
its answer and sending the next (no pipelining), so `clients` connections keep at most `clients`
requests in flight, as pgbench's clients keep one transaction each. The connections are spread
over several processes (spawned fresh for each scenario), each running one asyncio loop. The HTTP
is written by hand (bench/http_connection.py), and so are the requests (bench/wager_requests.py:
a Scenario and the bytes of one wager). Each process measures the CPU it used while it was
measured, so that the report can show the clients are not the bottleneck.

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

from bench.http_connection import HttpConnection, ProtocolError, connect
from bench.report import summary
from bench.wager_requests import Scenario, request_body, request_head

READY_TIMEOUT_S = 120.0  # spawning and connecting, on a busy machine
START_LEAD_S = 0.3  # from "go" to the common start, so every process has the word in time
SAMPLE_CHARS = 300  # of the first answer of each status that is not 2xx, kept for the report

T = TypeVar("T")


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
