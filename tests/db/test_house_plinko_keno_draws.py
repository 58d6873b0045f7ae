"""Plinko and keno, the draws and tables (docs/house-games.md): the SQL's tables are the
documented ones and return what they state exactly; the draws are the Python model's
(tests/support/house_fair.py) over thousands of nonces; the buckets, the tiles and the hits are
distributed as the binomial and hypergeometric laws say, on fixed seeds: deterministic, so the
chi-squared statistics are the same on every run and cannot flake."""

from collections import Counter
from decimal import Decimal
from fractions import Fraction
from typing import Any

from tests.db import house_play
from tests.db.house_play import CRITICAL_001, chi_squared
from tests.pgserver import Connection
from tests.support import house_fair as fair
from tests.support import house_tables as tables

SERVER_SEED = fair.sha256_hex("wagerbase plinko and keno: the test's fixed server seed")
CLIENT_SEED = "binomial, hypergeometric"
SEEDS = (SERVER_SEED, CLIENT_SEED)
DRAWS = 4000

# Each keno table's RTP, exact from the hypergeometric distribution, as docs/house-games.md lists
# it (percent, rounded to 4 decimals): by risk, for 1 .. 10 picks.
KENO_RTP = {
    "classic": (
        "99.0000", "99.0385", "99.0182", "98.9605", "98.9858",
        "98.9665", "98.9815", "99.0228", "98.9753", "99.0374",
    ),
    "low": (
        "98.7500", "98.8462", "98.8664", "98.9222", "98.9031",
        "99.0084", "98.9388", "99.0042", "99.0689", "98.7597",
    ),
    "medium": (
        "98.7500", "98.6538", "98.9879", "98.7827", "98.9441",
        "98.8347", "98.9618", "98.9236", "98.9420", "98.9743",
    ),
    "high": (
        "99.0000", "98.6538", "98.9879", "98.9058", "98.8894",
        "98.9988", "98.9618", "98.9571", "98.9645", "99.0083",
    ),
}  # fmt: skip


def draws(conn: Connection, game: str, params: dict[str, Any], count: int) -> list[Any]:
    """app._house_draw of `game` with `params` for nonces 0 .. count - 1 of the fixed pair."""
    return house_play.draws(conn, SEEDS, game, params, count)


def same_as_model(drawn: dict[str, Any], expected: fair.Play) -> bool:
    return (drawn["result"], drawn["won"], Decimal(str(drawn["multiplier"]))) == (
        expected.result,
        expected.won,
        expected.multiplier,
    )


# the samples ------------------------------------------------------------------------------------


def test_many_samples_of_a_bet_are_the_seed_s_one_hmac_per_round(conn: Connection) -> None:
    """app._house_samples, which plinko and keno draw with (one HMAC per eight samples), gives
    sample k the number the seed's formula gives for cursor k: 100 nonces, 1 to 20 samples (up to
    three rounds), limits from 1 to 2^32."""
    limits = [2, 40, 1, 2**32, 39, 10000, 37, 2, 31, 7, 2, 2, 2**21, 3, 2, 2, 40, 2, 5, 2]
    rows = conn.execute(
        """select n, c, app._house_samples(%s, %s, n, (%s::bigint[])[1:c])
           from generate_series(0, 99) as n cross join generate_series(1, 20) as c""",
        [SERVER_SEED, CLIENT_SEED, limits],
    ).fetchall()
    assert len(rows) == 2000
    for nonce, count, samples in rows:
        assert samples == [
            fair.sample(SERVER_SEED, CLIENT_SEED, nonce, k, limits[k]) for k in range(count)
        ], (nonce, count)


# the tables -------------------------------------------------------------------------------------


def test_plinko_s_tables_are_stake_s_tuned_to_exactly_99_percent(conn: Connection) -> None:
    """Every (rows, risk): the SQL's table is the model's; it differs from Stake's published one
    only in its two outermost buckets, by the same amount (under 5% of them); and its expected
    return, the binomial probabilities times the multipliers, is 99% exactly: hundredths allow it,
    since every C(rows, k) of a mirrored pair counts twice and 99 * 2^rows is even."""
    rows = conn.execute(
        """select r, k, app._plinko_multipliers(r, k)
           from generate_series(7, 17) as r cross join unnest(%s::text[]) as k""",
        [[*tables.PLINKO_RISKS, "extreme"]],
    ).fetchall()
    assert len(rows) == 11 * 4
    for row_count, risk, hundredths in rows:
        if row_count not in tables.PLINKO_ROWS or risk not in tables.PLINKO_RISKS:
            assert hundredths is None, (row_count, risk)
            continue
        table = tables.plinko_table(row_count, risk)
        assert [Fraction(h, 100) for h in hundredths] == table, (row_count, risk)
        published = tables.plinko_published(row_count, risk)
        assert table[1:-1] == published[1:-1]
        assert table[0] - published[0] == table[-1] - published[-1]
        assert abs(table[0] - published[0]) / published[0] < Fraction(5, 100)
        assert tables.plinko_rtp(row_count, risk) == Fraction(99, 100), (row_count, risk)
        # and the binomial law is the one a ball of rows fair steps follows
        assert sum(tables.plinko_probability(row_count, k) for k in range(row_count + 1)) == 1


