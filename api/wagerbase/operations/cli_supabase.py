"""`wagerbase supabase [--check]`: the Supabase project in supabase/, from a checkout
(docs/supabase.md)."""

import argparse

from wagerbase.operations import supabase_project


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """supabase."""
    project = commands.add_parser(
        "supabase",
        help="write supabase/, the engine as a Supabase project, from this checkout's SQL",
    )
    project.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if supabase/ is not current"
    )
    project.set_defaults(run=cmd_supabase)


def cmd_supabase(args: argparse.Namespace) -> int:
    if args.check:
        differences = supabase_project.differences()
        for difference in differences:
            print(f"wagerbase: {difference}")
        if differences:
            print("wagerbase: run `wagerbase supabase` and commit supabase/")
            return 1
        print("supabase/ is current")
        return 0
    written = supabase_project.write()
    for name in written:
        print(f"wrote {name}")
    if not written:
        print("supabase/ is current")
    return 0
