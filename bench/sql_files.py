"""The benchmarks' fixed SQL, kept in `.sql` files beside the modules that run it, in bench/, and
read once per process from there (the benchmarks run from a checkout, never from a wheel).

The files are written as wagerbase.sql_files says: named statements, each introduced by a line
`-- name: <name>` and followed by comment lines that say what it is for, with psycopg's named
parameters (`%(name)s`).

    QUERIES = statements("fixtures.sql")   # at import: a missing file fails at once
"""

from collections.abc import Mapping
from functools import cache
from pathlib import Path

from wagerbase.sql_files import parse

BENCH = Path(__file__).resolve().parent


@cache
def statements(filename: str) -> Mapping[str, str]:
    """The named statements of bench/`filename`, name -> text."""
    return parse((BENCH / filename).read_text(encoding="utf-8"), f"bench/{filename}")
