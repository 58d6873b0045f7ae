"""`wagerbase users create|promote|demote|sign-out`."""

import argparse
import getpass
import sys

import psycopg

from wagerbase import settings
from wagerbase.operations import users


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """users, with its actions."""
    users_command = commands.add_parser("users", help="manage users")
    user_commands = users_command.add_subparsers(
        dest="users_command", required=True, metavar="ACTION"
    )
    create = user_commands.add_parser(
        "create", help="create a user (the password is read from stdin, or prompted for)"
    )
    create.add_argument("name", help="the username")
    create.add_argument("--email")
    create.add_argument("--admin", action="store_true", help="make the user an admin")
    for action, text in (("promote", "make a user an admin"), ("demote", "withdraw admin")):
        one = user_commands.add_parser(action, help=text)
        one.add_argument("name", help="username, email or user id")
    sign_out = user_commands.add_parser(
        "sign-out", help="end every session of a user: their tokens are refused at once"
    )
    sign_out.add_argument("name", help="username, email or user id")
    sign_out.add_argument("--reason", help="kept in the admin actions log")
    users_command.set_defaults(run=cmd_users)  # which action: args.users_command


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