def test_keno_s_tables_are_stake_s_and_return_what_the_docs_state(conn: Connection) -> None:
    """Every (picks, risk): the SQL's table is the model's, and its expected return, from the
    hypergeometric distribution of the hits of `picks` tiles among 10 of 40 drawn, exactly, is the
    one the docs list (to 4 decimals of a percent), between 98.65% and 99.07%."""
    rows = conn.execute(
        """select p, k, app._keno_multipliers(p, k)
           from generate_series(0, 11) as p cross join unnest(%s::text[]) as k""",
        [[*tables.KENO_RISKS, "extreme"]],
    ).fetchall()
    assert len(rows) == 12 * 5
    for picks, risk, hundredths in rows:
        if picks not in range(1, 11) or risk not in tables.KENO_RISKS:
            assert hundredths is None, (picks, risk)
            continue
        assert [Fraction(h, 100) for h in hundredths] == tables.keno_table(picks, risk)
        assert sum(tables.keno_probability(picks, h) for h in range(picks + 1)) == 1
        rtp = tables.keno_rtp(picks, risk)
        stated = Fraction(Decimal(KENO_RTP[risk][picks - 1])) / 100
        assert abs(rtp - stated) <= Fraction(1, 2 * 10**6), (picks, risk, float(rtp))
        assert Fraction(9865, 10000) <= rtp <= Fraction(9907, 10000)


def test_the_terms_price_the_best_outcome_and_store_the_choices(conn: Connection) -> None:
    row = conn.execute(
        """select app._house_terms('plinko', '{"rows": 16, "risk": " High "}', null, 1000),
                  app._house_terms('keno', '{"picks": [40, 3, 17], "risk": "low"}', null, 999)"""
    ).fetchone()
    assert row is not None
    assert row[0] == {
        "params": {"rows": 16, "risk": "high"},
        "multiplier": 1007.72,
        "win_payout": 1007720,
    }
    assert row[1] == {
        "params": {"picks": [3, 17, 40], "risk": "low"},
        "multiplier": 26,
        "win_payout": 25974,
    }


# the draws against the model, and their distributions -------------------------------------------


def test_plinko_draws_are_the_model_s_for_every_rows_and_risk(conn: Connection) -> None:
    """120 draws at every (rows, risk): 3,240 (and 4,000 more below)."""
    for row_count in tables.PLINKO_ROWS:
        for risk in tables.PLINKO_RISKS:
            drawn = draws(conn, "plinko", {"rows": row_count, "risk": risk}, 120)
            for nonce, draw in enumerate(drawn):
                expected = fair.plinko(SEEDS, nonce, 100, row_count, risk)
                assert same_as_model(draw, expected), (row_count, risk, nonce)


def test_plinko_buckets_and_steps_follow_the_binomial_law(conn: Connection) -> None:
    """At 8 rows, the buckets against C(8, k) / 256 (every bucket expected 15 times or more), and
    every step left or right with probability 1/2 exactly (2^32 words split evenly by rng(2))."""
    drawn = draws(conn, "plinko", {"rows": 8, "risk": "medium"}, DRAWS)
    for nonce, draw in enumerate(drawn):
        assert same_as_model(draw, fair.plinko(SEEDS, nonce, 100, 8, "medium")), nonce
    buckets = Counter(d["result"]["bucket"] for d in drawn)
    binomial = {k: tables.plinko_probability(8, k) for k in range(9)}
    assert chi_squared(buckets, binomial, DRAWS) < CRITICAL_001[8]
    assert fair.value_probability(1, 2) == Fraction(1, 2)
    steps = Counter(step for d in drawn for step in d["result"]["path"])
    assert chi_squared(steps, {0: Fraction(1, 2), 1: Fraction(1, 2)}, 8 * DRAWS) < CRITICAL_001[1]
    for d in drawn:
        assert d["result"]["bucket"] == sum(d["result"]["path"])
    # the payout classes the RTP rests on: below 1x, 1x or more (the medium table's 1.3x and up)
    above = sum((binomial[k] for k in (0, 1, 2, 6, 7, 8)), Fraction())
    wins = Counter(d["won"] for d in drawn)
    assert chi_squared(wins, {True: above, False: 1 - above}, DRAWS) < CRITICAL_001[1]


