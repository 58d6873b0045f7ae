"""`wagerbase db backup` and `db restore` (docs/backups.md)."""

import argparse
import sys

from wagerbase import settings
from wagerbase.conninfo import redact
from wagerbase.operations.backup import FORMATS, parse_time
from wagerbase.operations.base_backup import take_backup
from wagerbase.operations.cli_db import note_left_running
from wagerbase.operations.restore import restore


def add_actions(db_commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """backup and restore, among the actions of `db`."""
    backup = db_commands.add_parser(
        "backup",
        help="a verified physical base backup of the database server, into a new folder",
    )
    backup.add_argument("dir", help="a new (or empty) folder")
    backup.add_argument("--format", choices=FORMATS, default="tar", help="default: tar (gzip)")
    backup.add_argument("--no-verify", action="store_true", help="skip pg_verifybackup")
    backup.add_argument("--pg-bin", help="the server's major version's bin folder (default: 18's)")
    restore_command = db_commands.add_parser(
        "restore",
        help="restore a backup into a new data folder, replay the WAL archive (to a target), "
        "promote it and leave it running; prints its URL",
    )
    restore_command.add_argument("backup", help="a folder made by `wagerbase db backup`")
    restore_command.add_argument("data_dir", help="a new (or empty) folder")
    target = restore_command.add_mutually_exclusive_group()
    target.add_argument("--target-time", help="ISO 8601 with UTC offset; included")
    target.add_argument("--target-lsn", help="a WAL location such as 0/3000028; included")
    restore_command.add_argument(
        "--archive", help="the WAL archive (default: the backup's, if here)"
    )
    restore_command.add_argument("--no-verify", action="store_true", help="skip pg_verifybackup")
    restore_command.add_argument("--pg-bin", help="the backup's major version's bin folder")
    restore_command.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds for the replay"
    )
    backup.set_defaults(run=cmd_db_backup)
    restore_command.set_defaults(run=cmd_db_restore)


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
    note_left_running()
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
