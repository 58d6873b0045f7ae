"""`wagerbase migrate`, `psql`, `db start|stop|status|url|check` and `seed-demo`: the database and
the embedded server (`db backup` and `db restore` are cli_backup.py's)."""

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import cast

import psycopg

from wagerbase import settings
from wagerbase.conninfo import libpq_env, redact
from wagerbase.operations.demo import seed_demo
from wagerbase.operations.embedded import EmbeddedServer, ShutdownMode
from wagerbase.operations.invariants import NAMES, violations
from wagerbase.operations.migrate import migrate

log = logging.getLogger("wagerbase")  # as the command's: main sets its level and format


def add_commands(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
) -> "argparse._SubParsersAction[argparse.ArgumentParser]":
    """migrate, psql, and db with its actions start, stop, status and url; returns db's actions,
    for the others (cli_backup.add_actions, add_check)."""
    migrate_command = commands.add_parser(
        "migrate", help="apply roles, migrations and the code layers"
    )
    migrate_command.set_defaults(run=lambda args: cmd_migrate())
    psql = commands.add_parser(
        "psql", help="run psql against the database (arguments pass through)"
    )
    psql.add_argument("args", nargs=argparse.REMAINDER, help="passed to psql as they are")
    psql.set_defaults(run=lambda args: cmd_psql(args.args))

    db = commands.add_parser(
        "db", help="the embedded PostgreSQL server; backups, restores and checks of any server"
    )
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    start = db_commands.add_parser("start", help="start it (initializing it on first use)")
    stop = db_commands.add_parser("stop", help="stop it")
    stop.add_argument("--mode", choices=["smart", "fast", "immediate"], default="fast")
    status = db_commands.add_parser("status", help="is it running? (exit 0 yes, 3 no)")
    url = db_commands.add_parser("url", help="print its connection URL (with the password)")
    for action in (start, stop, status, url):
        action.set_defaults(run=lambda args: cmd_db(args.db_command, getattr(args, "mode", "fast")))
    return db_commands


def add_check(db_commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    check = db_commands.add_parser(
        "check", help="check the engine's invariants on the database (exit 1 if one is broken)"
    )
    check.set_defaults(run=lambda args: cmd_db_check())


def add_seed_demo(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    seed = commands.add_parser("seed-demo", help="migrate, then load demo users and markets")
    seed.set_defaults(run=lambda args: cmd_seed_demo())


def _embedded_or_none() -> EmbeddedServer | None:
    """The embedded server, or None (with a note) when DATABASE_URL points elsewhere."""
    if settings.external_database_url():
        print("DATABASE_URL is set: the embedded server is not used", file=sys.stderr)
        return None
    return settings.embedded_server()


def note_left_running() -> None:
    if settings.external_database_url() is None and settings.embedded_server().started_here:
        print(
            "wagerbase: the embedded server keeps running; `wagerbase db stop` stops it",
            file=sys.stderr,
        )


def cmd_migrate() -> int:
    url = settings.database_url()
    log.info("migrating %s", redact(url))
    result = migrate(url)
    print(result.summary())
    note_left_running()
    return 0


def cmd_psql(args: Sequence[str]) -> int:
    url = settings.database_url()
    note_left_running()
    psql = settings.embedded_server().bin_path / "psql"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update({"PGAPPNAME": "wagerbase psql", **libpq_env(url)})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(psql, [str(psql), *args], env)


def cmd_db(action: str, mode: str) -> int:
    server = _embedded_or_none()
    if server is None:
        return 2
    if action == "start":
        url = server.start()
        verb = "started" if server.started_here else "already running"
        print(f"embedded PostgreSQL {verb}: {redact(url)} (data: {server.data_dir})")
        return 0
    if action == "stop":
        stopped = server.stop(cast(ShutdownMode, mode))
        print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
        return 0
    if action == "url":
        print(server.url)
        return 0
    status = server.status()
    if not status.initialized:
        print(f"embedded PostgreSQL: not initialized (data: {server.data_dir})")
        return 3
    if status.running:
        print(
            f"embedded PostgreSQL: running, pid {status.pid}, 127.0.0.1:{status.port} "
            f"(data: {server.data_dir})"
        )
        return 0
    print(f"embedded PostgreSQL: stopped (data: {server.data_dir})")
    return 3


def cmd_db_check() -> int:
    url = settings.database_url()
    with psycopg.connect(url) as conn:
        # one snapshot for every query, so that a live database is checked consistently
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        found = violations(conn)
    note_left_running()
    if not found:
        print(f"all {len(NAMES)} invariants hold on {redact(url)}")
        return 0
    for name, rows in found.items():
        print(f"BROKEN: {name}: {len(rows)} row(s)")
        for row in rows[:5]:
            print(f"  {row}")
    print(f"{len(found)} of {len(NAMES)} invariants broken on {redact(url)}")
    return 1


def cmd_seed_demo() -> int:
    url = settings.database_url()
    print(migrate(url).summary())
    for line in seed_demo(url):
        print(line)
    note_left_running()
    return 0
