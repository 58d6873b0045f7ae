"""Plinko's and keno's payout tables as docs/house-games.md writes them, again, in Python and
independently of the SQL (app._plinko_multipliers, app._keno_multipliers): Stake's published tables,
plinko's tuned by the documented rule, and each table's exact expected return (the binomial
distribution of a plinko bucket, the hypergeometric distribution of keno's hits)."""

from fractions import Fraction
from math import comb

PLINKO_ROWS = range(8, 17)
PLINKO_RISKS = ("low", "medium", "high")
KENO_RISKS = ("classic", "low", "medium", "high")
KENO_TILES = 40
KENO_DRAWN = 10
PLINKO_RTP = Fraction(99, 100)

# Stake's plinko tables as published: buckets 0 .. rows // 2 (the rest mirror them).
_PLINKO_HALVES: dict[int, dict[str, tuple[str, ...]]] = {
    8: {
        "low": ("5.6", "2.1", "1.1", "1", "0.5"),
        "medium": ("13", "3", "1.3", "0.7", "0.4"),
        "high": ("29", "4", "1.5", "0.3", "0.2"),
    },
    9: {
        "low": ("5.6", "2", "1.6", "1", "0.7"),
        "medium": ("18", "4", "1.7", "0.9", "0.5"),
        "high": ("43", "7", "2", "0.6", "0.2"),
    },
    10: {
        "low": ("8.9", "3", "1.4", "1.1", "1", "0.5"),
        "medium": ("22", "5", "2", "1.4", "0.6", "0.4"),
        "high": ("76", "10", "3", "0.9", "0.3", "0.2"),
    },
    11: {
        "low": ("8.4", "3", "1.9", "1.3", "1", "0.7"),
        "medium": ("24", "6", "3", "1.8", "0.7", "0.5"),
        "high": ("120", "14", "5.2", "1.4", "0.4", "0.2"),
    },
    12: {
        "low": ("10", "3", "1.6", "1.4", "1.1", "1", "0.5"),
        "medium": ("33", "11", "4", "2", "1.1", "0.6", "0.3"),
        "high": ("170", "24", "8.1", "2", "0.7", "0.2", "0.2"),
    },
    13: {
        "low": ("8.1", "4", "3", "1.9", "1.2", "0.9", "0.7"),
        "medium": ("43", "13", "6", "3", "1.3", "0.7", "0.4"),
        "high": ("260", "37", "11", "4", "1", "0.2", "0.2"),
    },
    14: {
        "low": ("7.1", "4", "1.9", "1.4", "1.3", "1.1", "1", "0.5"),
        "medium": ("58", "15", "7", "4", "1.9", "1", "0.5", "0.2"),
        "high": ("420", "56", "18", "5", "1.9", "0.3", "0.2", "0.2"),
    },
    15: {
        "low": ("15", "8", "3", "2", "1.5", "1.1", "1", "0.7"),
        "medium": ("88", "18", "11", "5", "3", "1.3", "0.5", "0.3"),
        "high": ("620", "83", "27", "8", "3", "0.5", "0.2", "0.2"),
    },
    16: {
        "low": ("16", "9", "2", "1.4", "1.4", "1.2", "1.1", "1", "0.5"),
        "medium": ("110", "41", "10", "5", "3", "1.5", "1", "0.5", "0.3"),
        "high": ("1000", "130", "26", "9", "4", "2", "0.2", "0.2", "0.2"),
    },
}

