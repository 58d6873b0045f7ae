"""Mines, the refusals (docs/house-games.md, "Mines"; docs/errors.md): each changes nothing (no
nonce, no money, no move, no key kept); max profit refuses a reveal before anything is drawn, and
exactly at it is taken; a rotation waits for the open round to end."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.db.invariants import assert_invariants
from tests.db.mines_play import SEEDS, install_pair, safe_cells, state
from tests.db.personas import Persona, detail
from tests.pgserver import Connection
from tests.support import mines_fair

Setup = Callable[[Persona, Persona, Persona], Any]


def _later() -> str:
    return (datetime.now(UTC) + timedelta(days=2)).isoformat()


@dataclass(frozen=True)
class Refusal:
    key: str
    arguments: dict[str, Any]
    setup: Setup = field(default=lambda admin, bettor, other: None)


OPEN = {"stake": 100, "mines": 3}
OPENING = {
    "disabled": Refusal(
        "game_disabled",
        OPEN,
        lambda admin, *_: admin.call(
            "update_house_game", game="mines", settings={"enabled": False}
        ),
    ),
    "self-excluded": Refusal(
        "self_excluded",
        OPEN,
        lambda _, bettor, __: bettor.call("set_self_exclusion", until=_later()),
    ),
    "stake limit": Refusal(
        "daily_stake_limit_reached",
        OPEN,
        lambda _, bettor, __: bettor.call("set_daily_stake_limit", amount=150),
    ),
    "insufficient funds": Refusal("insufficient_funds", {**OPEN, "stake": 20000}),
    "stake zero": Refusal("invalid_amount", {**OPEN, "stake": 0}),
    "stake absurd": Refusal("invalid_amount", {**OPEN, "stake": 10**15 + 1}),
    "no mines": Refusal("invalid_argument", {**OPEN, "mines": 0}),
    "25 mines": Refusal("invalid_argument", {**OPEN, "mines": 25}),
    "mines missing": Refusal("invalid_argument", {**OPEN, "mines": None}),
    # 24 mines: the first safe cell pays 24.75x, 2375 above a stake of 100
    "max profit": Refusal(
        "max_profit_exceeded",
        {"stake": 100, "mines": 24},
        lambda admin, *_: admin.call(
            "update_house_game", game="mines", settings={"max_profit": 2374}
        ),
    ),
}


@pytest.mark.parametrize("case", OPENING.values(), ids=OPENING.keys())
def test_each_refused_opening_changes_nothing(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona, case: Refusal
) -> None:
    """After a round played and settled (nonce 0 used, 100 staked today)."""
    install_pair(conn, bettor.user_id)
    first = bettor.call("open_mines", **OPEN)
    bettor.call("reveal_mines_cell", round_id=first["id"], cell=safe_cells(0, 3)[0])
    bettor.call("cashout_mines", round_id=first["id"])
    case.setup(admin, bettor, other)
    before = state(conn, bettor)
    bettor.refused(case.key, "open_mines", **case.arguments, idempotency_key="refused-1")
    assert state(conn, bettor) == before
    assert bettor.call("get_seed")["next_nonce"] == 1
    assert_invariants(conn)


def test_one_open_round_per_player_and_no_rotation_under_it(
    conn: Connection, bettor: Persona, other: Persona
) -> None:
    install_pair(conn, bettor.user_id)
    opened = bettor.call("open_mines", **OPEN)
    before = state(conn, bettor)
    error = bettor.refused("round_in_progress", "open_mines", **OPEN)
    assert detail(error) == {"bet_id": opened["id"], "game": "mines"}
    error = bettor.refused("round_in_progress", "rotate_seed", client_seed="new")
    assert detail(error)["bet_id"] == opened["id"]
    assert state(conn, bettor) == before
    # one-shot games play on beside it, on the next nonces of the same pair
    assert bettor.call("play_roulette", stake=100, bet="red")["nonce"] == 1
    # another player's round is theirs
    assert other.call("open_mines", **OPEN)["status"] == "created"
    bettor.call("reveal_mines_cell", round_id=opened["id"], cell=safe_cells(0, 3)[0])
    bettor.call("cashout_mines", round_id=opened["id"])
    assert bettor.call("rotate_seed", client_seed="new")["revealed"]["next_nonce"] == 2
    assert_invariants(conn)


def test_each_refused_step_changes_nothing(
    conn: Connection, bettor: Persona, other: Persona, admin: Persona
) -> None:
    install_pair(conn, bettor.user_id)
    opened = bettor.call("open_mines", **OPEN)
    round_id = opened["id"]
    first, *_ = safe_cells(0, 3)
    before = state(conn, bettor)
    bettor.refused("nothing_to_cash_out", "cashout_mines", round_id=round_id)
    for cell in (-1, 25, None):
        bettor.refused("invalid_argument", "reveal_mines_cell", round_id=round_id, cell=cell)
    for who in (other, admin):  # not theirs: as if it did not exist
        who.refused("round_not_found", "reveal_mines_cell", round_id=round_id, cell=first)
        who.refused("round_not_found", "cashout_mines", round_id=round_id)
        who.refused("round_not_found", "get_mines_round", round_id=round_id)
    bettor.refused("round_not_found", "reveal_mines_cell", round_id="bet-nothing", cell=first)
    assert state(conn, bettor) == before

    bettor.call("reveal_mines_cell", round_id=round_id, cell=first)
    before = state(conn, bettor)
    error = bettor.refused(
        "cell_already_revealed", "reveal_mines_cell", round_id=round_id, cell=first
    )
    assert detail(error)["revealed"] == [first]
    assert state(conn, bettor) == before

    done = bettor.call("cashout_mines", round_id=round_id)
    before = state(conn, bettor)
    error = bettor.refused("round_closed", "cashout_mines", round_id=round_id)
    assert detail(error) == {"round_id": round_id, "ended": "cashout", "payout": done["payout"]}
    bettor.refused("round_closed", "reveal_mines_cell", round_id=round_id, cell=safe_cells(0, 3)[1])
    assert state(conn, bettor) == before
    assert_invariants(conn)


def test_a_reveal_past_the_max_profit_is_refused_before_the_draw(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    """Ten mines, a stake of 1000: a reveal whose cash-out would pay more than max_profit above
    the stake is refused whatever the cell (mine or not: nothing is drawn), exactly at it is taken,
    and the player cashes out what they have."""
    install_pair(conn, bettor.user_id)
    wins = [mines_fair.win(1000, 100, 10, n) for n in range(6)]
    admin.call("update_house_game", game="mines", settings={"max_profit": wins[3] - 1000})
    opened = bettor.call("open_mines", stake=1000, mines=10)
    cells = safe_cells(0, 10)
    for cell in cells[:3]:
        step = bettor.call("reveal_mines_cell", round_id=opened["id"], cell=cell)
    assert step["cashout_payout"] == wins[3]  # exactly at the max profit: taken
    before = state(conn, bettor)
    # a safe cell and every mine alike
    for cell in (cells[3], *mines_fair.mines(SEEDS, 0, 10)):
        error = bettor.refused(
            "max_profit_exceeded", "reveal_mines_cell", round_id=opened["id"], cell=cell
        )
    assert detail(error) == {
        "game": "mines",
        "stake": 1000,
        "payout": wins[4],
        "profit": wins[4] - 1000,
        "max_profit": wins[3] - 1000,
        "revealed": 4,
    }
    assert state(conn, bettor) == before
    assert bettor.call("cashout_mines", round_id=opened["id"])["payout"] == wins[3]
    assert_invariants(conn)


def test_a_round_open_on_a_revealed_pair_is_never_stepped(
    conn: Connection, bettor: Persona
) -> None:
    """What rotate_seed makes impossible, forced as the superuser: the steps refuse it."""
    install_pair(conn, bettor.user_id)
    opened = bettor.call("open_mines", **OPEN)
    conn.execute(
        "update app.seed_pairs set revealed_at = now() where id = %s", [opened["seed_pair_id"]]
    )
    bettor.refused("house_history_final", "cashout_mines", round_id=opened["id"])
    bettor.refused("house_history_final", "reveal_mines_cell", round_id=opened["id"], cell=0)
