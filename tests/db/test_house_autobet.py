"""Auto-bet (docs/house-games.md, "Auto-bet"): one call that makes the bets the single plays would
have made, nonce for nonce (the same ids, results, payouts, ledger entries and balances), and that
the Python model redraws; its stop conditions, its refusals (of the first bet: the call; of a
later one: the run stops there), its replay, and its messages."""

from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.db.helpers import ledger_snapshot
from tests.db.house_play import INITIAL, auto_params, install_pair, model, plan, state
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail, persona
from tests.db.stream import Live, one
from tests.pgserver import Connection
from tests.support import house_fair as fair

SEEDS = (fair.sha256_hex("auto-bet seed 1"), "auto client")
DICE = {"target": 5000, "over": True}
SINGLES: dict[str, dict[str, Any]] = {
    "dice": {"stake": 300, **DICE},
    "limbo": {"stake": 300, "target_multiplier": 180},
    "roulette": {"stake": 300, "bet": "dozen2"},
    # each with a 1x multiplier (8 rows low: buckets 3 and 5; classic 6 picks: 2 hits), whose bets
    # pay back exactly the stake and have no ledger transaction, and multipliers below 1
    "plinko": {"stake": 300, "rows": 8, "risk": "low"},
    "keno": {"stake": 300, "picks": [3, 7, 11, 19, 28, 40], "risk": "classic"},
}
# the games whose multiplier is decided before the draw: the run's is each bet's
PRICED_BEFORE = ("dice", "limbo", "roulette")


def bets_written(conn: Connection, who: Persona) -> list[tuple[Any, ...]]:
    """Each bet of the player as its row and ledger entries say it (no serial ids, no times); a
    bet that paid back its stake has no transaction, so no entries."""
    return conn.execute(
        """select b.id, b.game, b.seed_pair_id, b.nonce, b.stake, b.params, b.house_edge_bps,
                  b.result, b.multiplier, b.payout, b.status, t.kind, t.memo,
                  (select array_agg(array[e.account_id, e.amount, e.balance_before,
                                          e.balance_after, e.account_version]
                                    order by e.account_id)
                   from app.ledger_entries as e where e.transaction_id = t.id)
           from app.house_bets as b
           left join app.ledger_transactions as t on t.id = b.transaction_id
           where b.user_id = %s order by b.nonce""",
        [who.user_id],
    ).fetchall()


def money(conn: Connection, who: Persona) -> tuple[Any, ...]:
    """The player's wallet and the house account: balance and version, and the pair's nonce."""
    row = conn.execute(
        """select (select array[balance, version] from app.accounts where user_id = %s),
                  (select array[balance, version] from app.accounts where kind = 'house'),
                  (select next_nonce from app.seed_pairs where user_id = %s
                   and revealed_at is null)""",
        [who.user_id, who.user_id],
    ).fetchone()
    assert row is not None
    return tuple(row)


@pytest.mark.parametrize("game", sorted(SINGLES))
def test_an_auto_bet_writes_exactly_what_the_single_plays_would(
    conn: Connection, bettor: Persona, game: str
) -> None:
    """The same player and seed pair: 40 play_<game> calls, rolled back, then one auto_bet of 40.
    Every bet, ledger entry, balance, version and the pair's nonce come out the same: plinko's and
    keno's paid by the multiplier each drew, those paying back the stake without a transaction."""
    install_pair(conn, bettor.user_id, *SEEDS)
    params = SINGLES[game]
    bettor.call("get_wallet")
    conn.execute("savepoint singles")
    plays = [bettor.call(f"play_{game}", **params) for _ in range(40)]
    singles = (bets_written(conn, bettor), money(conn, bettor))
    conn.execute("rollback to savepoint singles")

    run = bettor.call("auto_bet", game=game, stake=300, params=auto_params(game, params), count=40)
    assert (run["placed"], run["stopped"], run["first_nonce"]) == (40, "count", 0)
    assert (bets_written(conn, bettor), money(conn, bettor)) == singles
    keys = ("id", "nonce", "result", "multiplier", "payout", "won", "balance")
    assert [[b[k] for k in keys] + [b["transaction_id"] is None] for b in run["bets"]] == [
        [p[k] for k in keys] + [p["transaction_id"] is None] for p in plays
    ]
    assert (run["balance"], run["balance_version"]) == (
        plays[-1]["balance"],
        plays[-1]["balance_version"],
    )
    assert run["profit"] == sum(p["profit"] for p in plays) == run["paid"] - run["wagered"]
    if game in PRICED_BEFORE:
        assert run["multiplier"] == plays[0]["multiplier"]
    else:  # the run can be refused only if the best of them stays within the max profit
        assert run["multiplier"] >= max(p["multiplier"] for p in plays)
        assert any(p["payout"] == 300 and p["transaction_id"] is None for p in plays)
    assert_invariants(conn)


