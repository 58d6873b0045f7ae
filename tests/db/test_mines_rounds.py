"""Rounds of mines played to their end (docs/house-games.md, "Mines"): won by a cash-out, lost on a
mine, cashed out by the last safe cell; each step's answer and the money against the model
(tests/support/mines_fair.py), on a seed pair the test installs. The mines stay unreadable while
the round is open; an admin settles an abandoned round, the scheduler an idle one, both logged;
the books' checks see a round's money."""

from decimal import Decimal
from typing import Any

import pytest

from tests.db.helpers import scalar
from tests.db.invariants import assert_invariants
from tests.db.mines_play import SEEDS, install_pair, safe_cells
from tests.db.personas import Persona
from tests.pgserver import Connection
from tests.support import mines_fair
from wagerbase.operations.invariants import violations as engine_violations

INITIAL = 10000


def balance(conn: Connection, who: Persona) -> int:
    return scalar(
        conn, "select balance from app.accounts where user_id = %s and kind = 'user'", [who.user_id]
    )


def held(conn: Connection) -> int:
    return scalar(conn, "select balance from app.accounts where kind = 'house_rounds'")


def test_a_round_won_by_a_cash_out(conn: Connection, bettor: Persona) -> None:
    pair = install_pair(conn, bettor.user_id)
    opened = bettor.call("open_mines", stake=1000, mines=5, idempotency_key="open-1")
    assert {k: opened[k] for k in ("status", "stake", "mines", "revealed", "nonce")} == {
        "status": "created",
        "stake": 1000,
        "mines": 5,
        "revealed": [],
        "nonce": 0,
    }
    assert (opened["seed_pair_id"], opened["balance"], held(conn)) == (pair, INITIAL - 1000, 1000)
    assert opened["result"] is None and opened["payout"] is None
    assert Decimal(str(opened["next_multiplier"])) == mines_fair.multiplier(100, 5, 1)
    assert opened["cashout_payout"] is None
    # the replay answers the round as it opened, and opens nothing more
    assert bettor.call("open_mines", stake=1000, mines=5, idempotency_key="open-1")["replayed"]
    assert held(conn) == 1000

    cells = safe_cells(0, 5)[:4]
    for n, cell in enumerate(cells, start=1):
        step = bettor.call("reveal_mines_cell", round_id=opened["id"], cell=cell)
        assert step["status"] == "created" and step["revealed"] == cells[:n]
        assert Decimal(str(step["multiplier"])) == mines_fair.multiplier(100, 5, n)
        assert step["cashout_payout"] == mines_fair.win(1000, 100, 5, n)
        assert step["next_payout"] == mines_fair.win(1000, 100, 5, n + 1)
        assert step["safe_left"] == 20 - n
        assert "mines" not in (step["result"] or {})
    done = bettor.call("cashout_mines", round_id=opened["id"])
    payout = mines_fair.win(1000, 100, 5, 4)
    assert (done["status"], done["payout"], done["won"], done["profit"]) == (
        "settled",
        payout,
        True,
        payout - 1000,
    )
    assert done["result"] == {"mines": mines_fair.mines(SEEDS, 0, 5), "ended": "cashout"}
    assert (done["balance"], balance(conn, bettor), held(conn)) == (
        INITIAL - 1000 + payout,
        INITIAL - 1000 + payout,
        0,
    )
    kinds = conn.execute(
        """select t.kind from app.ledger_transactions as t
           where t.memo ->> 'house_bet_id' = %s order by t.id""",
        [opened["id"]],
    ).fetchall()
    assert kinds == [("house_round_open",), ("house_round_settle",)]
    assert bettor.call("get_seed")["next_nonce"] == 1
    assert_invariants(conn)