def test_keno_draws_are_the_model_s_ten_distinct_tiles(conn: Connection) -> None:
    """100 draws for every number of picks at every risk: 4,000 (and 4,000 more below)."""
    for count in range(1, 11):
        picks = [4 * i + 1 for i in range(count)]
        for risk in tables.KENO_RISKS:
            drawn = draws(conn, "keno", {"picks": picks, "risk": risk}, 100)
            for nonce, draw in enumerate(drawn):
                expected = fair.keno(SEEDS, nonce, 100, picks, risk)
                assert same_as_model(draw, expected), (count, risk, nonce)
                tiles = draw["result"]["drawn"]
                assert len(set(tiles)) == 10 and set(tiles) <= set(range(1, 41))


def test_keno_tiles_and_hits_follow_the_hypergeometric_law(conn: Connection) -> None:
    """Every tile drawn a quarter of the time; the hits of 5 picks against the hypergeometric law
    (4 and 5 hits pooled: 5 alone is expected under 2 times in 4,000)."""
    picks = [3, 11, 19, 27, 35]
    drawn = draws(conn, "keno", {"picks": picks, "risk": "classic"}, DRAWS)
    for nonce, draw in enumerate(drawn):
        assert same_as_model(draw, fair.keno(SEEDS, nonce, 100, picks, "classic")), nonce
    tiles = Counter(t for d in drawn for t in d["result"]["drawn"])
    uniform = {t: Fraction(1, 40) for t in range(1, 41)}
    assert chi_squared(tiles, uniform, 10 * DRAWS) < CRITICAL_001[39]
    # the first tile drawn alone is one uniform sample of 40
    first = Counter(d["result"]["drawn"][0] for d in drawn)
    exact = {t: fair.value_probability(t - 1, 40) for t in range(1, 41)}
    assert chi_squared(first, exact, DRAWS) < CRITICAL_001[39]

    law = {h: tables.keno_probability(5, h) for h in range(6)}
    pooled = {h: law[h] for h in range(4)} | {4: law[4] + law[5]}
    hits = Counter(min(d["result"]["hits"], 4) for d in drawn)
    assert chi_squared(hits, pooled, DRAWS) < CRITICAL_001[4]
    for d in drawn:
        assert d["result"]["hits"] == len(set(picks) & set(d["result"]["drawn"]))


# docs/house-games.md's worked examples ----------------------------------------------------------

EXAMPLE = ("3f1a9c0e7b2d4f6a8c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d3f5a", "lucky-42")


def test_the_worked_examples_of_the_docs(conn: Connection) -> None:
    """Plinko at nonce 7 (its samples 8 and 9 from round 1), keno at nonce 8."""
    row = conn.execute(
        """select encode(app._house_hmac(%(s)s, %(c)s, 7, 1), 'hex'),
                  app._house_draw('plinko', '{"rows": 10, "risk": "low"}', null, %(s)s, %(c)s, 7),
                  encode(app._house_hmac(%(s)s, %(c)s, 8, 0), 'hex'),
                  encode(app._house_hmac(%(s)s, %(c)s, 8, 1), 'hex'),
                  array(select app._house_random(%(s)s, %(c)s, 8, i, 40 - i)
                        from generate_series(0, 9) as i order by i),
                  app._house_draw('keno', '{"picks": [5, 10, 21, 30, 40], "risk": "classic"}',
                                  null, %(s)s, %(c)s, 8)""",
        {"s": EXAMPLE[0], "c": EXAMPLE[1]},
    ).fetchone()
    assert row == (
        "bff8adeee86c4758f984e6024ac19fd725c8c5d1be075891f549c5b26a40140d",
        {
            "result": {"path": [1, 1, 0, 0, 1, 0, 0, 1, 1, 1], "bucket": 6},
            "multiplier": 1,
            "won": False,
        },
        "9cd65f5ee8d1af006947825c788ad89e7f742dbe23cd846b5b09629b6d558b13",
        "5bd81309f41b421fb419755e81725a13f33470cadde17a52a1e10bd958f1e4ca",
        [24, 35, 15, 17, 17, 4, 12, 14, 11, 29],
        {
            "result": {"drawn": [25, 37, 18, 21, 22, 10, 19, 5, 20, 39], "hits": 3},
            "multiplier": 4.1,
            "won": True,
        },
    )
    assert fair.plinko(EXAMPLE, 7, 1000, 10, "low").payout == 1000
    assert fair.keno(EXAMPLE, 8, 1000, [5, 10, 21, 30, 40], "classic").payout == 4100
