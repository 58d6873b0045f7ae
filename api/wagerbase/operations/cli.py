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
    wagerbase supabase [--check]                        write (or check) supabase/, the engine
                                                        as a Supabase project (docs/supabase.md)

Without DATABASE_URL, `migrate` and `psql` start the embedded server when it is not running and
leave it running afterwards; `wagerbase db stop` stops it. Every command connects as
DATABASE_URL's role (the schema's owner), except the API that `serve` runs: it connects as
`authenticator` (authenticator.py).

Each group of commands is a module of its own, its parser and what it runs: cli_db.py (migrate,
psql, db start|stop|status|url|check, seed-demo), cli_backup.py (db backup|restore), cli_serve.py
(serve, keys), cli_users.py, cli_settings.py, cli_supabase.py. This one assembles them and turns
the errors an operator can meet into messages and exit codes.
"""

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

import psycopg

from wagerbase.authenticator import LoginError
from wagerbase.operations import (
    cli_backup,
    cli_db,
    cli_serve,
    cli_settings,
    cli_supabase,
    cli_users,
)
from wagerbase.operations.backup import BackupError, BackupRefused
from wagerbase.operations.embedded import EmbeddedServerError
from wagerbase.operations.migrate import MigrationError

log = logging.getLogger("wagerbase")


def _parser() -> argparse.ArgumentParser:
    """Every command, each group's from its module, in the order `wagerbase --help` lists them."""
    parser = argparse.ArgumentParser(
        prog="wagerbase",
        description="Wagerbase: a betting engine that lives in PostgreSQL.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    db_actions = cli_db.add_commands(commands)  # migrate, psql, db start|stop|status|url
    cli_backup.add_actions(db_actions)  # db backup, db restore
    cli_db.add_check(db_actions)  # db check
    cli_serve.add_commands(commands)  # serve, keys
    cli_db.add_seed_demo(commands)
    cli_users.add_commands(commands)
    cli_settings.add_commands(commands)
    cli_supabase.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(format="wagerbase: %(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)
    try:
        if argv[:1] == ["psql"]:  # everything after `psql` belongs to psql, options included
            return cli_db.cmd_psql(argv[1:])
        args = _parser().parse_args(argv)
        run: Callable[[argparse.Namespace], int] = args.run  # each command sets its own
        return run(args)
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