def test_auto_bets_draw_what_the_model_draws_nonce_after_nonce(
    conn: Connection, bettor: Persona
) -> None:
    """Every choice of `plan`'s range, each an auto-bet of 12 at the pair's next nonces: 360 bets
    whose results and payouts the Python model redraws."""
    install_pair(conn, bettor.user_id, *SEEDS)
    conn.execute("update app.config set initial_balance = 10000000")
    nonce = 0
    for game, params in plan(30):
        run = bettor.call(
            "auto_bet",
            game=game,
            stake=params["stake"],
            params=auto_params(game, params),
            count=12,
        )
        assert run["placed"] == 12 and run["first_nonce"] == nonce
        for bet in run["bets"]:
            expected = model(game, SEEDS, nonce, params)
            assert (bet["nonce"], bet["result"], bet["payout"]) == (
                nonce,
                expected.result,
                expected.payout,
            ), (game, params, nonce)
            assert bet["id"] == fair.bet_id(fair.sha256_hex(SEEDS[0]), SEEDS[1], nonce)
            nonce += 1
    assert bettor.call("get_seed")["next_nonce"] == nonce == 360
    assert_invariants(conn)


def run_model(stake: int, count: int, balance: int, **stops: int) -> tuple[int, str, int]:
    """Dice over 50.00 from the pair's nonce 0, as auto_bet's rules say: (placed, why, balance)."""
    net = 0
    for nonce in range(count):
        if balance < stake:
            return nonce, "insufficient_funds", balance
        payout = fair.dice(SEEDS, nonce, stake, 5000, True, 100).payout
        balance += payout - stake
        net += payout - stake
        if "stop_on_profit" in stops and net >= stops["stop_on_profit"]:
            return nonce + 1, "stop_on_profit", balance
        if "stop_on_loss" in stops and -net >= stops["stop_on_loss"]:
            return nonce + 1, "stop_on_loss", balance
    return count, "count", balance


@pytest.mark.parametrize(
    "stops",
    [{"stop_on_profit": 500}, {"stop_on_loss": 700}, {"stop_on_profit": 1, "stop_on_loss": 1}],
)
def test_a_stop_condition_ends_the_run_after_the_bet_that_meets_it(
    conn: Connection, bettor: Persona, stops: dict[str, int]
) -> None:
    install_pair(conn, bettor.user_id, *SEEDS)
    placed, why, balance = run_model(100, 200, INITIAL, **stops)
    assert why in stops and 1 <= placed < 200
    run = bettor.call("auto_bet", game="dice", stake=100, params=DICE, count=200, **stops)
    assert (run["placed"], run["stopped"], run["balance"]) == (placed, why, balance)
    assert len(run["bets"]) == placed
    assert bettor.call("get_seed")["next_nonce"] == placed
    assert_invariants(conn)