# Stake's keno tables as published: for 1 .. 10 picks, what 0 .. picks hits pay.
_KENO: dict[str, tuple[tuple[str, ...], ...]] = {
    "classic": (
        ("0", "3.96"),
        ("0", "1.9", "4.5"),
        ("0", "1", "3.1", "10.4"),
        ("0", "0.8", "1.8", "5", "22.5"),
        ("0", "0.25", "1.4", "4.1", "16.5", "36"),
        ("0", "0", "1", "3.68", "7", "16.5", "40"),
        ("0", "0", "0.47", "3", "4.5", "14", "31", "60"),
        ("0", "0", "0", "2.2", "4", "13", "22", "55", "70"),
        ("0", "0", "0", "1.55", "3", "8", "15", "44", "60", "85"),
        ("0", "0", "0", "1.4", "2.25", "4.5", "8", "17", "50", "80", "100"),
    ),
    "low": (
        ("0.7", "1.85"),
        ("0", "2", "3.8"),
        ("0", "1.1", "1.38", "26"),
        ("0", "0", "2.2", "7.9", "90"),
        ("0", "0", "1.5", "4.2", "13", "300"),
        ("0", "0", "1.1", "2", "6.2", "100", "700"),
        ("0", "0", "1.1", "1.6", "3.5", "15", "225", "700"),
        ("0", "0", "1.1", "1.5", "2", "5.5", "39", "100", "800"),
        ("0", "0", "1.1", "1.3", "1.7", "2.5", "7.5", "50", "250", "1000"),
        ("0", "0", "1.1", "1.2", "1.3", "1.8", "3.5", "13", "50", "250", "1000"),
    ),
    "medium": (
        ("0.4", "2.75"),
        ("0", "1.8", "5.1"),
        ("0", "0", "2.8", "50"),
        ("0", "0", "1.7", "10", "100"),
        ("0", "0", "1.4", "4", "14", "390"),
        ("0", "0", "0", "3", "9", "180", "710"),
        ("0", "0", "0", "2", "7", "30", "400", "800"),
        ("0", "0", "0", "2", "4", "11", "67", "400", "900"),
        ("0", "0", "0", "2", "2.5", "5", "15", "100", "500", "1000"),
        ("0", "0", "0", "1.6", "2", "4", "7", "26", "100", "500", "1000"),
    ),
    "high": (
        ("0", "3.96"),
        ("0", "0", "17.1"),
        ("0", "0", "0", "81.5"),
        ("0", "0", "0", "10", "259"),
        ("0", "0", "0", "4.5", "48", "450"),
        ("0", "0", "0", "0", "11", "350", "710"),
        ("0", "0", "0", "0", "7", "90", "400", "800"),
        ("0", "0", "0", "0", "5", "20", "270", "600", "900"),
        ("0", "0", "0", "0", "4", "11", "56", "500", "800", "1000"),
        ("0", "0", "0", "0", "3.5", "8", "13", "63", "500", "800", "1000"),
    ),
}


def plinko_probability(rows: int, bucket: int) -> Fraction:
    """P(a ball through `rows` fair left-or-right rows lands in `bucket`): C(rows, k) / 2^rows."""
    return Fraction(comb(rows, bucket), 2**rows)


def plinko_published(rows: int, risk: str) -> list[Fraction]:
    """Stake's table as published, every bucket 0 .. rows."""
    half = [Fraction(m) for m in _PLINKO_HALVES[rows][risk]]
    return half + half[::-1][(rows + 1) % 2 :]


def plinko_table(rows: int, risk: str) -> list[Fraction]:
    """The engine's table: the published one with its two outermost buckets moved by the same
    amount, the one that makes the expected return exactly 99%."""
    table = plinko_published(rows, risk)
    short = PLINKO_RTP - sum(plinko_probability(rows, k) * m for k, m in enumerate(table))
    table[0] += short / (2 * plinko_probability(rows, 0))
    table[-1] = table[0]
    return table


def plinko_rtp(rows: int, risk: str, table: list[Fraction] | None = None) -> Fraction:
    """The exact expected return per unit staked: sum of P(bucket k) * multiplier_k."""
    table = plinko_table(rows, risk) if table is None else table
    return sum((plinko_probability(rows, k) * m for k, m in enumerate(table)), Fraction())


def keno_probability(picks: int, hits: int) -> Fraction:
    """P(`hits` of `picks` tiles among the 10 of 40 drawn): hypergeometric."""
    return Fraction(
        comb(picks, hits) * comb(KENO_TILES - picks, KENO_DRAWN - hits),
        comb(KENO_TILES, KENO_DRAWN),
    )


def keno_table(picks: int, risk: str) -> list[Fraction]:
    return [Fraction(m) for m in _KENO[risk][picks - 1]]


def keno_rtp(picks: int, risk: str, table: list[Fraction] | None = None) -> Fraction:
    table = keno_table(picks, risk) if table is None else table
    return sum((keno_probability(picks, h) * m for h, m in enumerate(table)), Fraction())
