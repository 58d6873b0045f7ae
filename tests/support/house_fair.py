"""The house games as docs/house-games.md and BetService section 4 write them, again, in Python and
exact arithmetic, independently of the SQL (rpc/78_house_fairness.sql, rpc/79_house_rules.sql):
the RNG with hmac and hashlib and the seed's own sum of byte fractions (the SQL uses the integer
form), the games from the documented formulas (limbo from the seed's
floor((2^32 / n) * rtp * 100)), and the exact distribution each game draws from, for the tests'
chi-squared and RTP checks."""

import hashlib
import hmac
import math
import uuid
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from tests.support import house_tables as tables

TWO_32 = 2**32

# European roulette's red pockets, written out here rather than read from the SQL.
RED = frozenset({1, 3, 5, 7, 9, 12, 14, 16, 18, 19, 21, 23, 25, 27, 30, 32, 34, 36})
ROULETTE_BETS = (
    *(str(p) for p in range(37)),
    "red",
    "black",
    "odd",
    "even",
    "low",
    "high",
    "dozen1",
    "dozen2",
    "dozen3",
    "column1",
    "column2",
    "column3",
)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def round_hmac(server_seed: str, client_seed: str, nonce: int, round_: int) -> bytes:
    """HMAC-SHA256(key = server_seed, message = client_seed:nonce:round)."""
    message = f"{client_seed}:{nonce}:{round_}".encode()
    return hmac.new(server_seed.encode(), message, hashlib.sha256).digest()


