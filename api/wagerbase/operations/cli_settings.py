"""`wagerbase settings show|set|profile`: the engine's settings (docs/operations.md)."""

import argparse
import json
import sys

import psycopg

from wagerbase import settings
from wagerbase.operations import engine_settings
from wagerbase.operations.cli_db import note_left_running


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """settings, with its actions."""
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
    engine.set_defaults(run=cmd_settings)  # which action: args.settings_command


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
    note_left_running()
    return 0
