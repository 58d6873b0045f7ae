"""The house games' RNG and draws against the Python model (tests/support/house_fair.py), and each
game's distribution against the formulas and RTP it states, on fixed seeds: deterministic, so the
chi-squared statistics below are the same on every run and cannot flake.

The draws run in one statement per game as the superuser, through the functions the plays call
(app._house_random, app._house_draw, app._house_terms)."""

import hashlib
import hmac
import math
from collections import Counter
from decimal import Decimal
from fractions import Fraction
from typing import Any

from tests.db import house_play
from tests.db.house_play import CRITICAL_001, chi_squared
from tests.db.personas import Persona
from tests.pgserver import Connection
from tests.support import house_fair as fair

SERVER_SEED = fair.sha256_hex("wagerbase house games: the test's fixed server seed")
CLIENT_SEED = "chi-squared, deterministic"
SEEDS = (SERVER_SEED, CLIENT_SEED)
DRAWS = 5000  # per game
EDGE = 100


def draws(conn: Connection, game: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """app._house_draw of `game` with `params` for nonces 0 .. DRAWS - 1 of the fixed pair."""
    return house_play.draws(conn, SEEDS, game, params, DRAWS, EDGE)


# the RNG ----------------------------------------------------------------------------------------


def test_the_round_hmac_is_hmac_sha256_of_client_seed_nonce_and_round(conn: Connection) -> None:
    rows = conn.execute(
        """select n, r, encode(app._house_hmac(%s, %s, n, r), 'hex')
           from generate_series(0, 9) as n cross join generate_series(0, 3) as r""",
        [SERVER_SEED, CLIENT_SEED],
    ).fetchall()
    for nonce, round_, mac in rows:
        message = f"{CLIENT_SEED}:{nonce}:{round_}".encode()
        assert mac == hmac.new(SERVER_SEED.encode(), message, hashlib.sha256).hexdigest()
    assert len(rows) == 40


def test_every_sample_is_the_seed_s_sum_of_byte_fractions_times_the_limit(
    conn: Connection,
) -> None:
    """4,900 samples: 50 nonces, cursors across three rounds (a new HMAC every 8 samples), and
    limits from 1 to 2^32, compared with floor(sum(byte_i / 256^(i+1)) * limit) in fractions."""
    cursors = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 23, 31]
    limits = [1, 2, 37, 52, 10000, 2**21, 2**32]
    rows = conn.execute(
        """select n, c, l, app._house_random(%s, %s, n, c, l)
           from generate_series(0, 49) as n
           cross join unnest(%s::integer[]) as c
           cross join unnest(%s::bigint[]) as l""",
        [SERVER_SEED, CLIENT_SEED, cursors, limits],
    ).fetchall()
    assert len(rows) == 50 * len(cursors) * len(limits)
    for nonce, cursor, limit, value in rows:
        assert value == fair.sample(SERVER_SEED, CLIENT_SEED, nonce, cursor, limit), (
            nonce,
            cursor,
            limit,
        )
        assert 0 <= value < limit


def test_a_limit_or_cursor_out_of_range_draws_nothing(conn: Connection) -> None:
    row = conn.execute(
        """select app._house_random('s', 'c', 0, 0, 0),
                  app._house_random('s', 'c', 0, 0, 4294967297),
                  app._house_random('s', 'c', 0, -1, 10)"""
    ).fetchone()
    assert row == (None, None, None)


def test_a_bet_id_is_the_uuid_of_its_round(conn: Connection) -> None:
    rows = conn.execute(
        "select n, app._house_bet_id(%s, %s, n) from generate_series(0, 99) as n",
        [fair.sha256_hex(SERVER_SEED), CLIENT_SEED],
    ).fetchall()
    for nonce, bet_id in rows:
        assert bet_id == fair.bet_id(fair.sha256_hex(SERVER_SEED), CLIENT_SEED, nonce)
    assert len({bet_id for _, bet_id in rows}) == 100


# the games' terms: every dice target, a range of limbo targets, every roulette bet ---------------


def test_dice_terms_for_every_target_both_ways_are_the_formula_s(conn: Connection) -> None:
    stake = 12345
    rows = conn.execute(
        """select t, o, app._house_terms('dice', jsonb_build_object('target', t, 'over', o), %s, %s)
           from generate_series(0, 9999) as t cross join (values (true), (false)) as s (o)
           where (o and t <= 9998) or (not o and t >= 1)""",
        [EDGE, stake],
    ).fetchall()
    assert len(rows) == 2 * 9999
    for target, over, terms in rows:
        chance = fair.dice_chance(target, over)
        assert terms["chance"] == chance
        assert Decimal(str(terms["multiplier"])) == fair.round4(Fraction(10000 - EDGE, chance))
        assert terms["win_payout"] == stake * (10000 - EDGE) // chance