def sample(server_seed: str, client_seed: str, nonce: int, cursor: int, limit: int) -> int:
    """Sample `cursor` of a bet: round cursor // 8, its bytes 4 * (cursor % 8) .. + 3, and
    floor(sum(byte_i / 256^(i+1)) * limit), the seed's formula, in exact fractions."""
    mac = round_hmac(server_seed, client_seed, nonce, cursor // 8)
    chunk = mac[4 * (cursor % 8) : 4 * (cursor % 8) + 4]
    fraction = sum((Fraction(b, 256 ** (i + 1)) for i, b in enumerate(chunk)), Fraction(0))
    return math.floor(fraction * limit)


def bet_id(server_seed_hash: str, client_seed: str, nonce: int) -> str:
    """'bet-' and the uuid of the first 16 bytes of sha256(hash:client_seed:nonce)."""
    digest = hashlib.sha256(f"{server_seed_hash}:{client_seed}:{nonce}".encode()).digest()
    return f"bet-{uuid.UUID(bytes=digest[:16])}"


def round4(value: Fraction) -> Decimal:
    """Rounded to 4 decimals, halves away from zero (PostgreSQL's round on numeric; all > 0)."""
    return Decimal(math.floor(value * 10000 + Fraction(1, 2))).scaleb(-4)


@dataclass(frozen=True)
class Play:
    """What a bet draws and pays: the result as the engine records it, whether it won, the
    multiplier shown, the payout."""

    result: dict[str, Any]
    won: bool
    multiplier: Decimal
    payout: int


def dice_chance(target: int, over: bool) -> int:
    """The win chance in hundredths of a percent: the rolls above target (over) or below it."""
    return 9999 - target if over else target


def dice(
    seeds: tuple[str, str], nonce: int, stake: int, target: int, over: bool, edge_bps: int
) -> Play:
    roll = sample(*seeds, nonce, 0, 10000)
    chance = dice_chance(target, over)
    won = roll > target if over else roll < target
    win = math.floor(Fraction(stake * (10000 - edge_bps), chance))
    return Play({"roll": roll}, won, round4(Fraction(10000 - edge_bps, chance)), win if won else 0)


def limbo_crash(n: int, edge_bps: int) -> int:
    """The seed's floor((2^32 / n) * rtp * DIVISOR), DIVISOR 100, at least 1.00: in hundredths."""
    rtp = Fraction(10000 - edge_bps, 10000)
    return max(100, math.floor(Fraction(TWO_32, n) * rtp * 100))


def limbo(seeds: tuple[str, str], nonce: int, stake: int, target: int, edge_bps: int) -> Play:
    n = sample(*seeds, nonce, 0, TWO_32) + 1
    crash = limbo_crash(n, edge_bps)
    won = crash >= target
    payout = stake * target // 100 if won else 0
    return Play({"crash": crash}, won, Decimal(target).scaleb(-2), payout)


def roulette_color(pocket: int) -> str:
    return "green" if pocket == 0 else "red" if pocket in RED else "black"


def roulette_pockets(bet: str) -> frozenset[int]:
    """The pockets on which a bet wins."""
    wheel = range(1, 37)
    if bet.isdigit():
        return frozenset({int(bet)})
    sets: dict[str, frozenset[int]] = {
        "red": RED,
        "black": frozenset(wheel) - RED,
        "odd": frozenset(p for p in wheel if p % 2 == 1),
        "even": frozenset(p for p in wheel if p % 2 == 0),
        "low": frozenset(range(1, 19)),
        "high": frozenset(range(19, 37)),
    }
    for k in (1, 2, 3):
        sets[f"dozen{k}"] = frozenset(range(12 * k - 11, 12 * k + 1))
        sets[f"column{k}"] = frozenset(range(k, 37, 3))
    return sets[bet]


def roulette_multiplier(bet: str) -> int:
    return {1: 36, 12: 3, 18: 2}[len(roulette_pockets(bet))]


def roulette(seeds: tuple[str, str], nonce: int, stake: int, bet: str) -> Play:
    pocket = sample(*seeds, nonce, 0, 37)
    won = pocket in roulette_pockets(bet)
    multiplier = roulette_multiplier(bet)
    return Play(
        {"pocket": pocket, "color": roulette_color(pocket)},
        won,
        Decimal(multiplier),
        stake * multiplier if won else 0,
    )


def _hundredths(value: Fraction) -> Decimal:
    assert value * 100 == math.floor(value * 100), value
    return Decimal(math.floor(value * 100)).scaleb(-2)


def _by_table(result: dict[str, Any], stake: int, multiplier: Fraction) -> Play:
    """A bet whose draw decides its multiplier: it pays floor(stake * multiplier), and has won when
    that is more than the stake."""
    return Play(result, multiplier > 1, _hundredths(multiplier), math.floor(stake * multiplier))


def plinko(seeds: tuple[str, str], nonce: int, stake: int, rows: int, risk: str) -> Play:
    """Samples 0 .. rows - 1, each rng(2), 1 a step right; the bucket is the count of rights."""
    path = [sample(*seeds, nonce, k, 2) for k in range(rows)]
    bucket = path.count(1)
    return _by_table(
        {"path": path, "bucket": bucket}, stake, tables.plinko_table(rows, risk)[bucket]
    )


def keno_draw(seeds: tuple[str, str], nonce: int) -> list[int]:
    """Fisher-Yates over the tiles 1 .. 40: for i = 0 .. 9, sample i with limit 40 - i picks the
    position i + r among the ones not yet drawn, which changes places with position i."""
    board = list(range(1, tables.KENO_TILES + 1))
    for i in range(tables.KENO_DRAWN):
        j = i + sample(*seeds, nonce, i, tables.KENO_TILES - i)
        board[i], board[j] = board[j], board[i]
    return board[: tables.KENO_DRAWN]


def keno(seeds: tuple[str, str], nonce: int, stake: int, picks: list[int], risk: str) -> Play:
    drawn = keno_draw(seeds, nonce)
    hits = len(set(picks) & set(drawn))
    return _by_table(
        {"drawn": drawn, "hits": hits}, stake, tables.keno_table(len(picks), risk)[hits]
    )


# the exact distributions ------------------------------------------------------------------------


def value_probability(value: int, limit: int) -> Fraction:
    """P(a sample with `limit` is `value`): the share of the 2^32 four-byte words n with
    floor(n * limit / 2^32) = value."""
    first = -(-value * TWO_32 // limit)  # ceil(value * 2^32 / limit)
    after = -(-(value + 1) * TWO_32 // limit)
    return Fraction(after - first, TWO_32)


def limbo_at_least(target: int, edge_bps: int) -> Fraction:
    """P(crash >= target) for a target of 101 or more: the n with 2^32 * (10000 - edge) /
    (100 * n) >= target, i.e. n <= 2^32 * (10000 - edge) / (100 * target)."""
    most = TWO_32 * (10000 - edge_bps) // (100 * target)
    return Fraction(min(most, TWO_32), TWO_32)
