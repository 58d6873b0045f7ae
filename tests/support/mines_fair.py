"""Mines as docs/house-games.md and BetService section 4.2 write it, again, in Python and exact
arithmetic, independently of the SQL (rpc/81_house_rounds.sql): the mines from a Fisher-Yates
shuffle of its own over the RNG samples of tests/support/house_fair.py, and the multiplier from
the standard formula with fractions and math.comb."""

import math
from decimal import Decimal
from fractions import Fraction

from tests.support import house_fair as fair

CELLS = 25


def mines(seeds: tuple[str, str], nonce: int, count: int) -> list[int]:
    """The mines of round `nonce`, sorted: for k = 0 .. count - 1, j = k + sample k with limit
    25 - k, and cells k and j swap places; the mines are the first `count` cells."""
    cells = list(range(CELLS))
    for k in range(count):
        j = k + fair.sample(*seeds, nonce, k, CELLS - k)
        cells[k], cells[j] = cells[j], cells[k]
    return sorted(cells[:count])


def multiplier_exact(edge_bps: int, count: int, revealed: int) -> Fraction:
    """(1 - edge) * C(25, n) / C(25 - mines, n)."""
    return Fraction(10000 - edge_bps, 10000) * Fraction(
        math.comb(CELLS, revealed), math.comb(CELLS - count, revealed)
    )


def multiplier(edge_bps: int, count: int, revealed: int) -> Decimal:
    """The multiplier as a round shows it: 4 decimals, halves up."""
    return fair.round4(multiplier_exact(edge_bps, count, revealed))


def win(stake: int, edge_bps: int, count: int, revealed: int) -> int:
    """What a cash-out after `revealed` safe cells pays: the stake times the exact multiplier,
    floored once."""
    return math.floor(stake * multiplier_exact(edge_bps, count, revealed))