def test_limbo_and_roulette_terms_are_the_formula_s(conn: Connection) -> None:
    stake = 777
    top = fair.TWO_32 * (10000 - EDGE) // 100
    targets = [101, 102, 150, 199, 200, 1000, 12345, 10**6, top - 1, top]
    rows = conn.execute(
        """select t, app._house_terms('limbo', jsonb_build_object('target', t), %s, %s)
           from unnest(%s::bigint[]) as t""",
        [EDGE, stake, targets],
    ).fetchall()
    for target, terms in rows:
        assert Decimal(str(terms["multiplier"])) == Decimal(target).scaleb(-2)
        assert terms["win_payout"] == stake * target // 100
    assert conn.execute("select app._limbo_top(%s)", [EDGE]).fetchone() == (top,)
    rows = conn.execute(
        """select b, app._house_terms('roulette', jsonb_build_object('bet', b), null, %s)
           from unnest(%s::text[]) as b""",
        [stake, list(fair.ROULETTE_BETS)],
    ).fetchall()
    assert len(rows) == 49
    for bet, terms in rows:
        assert terms["multiplier"] == fair.roulette_multiplier(bet)
        assert terms["win_payout"] == stake * fair.roulette_multiplier(bet)


# the draws against the model, and their distribution -------------------------------------------


