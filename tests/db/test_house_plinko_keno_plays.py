"""Plinko and keno, the plays (docs/house-games.md): the bets are what the seed revealed later draws
and pays, at whatever multiplier the draw decides; a bet paid back exactly its stake moves no money;
the docs' worked examples played; the refusals change nothing and use no nonce, the max profit is
checked against the best outcome before the draw, and admins switch the games but not their edge."""

from decimal import Decimal
from typing import Any
from unittest import mock

import psycopg
import pytest

from tests.db.helpers import house
from tests.db.house_play import INITIAL, assert_as_modelled, model, play, state
from tests.db.invariants import assert_invariants, violations
from tests.db.personas import Persona, detail
from tests.pgserver import Connection
from tests.support import house_fair as fair


def plan(count: int) -> list[tuple[str, dict[str, Any]]]:
    """`count` bets alternating plinko (every rows and risk in turn) and keno (1 to 10 picks, every
    risk in turn), stakes of 1.00 to 3.00."""
    bets: list[tuple[str, dict[str, Any]]] = []
    for i in range(count):
        stake = 100 * (1 + i % 3)
        if i % 2 == 0:
            rows, risk = 8 + i // 2 % 9, ("low", "medium", "high")[i // 2 % 3]
            bets.append(("plinko", {"stake": stake, "rows": rows, "risk": risk}))
        else:
            picks = [40 - 3 * k for k in range(1 + i // 2 % 10)]
            risk = ("classic", "low", "medium", "high")[i // 2 % 4]
            bets.append(("keno", {"stake": stake, "picks": picks, "risk": risk}))
    return bets


def test_bets_are_what_the_seed_revealed_later_draws_and_pays(
    conn: Connection, bettor: Persona
) -> None:
    """Sixty bets; the rotation reveals the seed, and the Python model redraws every bet from it:
    result, multiplier, payout, won (more than the stake back), and each balance after."""
    bettor.call("deposit", amount=100_000)
    shown = bettor.call("get_seed")
    bets = plan(60)
    answers = [play(bettor, game, params) for game, params in bets]
    bettor.call("rotate_seed")
    revealed = bettor.call("get_revealed_seed", server_seed_hash=shown["server_seed_hash"])
    seeds = (revealed["server_seed"], shown["client_seed"])
    balance = INITIAL + 100_000
    for nonce, ((game, params), answer) in enumerate(zip(bets, answers, strict=True)):
        expected = model(game, seeds, nonce, params)
        assert (answer["nonce"], answer["game"]) == (nonce, game)
        assert_as_modelled(answer, expected, game, params, nonce)
        assert answer["profit"] == expected.payout - params["stake"]
        if game == "keno":
            assert answer["params"] == {"picks": sorted(params["picks"]), "risk": params["risk"]}
        balance += expected.payout - params["stake"]
        assert answer["balance"] == balance
    assert {a["payout"] > a["stake"] for a in answers} == {True, False}
    assert bettor.rows(
        "select id, payout, won, multiplier from public.house_bets order by nonce"
    ) == [(a["id"], a["payout"], a["won"], Decimal(str(a["multiplier"]))) for a in answers]
    assert_invariants(conn)


EXAMPLE_SEED = "3f1a9c0e7b2d4f6a8c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d3f5a"


def at_the_example(conn: Connection, who: Persona) -> None:
    """`who`'s active pair: the docs' example seed, client seed lucky-42, at nonce 7 (installed as
    the superuser, as test_house_rng does)."""
    conn.execute(
        """insert into app.seed_pairs
               (user_id, server_seed, server_seed_hash, client_seed, next_nonce)
           values (%s, %s, %s, 'lucky-42', 7)""",
        [who.user_id, EXAMPLE_SEED, fair.sha256_hex(EXAMPLE_SEED)],
    )


def test_the_worked_examples_and_a_bet_paid_back_its_stake_moves_no_money(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    """docs/house-games.md's examples, played: plinko at 10 rows, low risk, lands in bucket 6
    (1.00x): the stake comes back, nothing moves and there is no ledger transaction; then keno's
    five picks hit three (4.10x)."""
    bettor.call("set_daily_stake_limit", amount=50000)
    at_the_example(conn, bettor)
    wallet = bettor.call("get_wallet")
    kept = admin.call("house_summary")["house_games_result"]
    bet = bettor.call("play_plinko", stake=1000, rows=10, risk="low")
    assert (bet["nonce"], bet["result"]["bucket"], bet["multiplier"], bet["payout"]) == (
        7,
        6,
        1,
        1000,
    )
    assert (bet["won"], bet["profit"], bet["transaction_id"], bet["status"]) == (
        False,
        0,
        None,
        "settled",
    )
    assert (bet["balance"], bet["balance_version"]) == (wallet["balance"], wallet["version"])
    assert admin.call("house_summary")["house_games_result"] == kept
    assert bettor.call("get_seed")["next_nonce"] == 8
    assert bettor.rows("select stake_used from public.my_play_limits") == [(1000,)]

    bet = bettor.call("play_keno", stake=1000, picks=[40, 30, 21, 10, 5], risk="classic")
    assert bet["nonce"] == 8 and bet["params"]["picks"] == [5, 10, 21, 30, 40]
    assert bet["result"] == {"drawn": [25, 37, 18, 21, 22, 10, 19, 5, 20, 39], "hits": 3}
    assert (bet["multiplier"], bet["payout"], bet["won"]) == (4.1, 4100, True)
    assert bet["balance"] == wallet["balance"] + 3100
    assert house(conn) == admin.call("house_summary")["profit"]
    # every invariant holds but the one the installed pair breaks on purpose: its nonces 0 to 6
    # were never played
    assert violations(conn) == {"seed pair nonces are not its bets": [mock.ANY]}


# refusals ---------------------------------------------------------------------------------------

PLINKO = {"stake": 100, "rows": 8, "risk": "low"}
KENO = {"stake": 100, "picks": [1, 2, 3], "risk": "classic"}
REFUSALS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "plinko 7 rows": ("invalid_argument", "plinko", {**PLINKO, "rows": 7}),
    "plinko 17 rows": ("invalid_argument", "plinko", {**PLINKO, "rows": 17}),
    "plinko no rows": ("invalid_argument", "plinko", {**PLINKO, "rows": None}),
    "plinko risk extreme": ("invalid_argument", "plinko", {**PLINKO, "risk": "extreme"}),
    "plinko risk classic": ("invalid_argument", "plinko", {**PLINKO, "risk": "classic"}),
    "plinko no risk": ("invalid_argument", "plinko", {**PLINKO, "risk": None}),
    "plinko stake zero": ("invalid_amount", "plinko", {**PLINKO, "stake": 0}),
    "keno no picks": ("invalid_argument", "keno", {**KENO, "picks": []}),
    "keno picks null": ("invalid_argument", "keno", {**KENO, "picks": None}),
    "keno 11 picks": ("invalid_argument", "keno", {**KENO, "picks": list(range(1, 12))}),
    "keno duplicate": ("invalid_argument", "keno", {**KENO, "picks": [5, 9, 5]}),
    "keno tile 0": ("invalid_argument", "keno", {**KENO, "picks": [0, 1]}),
    "keno tile 41": ("invalid_argument", "keno", {**KENO, "picks": [40, 41]}),
    "keno tile null": ("invalid_argument", "keno", {**KENO, "picks": [1, None]}),
    "keno tile text": ("invalid_argument", "keno", {**KENO, "picks": [1, "2"]}),
    "keno tile 2.5": ("invalid_argument", "keno", {**KENO, "picks": [1, 2.5]}),
    "keno picks object": ("invalid_argument", "keno", {**KENO, "picks": {"1": 2}}),
    "keno risk extreme": ("invalid_argument", "keno", {**KENO, "risk": "extreme"}),
    "keno no risk": ("invalid_argument", "keno", {**KENO, "risk": None}),
    "keno stake negative": ("invalid_amount", "keno", {**KENO, "stake": -1}),
    "keno insufficient funds": ("insufficient_funds", "keno", {**KENO, "stake": 20000}),
    # the best outcome, 1,007.72x, would win 10,067,200 above a stake of 100.00: above 10^7
    "plinko max profit": (
        "max_profit_exceeded", "plinko", {"stake": 10000, "rows": 16, "risk": "high"}
    ),
    # ten picks all hit at high risk: 1,000x, 9,990,000 above 100.00 is within; 10,989,000 is not
    "keno max profit": (
        "max_profit_exceeded", "keno", {"stake": 11000, "picks": list(range(1, 11)), "risk": "high"}
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_each_refusal_changes_nothing_and_uses_no_nonce(
    conn: Connection, bettor: Persona, case: tuple[str, str, dict[str, Any]]
) -> None:
    key, game, params = case
    assert bettor.call("play_keno", **KENO)["nonce"] == 0
    before = state(conn, bettor)
    bettor.refused(key, f"play_{game}", **params, idempotency_key="refused-1")
    assert state(conn, bettor) == before
    assert bettor.call("get_seed")["next_nonce"] == 1
    assert_invariants(conn)


def test_the_max_profit_is_the_best_outcome_s_before_the_draw(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    """Plinko at 8 rows, low risk, pays 5.62x at best: a stake of 10.00 could win 46.20 above it.
    Keno's three picks at classic risk pay 10.40x at best."""
    admin.call("update_house_game", game="plinko", settings={"max_profit": 4619})
    error = bettor.refused("max_profit_exceeded", "play_plinko", stake=1000, rows=8, risk="low")
    assert detail(error) == {
        "game": "plinko",
        "stake": 1000,
        "payout": 5620,
        "profit": 4620,
        "max_profit": 4619,
    }
    admin.call("update_house_game", game="plinko", settings={"max_profit": 4620})
    assert bettor.call("play_plinko", stake=1000, rows=8, risk="low")["nonce"] == 0

    admin.call("update_house_game", game="keno", settings={"max_profit": 940})
    error = bettor.refused("max_profit_exceeded", "play_keno", **{**KENO, "stake": 101})
    assert detail(error)["payout"] == 1050  # floor(101 * 10.40)
    assert bettor.call("play_keno", **KENO)["nonce"] == 1  # 1040, 940 above the stake
    assert_invariants(conn)


def test_admins_switch_the_games_but_their_edge_is_their_tables(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    assert bettor.rows(
        "select game, enabled, house_edge_bps, max_profit from public.house_games"
        " where game in ('plinko', 'keno') order by game"
    ) == [("keno", True, None, 10000000), ("plinko", True, None, 10000000)]
    for game in ("plinko", "keno"):
        admin.refused(
            "invalid_argument", "update_house_game", game=game, settings={"house_edge_bps": 100}
        )
    admin.call("update_house_game", game="keno", settings={"enabled": False})
    before = state(conn, bettor)
    error = bettor.refused("game_disabled", "play_keno", **KENO)
    assert detail(error) == {"game": "keno"}
    assert state(conn, bettor) == before
    assert bettor.call("play_plinko", **PLINKO)["game"] == "plinko"
    assert_invariants(conn)


def test_a_key_replays_a_keno_bet_and_other_picks_conflict(
    conn: Connection, bettor: Persona
) -> None:
    first = bettor.call("play_keno", stake=100, picks=[7, 3], risk="low", idempotency_key="k-1")
    before = state(conn, bettor)
    again = bettor.call("play_keno", stake=100, picks=[7, 3], risk="low", idempotency_key="k-1")
    assert again == {**first, "replayed": True}
    bettor.refused(
        "idempotency_conflict",
        "play_keno",
        stake=100,
        picks=[7, 4],
        risk="low",
        idempotency_key="k-1",
    )
    bettor.refused("idempotency_conflict", "play_plinko", **PLINKO, idempotency_key="k-1")
    assert state(conn, bettor) == before
    assert_invariants(conn)


def test_a_bet_has_a_transaction_exactly_when_money_moved(
    conn: Connection, bettor: Persona
) -> None:
    """Even with the guards off (session_replication_role = replica), a settled bet that pays back
    its stake cannot keep a transaction, nor one that moved money lose it (a check constraint)."""
    bet = bettor.call("play_dice", stake=100, target=5000, over=True)  # moves money, always
    conn.execute("set local session_replication_role = replica")
    for rewrite in (
        "update app.house_bets set payout = stake where id = %(bet)s",
        "update app.house_bets set transaction_id = null where id = %(bet)s",
    ):
        with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
            conn.execute(rewrite, {"bet": bet["id"]})
    conn.execute("set local session_replication_role = origin")
    assert_invariants(conn)
