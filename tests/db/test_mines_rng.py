"""Mines' draw and multipliers against the Python model (tests/support/mines_fair.py), and the
mines' distribution on fixed seeds: deterministic, so the chi-squared statistics are the same on
every run and cannot flake. The draws run in one statement as the superuser, through the
functions the rounds call (app._mines_positions, app._mines_win, app._mines_multiplier)."""

import math
from collections import Counter
from decimal import Decimal
from fractions import Fraction

from tests.db.personas import Persona
from tests.pgserver import Connection
from tests.support import house_fair as fair
from tests.support import mines_fair

SERVER_SEED = fair.sha256_hex("wagerbase mines: the chi-squared seed")
CLIENT_SEED = "mines, deterministic"
SEEDS = (SERVER_SEED, CLIENT_SEED)

# chi-squared critical values at p = 0.001, by degrees of freedom, from the standard tables
CRITICAL_001 = {1: 10.828, 24: 51.179}


def chi_squared(observed: Counter[int], expected: dict[int, float]) -> float:
    return sum((observed[k] - e) ** 2 / e for k, e in expected.items())


def drawn(conn: Connection, rounds: int, mines: str) -> list[tuple[int, int, list[int]]]:
    """(nonce, mines, positions) for nonces 0 .. rounds - 1, mines given as an SQL expression of
    the nonce n."""
    rows = conn.execute(
        f"""select n, {mines}, app._mines_positions(%s, %s, n, {mines})
            from generate_series(0, %s - 1) as n order by n""",
        [SERVER_SEED, CLIENT_SEED, rounds],
    ).fetchall()
    return [(int(n), int(m), list(p)) for n, m, p in rows]


def test_the_mines_of_thousands_of_rounds_are_the_model_s(conn: Connection) -> None:
    """2,400 rounds, every mine count from 1 to 24 a hundred times: the SQL's shuffle and the
    model's agree on every round, and each draws `mines` distinct cells of 0..24."""
    rounds = drawn(conn, 2400, "(1 + n %% 24)::integer")
    for nonce, mines, positions in rounds:
        assert positions == mines_fair.mines(SEEDS, nonce, mines), (nonce, mines)
        assert len(set(positions)) == mines and set(positions) <= set(range(25))
    assert len(rounds) == 2400


def test_a_mine_count_out_of_range_draws_nothing(conn: Connection) -> None:
    row = conn.execute(
        """select app._mines_positions('s', 'c', 0, 0), app._mines_positions('s', 'c', 0, 25),
                  app._mines_positions('s', 'c', 0, -1)"""
    ).fetchone()
    assert row == (None, None, None)


def test_every_multiplier_and_win_is_the_formula_s(conn: Connection) -> None:
    """Every mine count, every number of safe cells, three edges and three stakes."""
    rows = conn.execute(
        """select e, m, n, s, app._mines_multiplier(e, m, n), app._mines_win(s, e, m, n)
           from unnest(array[0, 100, 250]) as e
           cross join generate_series(1, 24) as m
           cross join generate_series(0, 24) as n
           cross join unnest(array[1, 777, 1000000000000000]::bigint[]) as s
           where n <= 25 - m"""
    ).fetchall()
    assert len(rows) == 3 * 3 * sum(26 - m for m in range(1, 25))
    for edge, mines, n, stake, multiplier, win in rows:
        assert multiplier == mines_fair.multiplier(edge, mines, n), (edge, mines, n)
        assert win == mines_fair.win(stake, edge, mines, n), (edge, mines, n, stake)
    # one mine, every safe cell: 0.99 x 25 / 1, the most a round can pay is C(25, m) x 0.99
    assert mines_fair.multiplier_exact(100, 1, 24) == Fraction(99 * 25, 100)
    assert mines_fair.multiplier_exact(100, 12, 13) == Fraction(99, 100) * math.comb(25, 12)