def test_a_round_lost_on_a_mine(conn: Connection, bettor: Persona) -> None:
    install_pair(conn, bettor.user_id)
    opened = bettor.call("open_mines", stake=500, mines=3)
    safe = safe_cells(0, 3)
    mine = mines_fair.mines(SEEDS, 0, 3)[1]
    bettor.call("reveal_mines_cell", round_id=opened["id"], cell=safe[0])
    lost = bettor.call("reveal_mines_cell", round_id=opened["id"], cell=mine)
    assert (lost["status"], lost["payout"], lost["won"], lost["profit"]) == (
        "settled",
        0,
        False,
        -500,
    )
    assert lost["result"] == {"mines": mines_fair.mines(SEEDS, 0, 3), "ended": "mine", "mine": mine}
    assert lost["revealed"] == [safe[0]]  # the mine is not a safe cell
    assert (balance(conn, bettor), held(conn)) == (INITIAL - 500, 0)
    assert_invariants(conn)


def test_the_last_safe_cell_cashes_out_at_once(conn: Connection, bettor: Persona) -> None:
    """24 mines: the one safe cell pays 0.99 x 25 at once. Then 22 mines: three safe cells."""
    install_pair(conn, bettor.user_id)
    opened = bettor.call("open_mines", stake=100, mines=24)
    assert opened["next_payout"] == 2475
    (only,) = safe_cells(0, 24)
    done = bettor.call("reveal_mines_cell", round_id=opened["id"], cell=only)
    assert (done["status"], done["payout"], done["revealed"], done["safe_left"]) == (
        "settled",
        2475,
        [only],
        0,
    )
    assert done["result"]["ended"] == "all_safe"
    assert Decimal(str(done["multiplier"])) == Decimal("24.7500")

    second = bettor.call("open_mines", stake=100, mines=22)
    cells = safe_cells(1, 22)
    for cell in cells:
        last = bettor.call("reveal_mines_cell", round_id=second["id"], cell=cell)
    assert (last["status"], last["payout"]) == ("settled", mines_fair.win(100, 100, 22, 3))
    assert last["result"] == {"mines": mines_fair.mines(SEEDS, 1, 22), "ended": "all_safe"}
    assert balance(conn, bettor) == INITIAL - 200 + 2475 + last["payout"]
    assert_invariants(conn)


def test_the_mines_are_nowhere_a_player_reads_while_the_round_is_open(
    conn: Connection, bettor: Persona, admin: Persona
) -> None:
    """Not in the round's row (result is null; the seed pair is still active, so house_bets shows
    no server seed), not in any answer, not in the ledger's memos, not in the admin's view; and
    app.seed_pairs and the draw function stay out of reach of client roles."""
    install_pair(conn, bettor.user_id)
    opened = bettor.call("open_mines", stake=100, mines=7)
    step = bettor.call("reveal_mines_cell", round_id=opened["id"], cell=safe_cells(0, 7)[0])
    mines = mines_fair.mines(SEEDS, 0, 7)
    for who in (bettor, admin):
        (row,) = who.rows(
            "select to_jsonb(b) from public.house_bets as b where id = %s", [opened["id"]]
        )
        assert row[0]["result"] is None and row[0]["server_seed"] is None
    answers = [opened, step, bettor.call("get_mines_round")]
    memos = conn.execute(
        "select memo from app.ledger_transactions where memo ->> 'house_bet_id' = %s",
        [opened["id"]],
    ).fetchall()
    for text in [str(a) for a in answers] + [str(m) for (m,) in memos]:
        assert str(mines) not in text and "'mines': [" not in text
    bettor.denied("select * from app.seed_pairs")
    bettor.denied("select app._mines_positions('x', 'y', 0, 7)")
    admin.denied("select * from app.seed_pairs")
    # once it ends, the mines are its result
    done = bettor.call("cashout_mines", round_id=opened["id"])
    assert done["result"]["mines"] == mines


def test_get_mines_round_answers_the_open_round_or_a_round_by_id(
    conn: Connection, bettor: Persona
) -> None:
    assert bettor.call("get_mines_round") is None
    install_pair(conn, bettor.user_id)
    opened = bettor.call("open_mines", stake=100, mines=2)
    assert bettor.call("get_mines_round")["id"] == opened["id"]
    bettor.call("reveal_mines_cell", round_id=opened["id"], cell=safe_cells(0, 2)[0])
    bettor.call("cashout_mines", round_id=opened["id"])
    assert bettor.call("get_mines_round") is None
    assert bettor.call("get_mines_round", round_id=opened["id"])["status"] == "settled"


