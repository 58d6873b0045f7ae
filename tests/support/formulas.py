"""The engine's documented formulas (docs/engine.md, rpc/02_odds.sql), written again in exact
arithmetic, independently of the SQL: the tests' model prices with these, and the tests' cap
replay (tests/db/invariants.py) checks every accepted wager with them."""

import math
from decimal import Decimal
from fractions import Fraction


def round4(value: Fraction) -> Decimal:
    """Rounded to 4 decimals, halves away from zero (PostgreSQL's round on numeric; all > 0)."""
    return Decimal(math.floor(value * 10000 + Fraction(1, 2))).scaleb(-4)


def fixed_odds(pool: int, total: int, outcomes: int, virtual: int, commission_bps: int) -> Decimal:
    """odd_i = 1 + (sum over j != i of (T_j + V)) / (T_i + V) * (1 - c)"""
    others = (total - pool) + (outcomes - 1) * virtual
    return round4(1 + Fraction(others, pool + virtual) * Fraction(10000 - commission_bps, 10000))


def fixed_cap(total: int, margin: int, liability: int, odds: Decimal, min_cap: int) -> int:
    """cap_i = max(min_cap, floor((sum T + M - L_i) / (odd_i - 1))); odds of 1 leave min_cap."""
    if odds == 1:
        return min_cap
    return max(min_cap, math.floor(Fraction(total + margin - liability) / (Fraction(odds) - 1)))


def pari_odds(pool: int, total: int, rake_bps: int) -> Decimal | None:
    """net_pool / pool_i, none while nothing is on the outcome."""
    if pool <= 0:
        return None
    return round4(Fraction(total * (10000 - rake_bps), 10000 * pool))