def test_the_run_stops_at_the_first_bet_the_wallet_cannot_pay(
    conn: Connection, bettor: Persona
) -> None:
    install_pair(conn, bettor.user_id, *SEEDS)
    bettor.call("withdraw", amount=INITIAL - 1000)
    placed, why, balance = run_model(300, 100, 1000)
    assert why == "insufficient_funds" and placed > 3  # some wins before it ran dry
    run = bettor.call("auto_bet", game="dice", stake=300, params=DICE, count=100)
    assert (run["placed"], run["stopped"], run["balance"]) == (placed, why, balance)
    assert balance < 300 and all(b["balance"] >= 0 for b in run["bets"])
    # the next bet is refused as a play would be, and the call with it: nothing happens
    before = state(conn, bettor)
    error = bettor.refused(
        "insufficient_funds",
        "auto_bet",
        game="dice",
        stake=300,
        params=DICE,
        count=5,
        idempotency_key="dry",
    )
    assert detail(error) == {"balance": balance, "stake": 300}
    assert state(conn, bettor) == before
    assert_invariants(conn)


def test_the_daily_stake_limit_stops_the_run_and_counts_its_bets(
    conn: Connection, bettor: Persona
) -> None:
    bettor.call("set_daily_stake_limit", amount=1050)
    bettor.call("play_roulette", stake=100, bet="red")
    run = bettor.call("auto_bet", game="roulette", stake=200, params={"bet": "black"}, count=9)
    assert (run["placed"], run["stopped"]) == (4, "daily_stake_limit_reached")  # 100 + 4 * 200
    assert bettor.rows("select stake_used from public.my_play_limits") == [(900,)]
    error = bettor.refused(
        "daily_stake_limit_reached",
        "auto_bet",
        game="roulette",
        stake=200,
        params={"bet": "black"},
        count=9,
    )
    assert detail(error) == {"limit": 1050, "used": 900, "stake": 200}
    assert (
        bettor.call("auto_bet", game="roulette", stake=150, params={"bet": "red"}, count=9)[
            "placed"
        ]
        == 1
    )
    assert_invariants(conn)