def test_the_mines_fall_uniformly_on_the_cells(conn: Connection) -> None:
    """One mine in 5,000 rounds: each cell 1/25 of the time (24 degrees of freedom); five mines in
    2,000 rounds: each cell a mine 2,000 x 5/25 times (the counts of one round are not independent,
    which only makes the test stricter than its table). The fixed seeds make both exact numbers."""
    one = Counter(p[0] for _, _, p in drawn(conn, 5000, "1"))
    assert chi_squared(one, {c: 5000 / 25 for c in range(25)}) < CRITICAL_001[24]
    five = Counter(c for _, _, p in drawn(conn, 2000, "5") for c in p)
    assert sum(five.values()) == 10000
    assert chi_squared(five, {c: 2000 * 5 / 25 for c in range(25)}) < CRITICAL_001[24]


def test_a_round_survives_n_cells_at_the_rate_the_multiplier_prices(conn: Connection) -> None:
    """Three mines, the first three cells revealed in order: the round survives with probability
    C(22, 3) / C(25, 3), which is what makes multiplier x chance = 1 - edge (the RTP) at every n."""
    survived = Counter(not set(p) & {0, 1, 2} for _, _, p in drawn(conn, 5000, "3"))
    p = Fraction(math.comb(22, 3), math.comb(25, 3))
    expected = {True: 5000 * float(p), False: 5000 * float(1 - p)}
    assert (
        chi_squared(
            Counter({1: survived[True], 0: survived[False]}),
            {1: expected[True], 0: expected[False]},
        )
        < CRITICAL_001[1]
    )
    for mines in range(1, 25):
        for n in range(26 - mines):
            chance = Fraction(math.comb(25 - mines, n), math.comb(25, n))
            assert mines_fair.multiplier_exact(100, mines, n) * chance == Fraction(99, 100)


# docs/house-games.md's worked example -----------------------------------------------------------

EXAMPLE_SEED = "3f1a9c0e7b2d4f6a8c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d3f5a"
EXAMPLE_HMAC = "bcbb3b73d4e59e3f0c3b0d5432c780cfeb45cf2437db49b4763afcdcc626d7c6"


def test_the_worked_example_of_the_docs(conn: Connection, bettor: Persona) -> None:
    """Three mines at nonce 7 of the docs' pair: the samples, swaps and mines the page shows,
    from the SQL and the model, and a round played on it."""
    seeds = (EXAMPLE_SEED, "lucky-42")
    samples = [fair.sample(*seeds, 7, k, 25 - k) for k in range(3)]
    assert samples == [18, 19, 1]
    assert fair.round_hmac(*seeds, 7, 0).hex() == EXAMPLE_HMAC
    assert mines_fair.mines(seeds, 7, 3) == [3, 18, 20]
    row = conn.execute(
        "select app._mines_positions(%s, 'lucky-42', 7, 3)", [EXAMPLE_SEED]
    ).fetchone()
    assert row == ([3, 18, 20],)
    assert [mines_fair.multiplier(100, 3, n) for n in (1, 2, 3)] == [
        Decimal("1.1250"),
        Decimal("1.2857"),
        Decimal("1.4786"),
    ]
    assert [mines_fair.win(1000, 100, 3, n) for n in (1, 2, 3)] == [1125, 1285, 1478]

    conn.execute(
        """insert into app.seed_pairs
               (user_id, server_seed, server_seed_hash, client_seed, next_nonce)
           values (%s, %s, %s, 'lucky-42', 7)""",
        [bettor.user_id, EXAMPLE_SEED, fair.sha256_hex(EXAMPLE_SEED)],
    )
    opened = bettor.call("open_mines", stake=1000, mines=3)
    assert opened["nonce"] == 7
    for cell in (0, 6, 12):
        step = bettor.call("reveal_mines_cell", round_id=opened["id"], cell=cell)
    assert (step["revealed"], step["multiplier"], step["cashout_payout"]) == (
        [0, 6, 12],
        1.4786,
        1478,
    )
    done = bettor.call("cashout_mines", round_id=opened["id"])
    assert (done["payout"], done["result"]) == (1478, {"mines": [3, 18, 20], "ended": "cashout"})
