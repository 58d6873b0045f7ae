"""The `wagerbase` command.

    wagerbase migrate               apply roles, migrations and code layers
    wagerbase psql [ARGS...]        psql against the database; ARGS go to psql as they are
    wagerbase db start|stop|status|url
                                    the embedded server (unused when DATABASE_URL is set)
    wagerbase db backup DIR [--format tar|plain]
                                    a verified base backup of the database server (docs/backups.md)
    wagerbase db restore BACKUP NEW_DIR [--target-time T | --target-lsn L] [--archive DIR]
                                    restore it into a new folder, replay the WAL archive, start it
    wagerbase db check              the engine's invariants on the database (exit 1 if one breaks)
    wagerbase seed-demo             migrate, then load demo users and markets (idempotent)
    wagerbase users create NAME [--email E] [--admin]   (password read from stdin or a prompt)
    wagerbase users promote|demote NAME                 grant or withdraw the admin role
    wagerbase settings show                             every setting a client may read
    wagerbase settings set KEY=VALUE [KEY=VALUE ...]    change money settings (docs/operations.md)
    wagerbase settings profile real-money|play-money    apply a named set of money settings
    wagerbase users sign-out NAME [--reason R]          end every session of a user, at once
    wagerbase serve [--host 127.0.0.1] [--port 8000] [--workers N]
                                                        migrate, then serve the API
    wagerbase keys                                      the anon and service keys

Without DATABASE_URL, `migrate` and `psql` start the embedded server when it is not running and
leave it running afterwards; `wagerbase db stop` stops it. Every command connects as
DATABASE_URL's role (the schema's owner), except the API that `serve` runs: it connects as
`authenticator` (authenticator.py).
"""

import argparse
import getpass
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import cast

import psycopg

from wagerbase import settings
from wagerbase.authenticator import LoginError
from wagerbase.conninfo import libpq_env, redact
from wagerbase.operations import engine_settings, users
from wagerbase.operations.backup import FORMATS, BackupError, BackupRefused, parse_time
from wagerbase.operations.base_backup import take_backup
from wagerbase.operations.demo import seed_demo
from wagerbase.operations.embedded import EmbeddedServer, EmbeddedServerError, ShutdownMode
from wagerbase.operations.invariants import NAMES, violations
from wagerbase.operations.migrate import MigrationError, migrate
from wagerbase.operations.restore import restore
from wagerbase.server import keys, serve

