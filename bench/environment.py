"""What a result file records of where a benchmark ran: the machine (its CPUs, memory, load), the
server (its version and the settings that matter to the figures) and the checkout (its commit,
and whether the SQL differs from it).
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from bench.sql_files import statements

if TYPE_CHECKING:
    from bench.server import Server

REPO_ROOT = Path(__file__).resolve().parents[1]
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
_LOAD_AT_START = os.getloadavg()
QUERIES = statements("environment.sql")


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
        rows = conn.execute(QUERIES["server_settings"], {"names": list(SERVER_SETTINGS)}).fetchall()
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