REFUSED: dict[str, tuple[str, dict[str, Any]]] = {
    "count zero": ("invalid_argument", {"count": 0}),
    "count above the setting": ("invalid_argument", {"count": 1001}),
    "count missing": ("invalid_argument", {"count": None}),
    "stop on profit zero": ("invalid_argument", {"stop_on_profit": 0}),
    "stop on loss negative": ("invalid_argument", {"stop_on_loss": -5}),
    "unknown game": ("invalid_argument", {"game": "craps"}),
    "bad choices": ("invalid_argument", {"params": {"target": 9999, "over": True}}),
    "no choices": ("invalid_argument", {"params": None}),
    "stake zero": ("invalid_amount", {"stake": 0}),
    "above max profit": ("max_profit_exceeded", {"stake": 20_000_000}),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_each_refused_call_changes_nothing(
    conn: Connection, bettor: Persona, case: tuple[str, dict[str, Any]]
) -> None:
    bettor.call("play_dice", stake=100, **DICE)
    before = state(conn, bettor)
    key, changed = case
    arguments = {"game": "dice", "stake": 100, "params": DICE, "count": 10, **changed}
    bettor.refused(key, "auto_bet", **arguments, idempotency_key="refused")
    assert state(conn, bettor) == before
    assert_invariants(conn)


def test_a_disabled_game_or_a_self_exclusion_refuses_the_call(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    admin.call("update_house_game", game="limbo", settings={"enabled": False})
    bettor.refused(
        "game_disabled", "auto_bet", game="limbo", stake=100, params={"target": 200}, count=5
    )
    bettor.call("set_self_exclusion", until="2999-01-01T00:00:00Z")
    bettor.refused("self_excluded", "auto_bet", game="dice", stake=100, params=DICE, count=5)
    assert bettor.rows("select count(*) from public.house_bets") == [(0,)]


def test_the_count_setting_bounds_a_call(conn: Connection, bettor: Persona) -> None:
    conn.execute("update app.config set auto_bet_max_count = 3")
    assert bettor.rows("select auto_bet_max_count from public.settings") == [(3,)]
    error = bettor.refused(
        "invalid_argument", "auto_bet", game="dice", stake=100, params=DICE, count=4
    )
    assert detail(error)["maximum"] == 3
    assert bettor.call("auto_bet", game="dice", stake=100, params=DICE, count=3)["placed"] == 3


def test_a_key_replays_the_run_and_moves_money_once(
    conn: Connection, bettor: Persona, other: Persona
) -> None:
    first = bettor.call(
        "auto_bet", game="dice", stake=100, params=DICE, count=25, idempotency_key="auto-1"
    )
    assert first["replayed"] is False
    before = (state(conn, bettor), ledger_snapshot(conn))
    again = bettor.call(
        "auto_bet", game="dice", stake=100, params=DICE, count=25, idempotency_key="auto-1"
    )
    assert again == {**first, "replayed": True}
    assert (state(conn, bettor), ledger_snapshot(conn)) == before
    for changed in (
        {"count": 24},
        {"stake": 101},
        {"stop_on_loss": 300},
        {"params": {"target": 5001, "over": True}},
    ):
        arguments = {"game": "dice", "stake": 100, "params": DICE, "count": 25, **changed}
        bettor.refused("idempotency_conflict", "auto_bet", **arguments, idempotency_key="auto-1")
    bettor.refused("idempotency_conflict", "play_dice", stake=100, **DICE, idempotency_key="auto-1")
    assert bettor.rows("select count(*) from app.house_bets where idempotency_key = 'auto-1'") == [
        (25,)
    ]
    assert (
        other.call(
            "auto_bet", game="dice", stake=100, params=DICE, count=2, idempotency_key="auto-1"
        )["replayed"]
        is False
    )
    assert_invariants(conn)


def test_a_run_sends_one_balance_message_and_one_profit_message(live: Live) -> None:
    bettor = persona(live.actor, "player")
    bettor.call("get_wallet")
    live.commit_and_read()
    run = bettor.call("auto_bet", game="roulette", stake=100, params={"bet": "red"}, count=30)
    messages = live.commit_and_read()
    assert sorted((c, p["type"]) for c, p in messages) == [
        ("wagerbase_admin", "profit"),
        ("wagerbase_user", "balance"),
    ]
    balance = one(messages, "wagerbase_user", "balance")
    assert (balance["reason"], balance["delta"], balance["balance"], balance["version"]) == (
        "house_bet",
        run["profit"],
        run["balance"],
        run["balance_version"],
    )
    assert (balance["bets"], balance["transaction_id"]) == (30, run["bets"][-1]["transaction_id"])
    assert one(messages, "wagerbase_admin", "profit")["profit"] == -run["profit"]
    assert_invariants(live.actor)


def test_the_nonce_moves_only_over_bets_written(conn: Connection, bettor: Persona) -> None:
    """The pair's guard: a jump of the nonce past rounds without bets is refused, even to the
    superuser; over the bets written (an auto-bet's) it is what happened."""
    pair = install_pair(conn, bettor.user_id, *SEEDS)
    bettor.call("auto_bet", game="dice", stake=100, params=DICE, count=5)
    with pytest.raises(Exception, match="house_history_final"), conn.transaction():
        conn.execute("update app.seed_pairs set next_nonce = 7 where id = %s", [pair])
    assert conn.execute(
        "select next_nonce from app.seed_pairs where id = %s", [pair]
    ).fetchone() == (5,)


def test_a_run_cut_by_the_statement_timeout_leaves_nothing(
    conn: Connection, bettor: Persona
) -> None:
    """A call is bounded by its count and the caller's statement_timeout; one cut by the timeout
    (here 1 ms for a run of 1,000 bets) rolls back whole: no bet, no nonce, no key, no money."""
    bettor.call("play_dice", stake=100, **DICE)
    before = state(conn, bettor)
    with (
        pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"),
        conn.transaction(),
        bettor.acting(),
    ):
        conn.execute("set local statement_timeout = '1ms'")
        conn.execute(
            """select public.auto_bet(game => 'dice', stake => 10, params => %s, count => 1000,
                                      idempotency_key => 'too long')""",
            [Jsonb(DICE)],
        )
    assert state(conn, bettor) == before
    assert bettor.call("get_seed")["next_nonce"] == 1