def test_dice_draws_are_the_model_s_and_uniform_and_win_at_the_stated_chance(
    conn: Connection,
) -> None:
    drawn = draws(conn, "dice", {"target": 5000, "over": True})
    for nonce, draw in enumerate(drawn):
        expected = fair.dice(SEEDS, nonce, 100, 5000, True, EDGE)
        assert (draw["result"], draw["won"]) == (expected.result, expected.won), nonce

    # the rolls in 50 buckets of 200, against the exact share of the 2^32 words each bucket gets
    rolls = Counter(d["result"]["roll"] // 200 for d in drawn)
    buckets = {
        b: sum(
            (fair.value_probability(r, 10000) for r in range(200 * b, 200 * b + 200)), Fraction()
        )
        for b in range(50)
    }
    assert chi_squared(rolls, buckets, DRAWS) < CRITICAL_001[49]

    # wins against the chance the RTP states: 0.99 / multiplier = chance / 10000 (4999)
    p = sum((fair.value_probability(r, 10000) for r in range(5001, 10000)), Fraction())
    wins = Counter(d["won"] for d in drawn)
    assert chi_squared(wins, {True: p, False: 1 - p}, DRAWS) < CRITICAL_001[1]
    # and that chance, paid at the multiplier, is the stated RTP (to the floor of a minor unit)
    stake = 10**6
    rtp = p * (stake * (10000 - EDGE) // 4999) / stake
    assert abs(rtp - Fraction(99, 100)) < Fraction(1, 10**5)


def test_limbo_draws_are_the_model_s_and_crash_as_the_formula_says(conn: Connection) -> None:
    drawn = draws(conn, "limbo", {"target": 200})
    for nonce, draw in enumerate(drawn):
        expected = fair.limbo(SEEDS, nonce, 100, 200, EDGE)
        assert (draw["result"], draw["won"]) == (expected.result, expected.won), nonce

    # the crash points in buckets between thresholds, P(crash >= t) from the formula
    edges = [101, 120, 150, 200, 300, 500, 1000, 2000]
    at_least = [Fraction(1)] + [fair.limbo_at_least(t, EDGE) for t in edges] + [Fraction(0)]
    buckets = {i: at_least[i] - at_least[i + 1] for i in range(len(edges) + 1)}

    def bucket(crash: int) -> int:
        return sum(crash >= t for t in edges)

    crashes = Counter(bucket(d["result"]["crash"]) for d in drawn)
    assert chi_squared(crashes, buckets, DRAWS) < CRITICAL_001[8]

    # wins at 2.00x against the stated RTP: P(win) = 0.99 / 2, to one part in 2^32
    p = fair.limbo_at_least(200, EDGE)
    assert abs(p - Fraction(99, 200)) < Fraction(1, 2**32)
    wins = Counter(d["won"] for d in drawn)
    assert chi_squared(wins, {True: p, False: 1 - p}, DRAWS) < CRITICAL_001[1]
    # the RTP is the edge's at every target, not only at 2.00x: below it by less than the
    # rounding of one word of 2^32, worth target / 100 each
    for target in (101, 200, 1000, 10**6, 10**9):
        rtp = fair.limbo_at_least(target, EDGE) * Fraction(target, 100)
        assert 0 <= Fraction(99, 100) - rtp < Fraction(target, 100 * fair.TWO_32), target


def test_every_roulette_bet_wins_on_exactly_its_pockets(conn: Connection) -> None:
    rows = conn.execute(
        """select b, p, app._roulette_wins(b, p), app._roulette_color(p)
           from unnest(%s::text[]) as b cross join generate_series(0, 36) as p""",
        [list(fair.ROULETTE_BETS)],
    ).fetchall()
    assert len(rows) == 49 * 37
    for bet, pocket, wins, color in rows:
        assert wins == (pocket in fair.roulette_pockets(bet)), (bet, pocket)
        assert color == fair.roulette_color(pocket)


def test_roulette_draws_are_the_model_s_and_every_pocket_equally_likely(conn: Connection) -> None:
    drawn = draws(conn, "roulette", {"bet": "red"})
    for nonce, draw in enumerate(drawn):
        expected = fair.roulette(SEEDS, nonce, 100, "red")
        assert (draw["result"], draw["won"]) == (expected.result, expected.won), nonce

    pockets = Counter(d["result"]["pocket"] for d in drawn)
    exact = {p: fair.value_probability(p, 37) for p in range(37)}
    assert chi_squared(pockets, exact, DRAWS) < CRITICAL_001[36]
    # every bet returns the wheel's 36/37, within the rounding of 2^32 / 37
    for each in fair.ROULETTE_BETS:
        p = sum((exact[x] for x in fair.roulette_pockets(each)), Fraction())
        rtp = p * fair.roulette_multiplier(each)
        assert abs(rtp - Fraction(36, 37)) < Fraction(1, 10**7), each
    wins = Counter(d["won"] for d in drawn)
    p = sum((exact[x] for x in fair.RED), Fraction())
    assert chi_squared(wins, {True: p, False: 1 - p}, DRAWS) < CRITICAL_001[1]
    assert math.isclose(float(p), 18 / 37, rel_tol=1e-6)


# docs/house-games.md's worked example -----------------------------------------------------------

EXAMPLE_SEED = "3f1a9c0e7b2d4f6a8c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d3f5a"
EXAMPLE_HASH = "7ba8c28609e9816be7bc57e595bb3170f59207fb1640cf01c6f9ec73cf8c7302"
EXAMPLE_HMAC = "bcbb3b73d4e59e3f0c3b0d5432c780cfeb45cf2437db49b4763afcdcc626d7c6"
EXAMPLE_ID = "bet-c5f92d26-0388-ddc9-ba3f-6d5b27979881"


def test_the_worked_example_of_the_docs(conn: Connection, bettor: Persona) -> None:
    """The numbers docs/house-games.md shows, from the SQL and from the model, and a dice bet
    played on that round (the pair installed at nonce 7 as the superuser)."""
    seeds = (EXAMPLE_SEED, "lucky-42")
    row = conn.execute(
        """select app._sha256_hex(%(s)s), encode(app._house_hmac(%(s)s, %(c)s, 7, 0), 'hex'),
                  app._house_bet_id(app._sha256_hex(%(s)s), %(c)s, 7),
                  app._house_draw('dice', '{"target": 5000, "over": true}', 100, %(s)s, %(c)s, 7),
                  app._house_draw('limbo', '{"target": 200}', 100, %(s)s, %(c)s, 7),
                  app._house_draw('roulette', '{"bet": "red"}', null, %(s)s, %(c)s, 7)""",
        {"s": EXAMPLE_SEED, "c": "lucky-42"},
    ).fetchone()
    assert row == (
        EXAMPLE_HASH,
        EXAMPLE_HMAC,
        EXAMPLE_ID,
        {"result": {"roll": 7372}, "won": True},
        {"result": {"crash": 134}, "won": False},
        {"result": {"pocket": 27, "color": "red"}, "won": True},
    )
    assert fair.sha256_hex(EXAMPLE_SEED) == EXAMPLE_HASH
    assert fair.round_hmac(*seeds, 7, 0).hex() == EXAMPLE_HMAC
    assert int(EXAMPLE_HMAC[:8], 16) == 3166387059
    assert fair.dice(seeds, 7, 1000, 5000, True, 100) == fair.Play(
        {"roll": 7372}, True, Decimal("1.9804"), 1980
    )
    assert fair.limbo_crash(3166387060, 100) == 134
    pockets_won = [b for b in fair.ROULETTE_BETS if 27 in fair.roulette_pockets(b)]
    assert pockets_won == ["27", "red", "odd", "high", "dozen3", "column3"]

    conn.execute(
        """insert into app.seed_pairs
               (user_id, server_seed, server_seed_hash, client_seed, next_nonce)
           values (%s, %s, %s, 'lucky-42', 7)""",
        [bettor.user_id, EXAMPLE_SEED, EXAMPLE_HASH],
    )
    bet = bettor.call("play_dice", stake=1000, target=5000, over=True)
    assert (bet["id"], bet["nonce"], bet["result"], bet["payout"], bet["multiplier"]) == (
        EXAMPLE_ID,
        7,
        {"roll": 7372},
        1980,
        1.9804,
    )