# abandoned rounds --------------------------------------------------------------------------------


def test_an_admin_settles_an_abandoned_round_by_the_rule_and_it_is_logged(
    conn: Connection, bettor: Persona, admin: Persona
) -> None:
    """After safe cells: cashed out at the multiplier. Before any: the stake back."""
    install_pair(conn, bettor.user_id)
    opened = bettor.call("open_mines", stake=1000, mines=4)
    for cell in safe_cells(0, 4)[:2]:
        bettor.call("reveal_mines_cell", round_id=opened["id"], cell=cell)
    bettor.refused("not_admin", "settle_house_round", round_id=opened["id"], reason="mine")
    admin.refused("invalid_argument", "settle_house_round", round_id=opened["id"], reason=" ")
    settled = admin.call("settle_house_round", round_id=opened["id"], reason="player gone")
    payout = mines_fair.win(1000, 100, 4, 2)
    assert (settled["payout"], settled["result"]) == (
        payout,
        {"mines": mines_fair.mines(SEEDS, 0, 4), "ended": "admin"},
    )
    log = conn.execute(
        """select actor, actor_role, reason, before ->> 'status', after ->> 'status',
                  (after ->> 'payout')::bigint, after ->> 'id'
           from app.admin_actions where action = 'settle_house_round'"""
    ).fetchall()
    assert log == [
        (admin.user_id, "authenticated", "player gone", "created", "settled", payout, opened["id"])
    ]
    admin.refused("round_closed", "settle_house_round", round_id=opened["id"], reason="again")

    untouched = bettor.call("open_mines", stake=300, mines=4)
    refunded = admin.call("settle_house_round", round_id=untouched["id"], reason="stuck")
    assert (refunded["payout"], refunded["result"]["refunded"], refunded["multiplier"]) == (
        300,
        True,
        1,
    )
    assert balance(conn, bettor) == INITIAL - 1000 + payout
    assert_invariants(conn)


def test_the_scheduler_settles_rounds_idle_past_the_setting(
    conn: Connection, bettor: Persona, other: Persona, admin: Persona
) -> None:
    install_pair(conn, bettor.user_id)
    idle = bettor.call("open_mines", stake=1000, mines=6)
    bettor.call("reveal_mines_cell", round_id=idle["id"], cell=safe_cells(0, 6)[0])
    fresh = other.call("open_mines", stake=200, mines=6)
    admin.call("update_house_game", game="mines", settings={"round_idle_minutes": 30})
    # the bettor's round last moved 31 minutes ago, the other's 29
    for round_id, minutes in ((idle["id"], 31), (fresh["id"], 29)):
        conn.execute(
            "update app.house_bets set moved_at = now() - make_interval(mins => %s) where id = %s",
            [minutes, round_id],
        )
    tick = conn.execute("select app.scheduler_tick()").fetchone()
    assert tick is not None and tick[0]["rounds_expired"] == [idle["id"]]
    expired = bettor.call("get_mines_round", round_id=idle["id"])
    payout = mines_fair.win(1000, 100, 6, 1)
    assert (expired["status"], expired["payout"], expired["result"]["ended"]) == (
        "settled",
        payout,
        "expired",
    )
    assert conn.execute(
        """select actor, actor_role, reason from app.admin_actions
           where action = 'settle_house_round'"""
    ).fetchall() == [(None, "scheduler", "idle")]
    assert other.call("get_mines_round")["status"] == "created"

    # never: the setting off, and nothing expires however long idle
    admin.call("update_house_game", game="mines", settings={"round_idle_minutes": None})
    conn.execute(
        "update app.house_bets set moved_at = now() - interval '1 year' where id = %s",
        [fresh["id"]],
    )
    tick = conn.execute("select app.scheduler_tick()").fetchone()
    assert tick is not None and tick[0]["rounds_expired"] == []
    assert held(conn) == 200
    assert_invariants(conn)


