"""House games, the refusals (docs/house-games.md): each changes nothing and uses no nonce; a
win exactly at the max profit is taken; house bets and wagers share the daily stake limit."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.db.helpers import make_market
from tests.db.house_play import state
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail
from tests.pgserver import Connection

# refusals ---------------------------------------------------------------------------------------


def _later() -> str:
    return (datetime.now(UTC) + timedelta(days=2)).isoformat()


@dataclass(frozen=True)
class Refusal:
    key: str
    game: str
    params: dict[str, Any]
    setup: Callable[[Persona, Persona], Any] = field(default=lambda admin, bettor: None)


DICE = {"stake": 100, "target": 5000, "over": True}
REFUSALS = {
    "disabled": Refusal(
        "game_disabled",
        "dice",
        DICE,
        lambda admin, _: admin.call("update_house_game", game="dice", settings={"enabled": False}),
    ),
    "max profit": Refusal(
        "max_profit_exceeded",
        "limbo",
        {"stake": 100, "target_multiplier": 1200},  # a win would pay 1200, 1100 above the stake
        lambda admin, _: admin.call(
            "update_house_game", game="limbo", settings={"max_profit": 1000}
        ),
    ),
    "insufficient funds": Refusal("insufficient_funds", "roulette", {"stake": 20000, "bet": "red"}),
    "self-excluded": Refusal(
        "self_excluded",
        "roulette",
        {"stake": 100, "bet": "red"},
        lambda _, bettor: bettor.call("set_self_exclusion", until=_later()),
    ),
    "stake limit": Refusal(
        "daily_stake_limit_reached",
        "dice",
        DICE,  # 100 already staked today, 100 more is above 150
        lambda _, bettor: bettor.call("set_daily_stake_limit", amount=150),
    ),
    "stake zero": Refusal("invalid_amount", "dice", {**DICE, "stake": 0}),
    "stake negative": Refusal("invalid_amount", "limbo", {"stake": -5, "target_multiplier": 200}),
    "stake missing": Refusal("invalid_amount", "roulette", {"stake": None, "bet": "red"}),
    "stake absurd": Refusal("invalid_amount", "roulette", {"stake": 10**15 + 1, "bet": "red"}),
    "dice over 99.99": Refusal("invalid_argument", "dice", {**DICE, "target": 9999}),
    "dice under 0": Refusal("invalid_argument", "dice", {**DICE, "target": 0, "over": False}),
    "dice under 100": Refusal("invalid_argument", "dice", {**DICE, "target": 10000, "over": False}),
    "dice over -1": Refusal("invalid_argument", "dice", {**DICE, "target": -1}),
    "dice no side": Refusal("invalid_argument", "dice", {**DICE, "over": None}),
    "dice no profit": Refusal(  # chance 98.00%: a win of 1 pays floor(9900 / 9800) = 1
        "invalid_argument", "dice", {"stake": 1, "target": 9800, "over": False}
    ),
    "dice pays less": Refusal("invalid_argument", "dice", {**DICE, "target": 9950, "over": False}),
    "limbo 1.00x": Refusal("invalid_argument", "limbo", {"stake": 100, "target_multiplier": 100}),
    "limbo above the top": Refusal(
        "invalid_argument", "limbo", {"stake": 100, "target_multiplier": 425201762305}
    ),
    "limbo missing": Refusal(
        "invalid_argument", "limbo", {"stake": 100, "target_multiplier": None}
    ),
    "limbo no profit": Refusal(
        "invalid_argument", "limbo", {"stake": 99, "target_multiplier": 101}
    ),
    "roulette purple": Refusal("invalid_argument", "roulette", {"stake": 100, "bet": "purple"}),
    "roulette 37": Refusal("invalid_argument", "roulette", {"stake": 100, "bet": "37"}),
    "roulette 00": Refusal("invalid_argument", "roulette", {"stake": 100, "bet": "00"}),
    "roulette dozen 4": Refusal("invalid_argument", "roulette", {"stake": 100, "bet": "dozen4"}),
    "roulette nothing": Refusal("invalid_argument", "roulette", {"stake": 100, "bet": None}),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_each_refusal_changes_nothing_and_uses_no_nonce(
    conn: Connection, admin: Persona, bettor: Persona, case: Refusal
) -> None:
    first = bettor.call("play_dice", **DICE)  # nonce 0 used, 100 staked today
    case.setup(admin, bettor)
    before = state(conn, bettor)
    bettor.refused(case.key, f"play_{case.game}", **case.params, idempotency_key="refused-1")
    assert state(conn, bettor) == before
    assert bettor.call("get_seed")["next_nonce"] == 1
    assert first["nonce"] == 0
    assert_invariants(conn)


def test_a_win_exactly_at_the_max_profit_is_taken(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    admin.call("update_house_game", game="limbo", settings={"max_profit": 1000})
    error = bettor.refused("max_profit_exceeded", "play_limbo", stake=100, target_multiplier=1101)
    assert detail(error) == {
        "game": "limbo",
        "stake": 100,
        "payout": 1101,
        "profit": 1001,
        "max_profit": 1000,
    }
    assert bettor.call("play_limbo", stake=100, target_multiplier=1100)["nonce"] == 0
    assert_invariants(conn)


def test_house_bets_and_wagers_share_the_daily_stake_limit(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    bettor.call("set_daily_stake_limit", amount=500)
    market = make_market(admin)
    bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=200)
    bettor.call("play_dice", stake=300, target=5000, over=True)
    assert bettor.rows("select stake_used from public.my_play_limits") == [(500,)]
    error = bettor.refused("daily_stake_limit_reached", "play_roulette", stake=1, bet="red")
    assert detail(error) == {"limit": 500, "used": 500, "stake": 1}
    bettor.refused(
        "daily_stake_limit_reached",
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=1,
    )
    assert_invariants(conn)