log = logging.getLogger("wagerbase")


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of workers (1 or more)")
    return value


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

    db = commands.add_parser(
        "db", help="the embedded PostgreSQL server; backups, restores and checks of any server"
    )
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("start", help="start it (initializing it on first use)")
    stop = db_commands.add_parser("stop", help="stop it")
    stop.add_argument("--mode", choices=["smart", "fast", "immediate"], default="fast")
    db_commands.add_parser("status", help="is it running? (exit 0 yes, 3 no)")
    db_commands.add_parser("url", help="print its connection URL (with the password)")
    backup = db_commands.add_parser(
        "backup",
        help="a verified physical base backup of the database server, into a new folder",
    )
    backup.add_argument("dir", help="a new (or empty) folder")
    backup.add_argument("--format", choices=FORMATS, default="tar", help="default: tar (gzip)")
    backup.add_argument("--no-verify", action="store_true", help="skip pg_verifybackup")
    backup.add_argument("--pg-bin", help="the server's major version's bin folder (default: 18's)")
    restore = db_commands.add_parser(
        "restore",
        help="restore a backup into a new data folder, replay the WAL archive (to a target), "
        "promote it and leave it running; prints its URL",
    )
    restore.add_argument("backup", help="a folder made by `wagerbase db backup`")
    restore.add_argument("data_dir", help="a new (or empty) folder")
    target = restore.add_mutually_exclusive_group()
    target.add_argument("--target-time", help="ISO 8601 with UTC offset; included")
    target.add_argument("--target-lsn", help="a WAL location such as 0/3000028; included")
    restore.add_argument("--archive", help="the WAL archive (default: the backup's, if here)")
    restore.add_argument("--no-verify", action="store_true", help="skip pg_verifybackup")
    restore.add_argument("--pg-bin", help="the backup's major version's bin folder")
    restore.add_argument("--timeout", type=float, default=3600.0, help="seconds for the replay")
    db_commands.add_parser(
        "check", help="check the engine's invariants on the database (exit 1 if one is broken)"
    )

    serve = commands.add_parser("serve", help="migrate, then serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help="worker processes, each with its own event loop (default: WAGERBASE_WORKERS, else "
        "the number of CPUs)",
    )
    commands.add_parser("keys", help="print the anon and service keys (JWTs) for this secret")

    commands.add_parser("seed-demo", help="migrate, then load demo users and markets")
    users = commands.add_parser("users", help="manage users")
    user_commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    create = user_commands.add_parser(
        "create", help="create a user (the password is read from stdin, or prompted for)"
    )
    create.add_argument("name", help="the username")
    create.add_argument("--email")
    create.add_argument("--admin", action="store_true", help="make the user an admin")
    for action, text in (("promote", "make a user an admin"), ("demote", "withdraw admin")):
        one = user_commands.add_parser(action, help=text)
        one.add_argument("name", help="username, email or user id")
    engine = commands.add_parser(
        "settings", help="the engine's settings: show them, change the money settings"
    )
    engine_commands = engine.add_subparsers(
        dest="settings_command", required=True, metavar="ACTION"
    )
    engine_commands.add_parser("show", help="every setting a client may read")
    assign = engine_commands.add_parser(
        "set",
        help="change money settings: initial_balance, max_deposit, max_withdrawal, "
        "self_service_deposits, withdrawals_require_approval",
    )
    assign.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    profile = engine_commands.add_parser("profile", help="apply a named set of money settings")
    profile.add_argument("name", choices=["real-money", "play-money"])
    sign_out = user_commands.add_parser(
        "sign-out", help="end every session of a user: their tokens are refused at once"
    )
    sign_out.add_argument("name", help="username, email or user id")
    sign_out.add_argument("--reason", help="kept in the admin actions log")
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


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def cmd_db_backup(args: argparse.Namespace) -> int:
    url = settings.database_url()
    embedded = None if settings.external_database_url() else settings.embedded_server()
    print(f"backing up {redact(url)} into {args.dir}", file=sys.stderr)
    info = take_backup(
        url,
        args.dir,
        fmt=args.format,
        bin_path=args.pg_bin,
        secrets_of=embedded,
        verify=not args.no_verify,
    )
    verified = "not verified"
    if info.verify_seconds is not None:
        verified = f"verified in {info.verify_seconds:.1f} s"
    print(
        f"backup of {info.source} (PostgreSQL {info.server_version}) in {args.dir}: "
        f"{info.format}, {_megabytes(info.size_bytes)}, taken in {info.backup_seconds:.1f} s, "
        f"{verified}\n"
        f"WAL {info.start_lsn} to {info.end_lsn} on timeline {info.timeline}; "
        f"restorable to any time from {info.ended_at} on"
    )
    if info.archive_mode == "off":
        print(
            "wagerbase: warning: WAL archiving is off on this server, so this backup restores "
            "only to its own end (no point-in-time recovery): see docs/backups.md",
            file=sys.stderr,
        )
    elif info.archive_directory:
        print(f"WAL archive: {info.archive_directory} (archive_mode {info.archive_mode})")
    else:
        print(
            f"WAL archive: archive_command {info.archive_command!r}; a restore needs --archive DIR"
        )
    _note_left_running()
    return 0


def cmd_db_restore(args: argparse.Namespace) -> int:
    restored = restore(
        args.backup,
        args.data_dir,
        archive=args.archive,
        target_time=parse_time(args.target_time) if args.target_time else None,
        target_lsn=args.target_lsn,
        bin_path=args.pg_bin,
        verify=not args.no_verify,
        timeout=args.timeout,
    )
    for warning in restored.warnings:
        print(f"wagerbase: warning: {warning}", file=sys.stderr)
    for line in restored.recovery:
        print(f"  {line}", file=sys.stderr)
    print(
        f"restored to {restored.target} in {restored.seconds:.1f} s; running on "
        f"127.0.0.1:{restored.port} (data: {restored.data_dir}); "
        f"`WAGERBASE_DATA_DIR={restored.data_dir} wagerbase db stop` stops it",
        file=sys.stderr,
    )
    if not restored.has_password:
        print("wagerbase: the URL needs the source's password for its user", file=sys.stderr)
    print(restored.url)
    return 0


def cmd_db_check() -> int:
    url = settings.database_url()
    with psycopg.connect(url) as conn:
        # one snapshot for every query, so that a live database is checked consistently
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        found = violations(conn)
    _note_left_running()
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
    _note_left_running()
    return 0


def _read_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise SystemExit("wagerbase: the passwords differ")
        return password
    return sys.stdin.readline().rstrip("\n")


def cmd_users(args: argparse.Namespace) -> int:
    with psycopg.connect(settings.database_url()) as conn:
        if args.users_command == "create":
            password = _read_password()
            if len(password) < 8:
                print("wagerbase: a password needs 8 characters or more", file=sys.stderr)
                return 2
            user_id = users.create_user(
                conn, username=args.name, email=args.email, password=password, admin=args.admin
            )
            print(f"created {args.name} ({user_id}){' as admin' if args.admin else ''}")
        elif args.users_command == "sign-out":
            ended = users.sign_out(conn, args.name, args.reason)
            print(f"{args.name} ({ended['user_id']}): {ended['sessions_ended']} sessions ended")
        else:
            result = users.set_admin(conn, args.name, args.users_command == "promote")
            role = result["app_metadata"].get("role", "bettor")
            print(f"{args.name} ({result['user_id']}) is now: {role}; new tokens carry it")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    with psycopg.connect(settings.database_url()) as conn:
        if args.settings_command == "show":
            shown = engine_settings.show(conn)
        elif args.settings_command == "set":
            try:
                changes = engine_settings.parse_assignments(args.assignments)
            except ValueError as exc:
                print(f"wagerbase: {exc}", file=sys.stderr)
                return 2
            shown = engine_settings.update(conn, changes)
        else:
            shown = engine_settings.apply_profile(conn, args.name)
    for key, value in shown.items():
        print(f"{key}={json.dumps(value)}")
    _note_left_running()
    return 0


def cmd_keys() -> int:
    for role, key in keys(settings.jwt_secret()).items():
        print(f"{role}: {key}")
    return 0


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
        if args.command == "db" and args.db_command == "backup":
            return cmd_db_backup(args)
        if args.command == "db" and args.db_command == "restore":
            return cmd_db_restore(args)
        if args.command == "db" and args.db_command == "check":
            return cmd_db_check()
        if args.command == "db":
            return cmd_db(args.db_command, getattr(args, "mode", "fast"))
        if args.command == "users":
            return cmd_users(args)
        if args.command == "settings":
            return cmd_settings(args)
        if args.command == "seed-demo":
            return cmd_seed_demo()
        if args.command == "keys":
            return cmd_keys()
        return serve(args.host, args.port, args.workers)
    except psycopg.Error as exc:
        diag = exc.diag
        text = diag.message_primary or str(exc)
        extra = " ".join(part for part in (diag.message_detail, diag.message_hint) if part)
        print(f"wagerbase: error: {text}{f' {extra}' if extra else ''}", file=sys.stderr)
        return 1
    except BackupRefused as exc:
        print(f"wagerbase: refused: {exc}", file=sys.stderr)
        return 2
    except (MigrationError, EmbeddedServerError, BackupError, LoginError) as exc:
        print(f"wagerbase: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