@pytest.mark.parametrize(
    ("value", "accepted"),
    [(1, True), (525600, True), (None, True), (0, False), (525601, False), ("5", False)],
)
def test_the_idle_setting_is_validated(admin: Persona, value: Any, accepted: bool) -> None:
    settings = {"round_idle_minutes": value}
    if accepted:
        assert (
            admin.call("update_house_game", game="mines", settings=settings)["round_idle_minutes"]
            == value
        )
    else:
        admin.refused("invalid_argument", "update_house_game", game="mines", settings=settings)
    admin.refused(
        "invalid_argument", "update_house_game", game="dice", settings={"round_idle_minutes": 5}
    )


# the books' checks ------------------------------------------------------------------------------

REWRITES: dict[str, tuple[str, set[str]]] = {
    "held stake": (
        "update app.house_bets set stake = stake + 1 where id = %(open)s",
        {"house round not moved as it says", "held rounds differ from open stakes"},
    ),
    "settled payout": (
        "update app.house_bets set payout = payout + 1 where id = %(settled)s",
        # its GGR (migration 0030) was stake - the payout it had
        {"house round not moved as it says", "house bet ggr not as settled"},
    ),
    "open round marked settled": (
        # with the GGR a settled bet must carry (a constraint of migration 0030)
        """update app.house_bets set status = 'settled', payout = 0, result = '{}',
               transaction_id = open_transaction_id, settled_at = now(), ggr = stake,
               ggr_commission_bps = 0, ggr_commission = 0
           where id = %(open)s""",
        {"house round not moved as it says", "held rounds differ from open stakes"},
    ),
    "another opening": (
        """update app.house_bets set open_transaction_id = (
               select min(id) from app.ledger_transactions where kind = 'grant')
           where id = %(open)s""",
        {"house round not moved as it says", "house bet transaction without its one bet"},
    ),
}


@pytest.mark.parametrize("rewrite", REWRITES.values(), ids=REWRITES.keys())
def test_a_round_rewritten_behind_its_guards_is_named(
    conn: Connection, bettor: Persona, other: Persona, rewrite: tuple[str, set[str]]
) -> None:
    """With the triggers off (as a restore could leave them), the checks still see."""
    install_pair(conn, bettor.user_id)
    settled = bettor.call("open_mines", stake=400, mines=1)
    bettor.call("reveal_mines_cell", round_id=settled["id"], cell=safe_cells(0, 1)[0])
    bettor.call("cashout_mines", round_id=settled["id"])
    opened = other.call("open_mines", stake=700, mines=3)
    assert engine_violations(conn) == {}
    conn.execute("set local session_replication_role = replica")
    conn.execute(rewrite[0], {"open": opened["id"], "settled": settled["id"]})
    conn.execute("set local session_replication_role = origin")
    assert set(engine_violations(conn)) == rewrite[1]


GUARDED: dict[str, str] = {
    "a move taken back": "update app.house_bets set moves = '[]' where id = %(id)s",
    "a move rewritten": "update app.house_bets set moves = '[24]' where id = %(id)s",
    "its hold moved": "update app.house_bets set open_transaction_id = null where id = %(id)s",
    "its stake": "update app.house_bets set stake = 1 where id = %(id)s",
    "deleted": "delete from app.house_bets where id = %(id)s",
}


@pytest.mark.parametrize("statement", GUARDED.values(), ids=GUARDED.keys())
def test_the_guards_refuse_rewriting_a_round_even_to_the_superuser(
    conn: Connection, bettor: Persona, statement: str
) -> None:
    install_pair(conn, bettor.user_id)
    opened = bettor.call("open_mines", stake=400, mines=1)
    bettor.call("reveal_mines_cell", round_id=opened["id"], cell=safe_cells(0, 1)[0])
    with pytest.raises(Exception, match="house_history_final"), conn.transaction():
        conn.execute(statement, {"id": opened["id"]})
