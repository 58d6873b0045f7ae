"""`wagerbase serve` and `keys`: the API, and the keys its clients present."""

import argparse

from wagerbase import settings
from wagerbase.server import keys, serve


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """serve and keys."""
    serve_command = commands.add_parser("serve", help="migrate, then serve the API")
    serve_command.add_argument("--host", default="127.0.0.1")
    serve_command.add_argument("--port", type=int, default=8000)
    serve_command.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help="worker processes, each with its own event loop (default: WAGERBASE_WORKERS, else "
        "the number of CPUs)",
    )
    serve_command.set_defaults(run=lambda args: serve(args.host, args.port, args.workers))
    keys_command = commands.add_parser(
        "keys", help="print the anon and service keys (JWTs) for this secret"
    )
    keys_command.set_defaults(run=lambda args: cmd_keys())


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of workers (1 or more)")
    return value


def cmd_keys() -> int:
    for role, key in keys(settings.jwt_secret()).items():
        print(f"{role}: {key}")
    return 0
