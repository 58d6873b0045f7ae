"""What an idle read of the event stream costs the database (docs/live.md, "The event stream").

A hub that finds nothing new reads again WAGERBASE_EVENT_POLL_MS later, for ever: this measures one
such read. On an embedded PostgreSQL of its own, migrated, with `--events` events already kept (an
hour of them at a few hundred a second is a million), it calls `server.read_events` with an
up-to-date cursor `--reads` times on one connection (after a warm-up) and prints, as JSON, the
wall time per read and the backend process's CPU time per read (from /proc), and what that CPU
makes as a share of one core at the default poll interval.

    .venv/bin/python -m bench.idle_poll [--reads 20000] [--events 300000]
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.sql_files import statements
from wagerbase.live.relay import BATCH, DEFAULT_POLL_SECONDS, READ
from wagerbase.operations.embedded import EmbeddedServer
from wagerbase.operations.migrate import migrate

WARM_UP = 1000
QUERIES = statements("idle_poll.sql")  # fill_events: 10,000 odds messages a transaction


def backend_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a local process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(url: str, reads: int, events: int) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        for start in range(0, events, 10_000):
            conn.execute(QUERIES["fill_events"], {"count": min(10_000, events - start)})
        conn.execute("vacuum analyze app.events")
        row = conn.execute("select pg_backend_pid()").fetchone()
        assert row is not None
        pid = int(row[0])
        cursor: Any = None

        def read() -> None:
            nonlocal cursor
            shown = None if cursor is None else json.dumps(cursor)
            row = conn.execute(READ, {"cursor": shown, "most": BATCH})
            page = row.fetchone()
            assert page is not None and not page[0]["events"]
            cursor = page[0]["cursor"]

        for _ in range(WARM_UP):
            read()
        cpu, wall = backend_cpu_seconds(pid), time.perf_counter()
        for _ in range(reads):
            read()
        cpu, wall = backend_cpu_seconds(pid) - cpu, time.perf_counter() - wall
    return {
        "events_kept": events,
        "reads": reads,
        "wall_us_per_read": round(wall / reads * 1e6, 1),
        "database_cpu_us_per_read": round(cpu / reads * 1e6, 1),
        "poll_ms": DEFAULT_POLL_SECONDS * 1000,
        "database_core_share_per_idle_hub": round(cpu / reads / DEFAULT_POLL_SECONDS, 4),
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=20_000, help="reads to time (20000)")
    parser.add_argument("--events", type=int, default=300_000, help="events kept (300000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wagerbase-idle-poll-") as folder:
        server = EmbeddedServer(Path(folder) / "data")
        url = server.start()
        try:
            migrate(url)
            print(json.dumps(measure(url, args.reads, args.events)))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
