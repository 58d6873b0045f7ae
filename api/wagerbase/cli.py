"""The `wagerbase` command.

    wagerbase migrate               apply roles, migrations and code layers
    wagerbase psql [ARGS...]        psql against the database; ARGS go to psql as they are
    wagerbase db start|stop|status|url
                                    the embedded server (unused when DATABASE_URL is set)
    wagerbase serve [--host] [--port], seed-demo, users promote NAME   (not implemented yet)

Without DATABASE_URL, `migrate` and `psql` start the embedded server when it is not running and
leave it running afterwards; `wagerbase db stop` stops it.
"""

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import cast

import psycopg

from wagerbase import settings
from wagerbase.conninfo import libpq_env, redact
from wagerbase.embedded import EmbeddedServer, EmbeddedServerError, ShutdownMode
from wagerbase.migrate import MigrationError, migrate

log = logging.getLogger("wagerbase")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wagerbase",
        description="Wagerbase: a betting engine that lives in PostgreSQL.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("migrate", help="apply roles, migrations and the code layers")
    psql = commands.add_parser(
        "psql", help="run psql against the database (arguments pass through)"
    )
    psql.add_argument("args", nargs=argparse.REMAINDER, help="passed to psql as they are")

    db = commands.add_parser("db", help="the embedded PostgreSQL server")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("start", help="start it (initializing it on first use)")
    stop = db_commands.add_parser("stop", help="stop it")
    stop.add_argument("--mode", choices=["smart", "fast", "immediate"], default="fast")
    db_commands.add_parser("status", help="is it running? (exit 0 yes, 3 no)")
    db_commands.add_parser("url", help="print its connection URL (with the password)")

    # ---- stubs: not implemented yet ---------------------------------------------------------
    serve = commands.add_parser("serve", help="serve the API (not implemented yet)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    commands.add_parser("seed-demo", help="load demo data (not implemented yet)")
    users = commands.add_parser("users", help="manage users (not implemented yet)")
    user_commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    promote = user_commands.add_parser("promote", help="make a user an admin")
    promote.add_argument("name")
    return parser


def _embedded_or_none() -> EmbeddedServer | None:
    """The embedded server, or None (with a note) when DATABASE_URL points elsewhere."""
    if settings.external_database_url():
        print("DATABASE_URL is set: the embedded server is not used", file=sys.stderr)
        return None
    return settings.embedded_server()


def _note_left_running() -> None:
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
    _note_left_running()
    return 0


def cmd_psql(args: Sequence[str]) -> int:
    url = settings.database_url()
    _note_left_running()
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


def cmd_not_implemented(name: str) -> int:
    # STUB: the lead replaces these with the real commands.
    print(f"wagerbase {name}: not implemented yet", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(format="wagerbase: %(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)
    try:
        if argv[:1] == ["psql"]:  # everything after `psql` belongs to psql, options included
            return cmd_psql(argv[1:])
        args = _parser().parse_args(argv)
        if args.command == "migrate":
            return cmd_migrate()
        if args.command == "psql":
            return cmd_psql(args.args)
        if args.command == "db":
            return cmd_db(args.db_command, getattr(args, "mode", "fast"))
        if args.command == "users":
            return cmd_not_implemented(f"users {args.users_command}")
        return cmd_not_implemented(args.command)  # serve, seed-demo
    except (MigrationError, EmbeddedServerError, psycopg.Error) as exc:
        print(f"wagerbase: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
