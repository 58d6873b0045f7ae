"""The engine's invariants for the tests: `assert_invariants(conn)` after every concurrency and
property-based run (and anywhere money moved).

The checks themselves (each a query returning the rows that break it, and the Python replay of the
fixed-odds caps) live in `wagerbase.invariants`, so that `wagerbase db check` runs exactly the same
ones against any database (after a restore, say); its docstring lists them.
"""

from wagerbase.invariants import CHECKS, cap_violations, violations
from wagerbase.invariants import Connection as _Connection

__all__ = ["CHECKS", "assert_invariants", "cap_violations", "violations"]


def assert_invariants(conn: _Connection) -> None:
    found = violations(conn)
    assert not found, f"invariants broken: {found}"
