"""Corrections (issue 5): unsettle_market, resettle_market and void_wager, persona by persona.
Each final balance is compared with the same market settled directly with the right winner (in a
savepoint that is rolled back), the ledger stays balanced, a reversal happens once, and a winner who
spent the winnings leaves a debt carried by the house instead of a negative wallet."""

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.db.actors import Actor, actors, make_users, refusal
from tests.db.concurrent import all_at_once
from tests.db.helpers import (
    balance,
    escrow,
    house,
    make_market,
    outcome_ids,
    scalar,
    superuser_refused,
    wager,
)
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, persona, service
from tests.db.stream import Live, of, one
from tests.pgserver import Connection


def stake(who: Persona, market_id: int, outcome_id: int, amount: int) -> int:
    placed: dict[str, Any] = who.call(
        "place_wager", market_id=market_id, outcome_id=outcome_id, stake=amount
    )
    return int(placed["id"])


def money(conn: Connection, market_id: int, people: list[Persona]) -> dict[str, Any]:
    """Every balance a settlement of `market_id` touches, and its wagers' results."""
    return {
        "users": {p.name: balance(conn, p) for p in people},
        "house": house(conn),
        "escrow": escrow(conn, market_id),
        "wagers": conn.execute(
            "select id, settlement, payout from app.wagers where market_id = %s order by id",
            [market_id],
        ).fetchall(),
    }


def settled_directly(
    conn: Connection, admin: Persona, market_id: int, outcome_id: int, people: list[Persona]
) -> dict[str, Any]:
    """The money as it would be had `outcome_id` been declared first: settled in a savepoint,
    read, and rolled back."""
    result: dict[str, Any] = {}
    with conn.transaction(force_rollback=True):
        admin.call("settle_market", market_id=market_id, outcome_id=outcome_id)
        result = money(conn, market_id, people)
    return result


def odds(conn: Connection, outcome_id: int) -> tuple[Any, ...]:
    row = conn.execute(
        "select odds, cap, pool from app.outcome_quotes where outcome_id = %s", [outcome_id]
    ).fetchone()
    assert row is not None
    return tuple(row)


# unsettle ----------------------------------------------------------------------------------------


def test_unsettle_reverses_every_payout_and_returns_the_market_to_closed(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona, anon: Persona
) -> None:
    market = make_market(admin)
    x, y = market.outcomes
    w1, w2 = stake(bettor, market.id, x, 500), stake(bettor, market.id, x, 300)
    w3 = stake(other, market.id, y, 700)
    before = money(conn, market.id, [bettor, other])
    version = scalar(conn, "select version from app.markets where id = %s", [market.id])
    settled = admin.call("settle_market", market_id=market.id, outcome_id=x)
    assert balance(conn, bettor) > before["users"]["bettor"]

    result = admin.call("unsettle_market", market_id=market.id, reason="wrong result")

    assert money(conn, market.id, [bettor, other]) == before
    assert escrow(conn, market.id) == 1500
    assert result["reverses_transaction_id"] == settled["ledger_transaction_id"]
    assert result["reversed"] == settled["total_paid"] and result["debt"] == 0
    row = conn.execute(
        "select status, winning_outcome_id, version from app.markets where id = %s", [market.id]
    ).fetchone()
    # settle_market closed it (+1) and settled it (+1); unsettle_market bumps it once more
    assert row == ("closed", None, version + 3)
    for wager_id in (w1, w2, w3):
        assert (wager(conn, wager_id)["settlement"], wager(conn, wager_id)["payout"]) == (
            "open",
            None,
        )
    assert anon.rows("select * from public.settlements where market_id = %s", [market.id]) == []
    history = conn.execute(
        "select winning_outcome_id, total_paid, ledger_transaction_id from app.settlement_history"
        " where market_id = %s",
        [market.id],
    ).fetchall()
    assert history == [(x, settled["total_paid"], settled["ledger_transaction_id"])]
    link = conn.execute(
        "select kind, original_transaction_id, reversal_transaction_id from app.ledger_reversals"
        " where market_id = %s",
        [market.id],
    ).fetchall()
    assert link == [
        ("unsettle_market", settled["ledger_transaction_id"], result["ledger_transaction_id"])
    ]
    assert (
        scalar(
            conn,
            "select count(*) from app.admin_actions where action = 'unsettle_market'"
            " and market_id = %s and reason = 'wrong result'",
            [market.id],
        )
        == 1
    )
    assert_invariants(conn)

    # settled again afterwards, like any closed market
    admin.call("settle_market", market_id=market.id, outcome_id=y)
    assert_invariants(conn)


def test_only_admins_correct_and_each_refusal_has_its_key(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona, service_role: Persona
) -> None:
    market = make_market(admin)
    x, y = market.outcomes
    w = stake(bettor, market.id, x, 500)
    for function, arguments in (
        ("unsettle_market", {"market_id": market.id, "reason": "r"}),
        ("resettle_market", {"market_id": market.id, "outcome_id": y, "reason": "r"}),
        ("void_wager", {"wager_id": w, "reason": "r"}),
    ):
        bettor.refused("not_admin", function, **arguments)
        anon.denied(
            f"select public.{function}({', '.join(f'{k} => %s' for k in arguments)})",
            list(arguments.values()),
        )

    admin.refused("not_settled", "unsettle_market", market_id=market.id, reason="r")
    admin.refused("not_settled", "resettle_market", market_id=market.id, outcome_id=y, reason="r")
    admin.refused("market_not_found", "unsettle_market", market_id=-1, reason="r")
    admin.refused("wager_not_found", "void_wager", wager_id=-1, reason="r")
    admin.refused("invalid_argument", "void_wager", wager_id=w, reason="  ")

    admin.call("settle_market", market_id=market.id, outcome_id=x)
    admin.refused("invalid_argument", "unsettle_market", market_id=market.id, reason=None)
    admin.refused(
        "invalid_argument",
        "resettle_market",
        market_id=market.id,
        outcome_id=x,
        reason="same winner",
    )
    elsewhere = make_market(admin)
    admin.refused(
        "outcome_not_found",
        "resettle_market",
        market_id=market.id,
        outcome_id=elsewhere.outcomes[0],
        reason="r",
    )
    admin.refused("wager_not_voidable", "void_wager", wager_id=w, reason="settled")

    service_role.call("resettle_market", market_id=market.id, outcome_id=y, reason="by service")
    assert wager(conn, w)["settlement"] == "lost"
    assert_invariants(conn)


# resettle: exactly as if the right result had been set first -------------------------------------


def test_resettle_fixed_odds_ends_as_if_the_right_winner_had_been_declared_first(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    third = persona(conn, "third")
    people = [bettor, other, third]
    market = make_market(admin, outcomes=["Home", "Draw", "Away"])
    home, draw, away = market.outcomes
    stake(bettor, market.id, home, 400)
    stake(bettor, market.id, draw, 250)
    stake(bettor, market.id, home, 120)
    stake(other, market.id, draw, 900)
    stake(other, market.id, away, 60)
    stake(third, market.id, away, 333)
    stake(third, market.id, draw, 71)
    right = settled_directly(conn, admin, market.id, draw, people)

    admin.call("settle_market", market_id=market.id, outcome_id=home)
    assert money(conn, market.id, people) != right
    result = admin.call("resettle_market", market_id=market.id, outcome_id=draw, reason="VAR")

    now = money(conn, market.id, people)
    assert now["users"] == right["users"] and now["house"] == right["house"]
    assert [(s, p) for _, s, p in now["wagers"]] == [(s, p) for _, s, p in right["wagers"]]
    assert result["settled"]["winning_outcome_id"] == draw
    assert_invariants(conn)

    # and back again: a second correction reverses the second settlement, once
    admin.call("resettle_market", market_id=market.id, outcome_id=away, reason="again")
    assert (
        scalar(conn, "select count(*) from app.ledger_reversals where market_id = %s", [market.id])
        == 2
    )
    assert (
        scalar(
            conn, "select count(*) from app.settlement_history where market_id = %s", [market.id]
        )
        == 2
    )
    assert_invariants(conn)


def test_resettle_parimutuel_with_rake_and_dust_matches_the_direct_settlement(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    """Rake 500 bps; X: bettor 1234 + 1001, other 3333; Y: third 2501, other 17.
    First (wrongly) X; then Y: total 8086, rake floor(404.3) = 404, net 7682, winning pool 2518:
    third floor(2501 * 7682 / 2518) = floor(7630.13) = 7630, other floor(17 * 7682 / 2518) =
    floor(51.86) = 51; paid 7681, dust 1, house 405."""
    third = persona(conn, "third")
    people = [bettor, other, third]
    market = make_market(admin, kind="parimutuel", rake_bps=500)
    x, y = market.outcomes
    stake(bettor, market.id, x, 1234)
    stake(bettor, market.id, x, 1001)
    stake(other, market.id, x, 3333)
    stake(third, market.id, y, 2501)
    stake(other, market.id, y, 17)
    start = money(conn, market.id, people)
    right = settled_directly(conn, admin, market.id, y, people)
    assert right["users"]["third"] == start["users"]["third"] + 7630
    assert right["users"]["other"] == start["users"]["other"] + 51
    assert right["house"] == start["house"] + 405

    admin.call("settle_market", market_id=market.id, outcome_id=x)
    result = admin.call("resettle_market", market_id=market.id, outcome_id=y, reason="photo")

    now = money(conn, market.id, people)
    assert now["users"] == right["users"] and now["house"] == right["house"]
    assert now["escrow"] == 0
    assert {k: result["settled"][k] for k in ("rake", "dust", "total_paid", "house_result")} == {
        "rake": 404,
        "dust": 1,
        "total_paid": 7681,
        "house_result": 405,
    }
    assert_invariants(conn)


# once only ---------------------------------------------------------------------------------------


def test_a_reversal_happens_once_only(conn: Connection, admin: Persona, bettor: Persona) -> None:
    market = make_market(admin)
    x, _ = market.outcomes
    stake(bettor, market.id, x, 500)
    settled = admin.call("settle_market", market_id=market.id, outcome_id=x)
    admin.call("unsettle_market", market_id=market.id, reason="first")
    admin.refused("not_settled", "unsettle_market", market_id=market.id, reason="second")
    # even below the functions, the same transaction cannot be reversed twice
    superuser_refused(
        conn,
        "already_reversed",
        "select app._record_reversal('unsettle_market', %s, %s, null, 'again')",
        [settled["ledger_transaction_id"], market.id],
    )
    with conn.transaction(), conn.cursor() as cursor:
        try:
            with conn.transaction():
                cursor.execute(
                    "insert into app.ledger_reversals (kind, original_transaction_id, market_id,"
                    " reason) values ('unsettle_market', %s, %s, 'raw')",
                    [settled["ledger_transaction_id"], market.id],
                )
            raise AssertionError("a second reversal was accepted")
        except psycopg.errors.UniqueViolation:
            pass
    assert_invariants(conn)


# the debt rule -----------------------------------------------------------------------------------


def test_a_winner_who_withdrew_everything_owes_the_house_instead_of_going_negative(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    x, y = market.outcomes
    w = stake(bettor, market.id, x, 1000)
    other_wager = stake(other, market.id, y, 2000)
    admin.call("settle_market", market_id=market.id, outcome_id=x)
    payout = wager(conn, w)["payout"]
    bettor.call("withdraw", amount=balance(conn, bettor))
    assert balance(conn, bettor) == 0
    house_before = house(conn)
    other_before = balance(conn, other)

    result = admin.call("resettle_market", market_id=market.id, outcome_id=y, reason="mistake")

    assert balance(conn, bettor) == 0
    assert result["unsettled"]["debt"] == payout
    debts = admin.rows("select user_id, amount, market_id from public.user_debts")
    assert debts == [(bettor.user_id, payout, market.id)]
    assert bettor.rows("select * from public.user_debts") == []
    assert other.rows("select * from public.user_debts") == []
    other_payout = wager(conn, other_wager)["payout"]
    assert balance(conn, other) == other_before + other_payout
    # the house takes back its first result (3000 - payout) less the payout it could not recover
    # (so -3000), then keeps 3000 - other_payout from the new settlement
    assert house(conn) == house_before - other_payout
    assert_invariants(conn)


def test_a_winner_who_spent_part_is_debited_what_the_wallet_holds(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    x, y = market.outcomes
    w = stake(bettor, market.id, x, 1000)
    stake(other, market.id, y, 2000)
    admin.call("settle_market", market_id=market.id, outcome_id=x)
    payout = wager(conn, w)["payout"]
    bettor.call("withdraw", amount=balance(conn, bettor) - 100)

    result = admin.call("unsettle_market", market_id=market.id, reason="mistake")

    assert balance(conn, bettor) == 0
    assert result["debited"] == 100 and result["debt"] == payout - 100
    assert (
        scalar(conn, "select amount from app.user_debts where user_id = %s", [bettor.user_id])
        == payout - 100
    )
    assert escrow(conn, market.id) == 3000
    assert_invariants(conn)


# void_wager --------------------------------------------------------------------------------------


def test_void_wager_on_an_open_market_refunds_it_and_moves_the_odds_back(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    x, y = market.outcomes
    stake(other, market.id, x, 800)
    stake(other, market.id, y, 300)
    quotes = (odds(conn, x), odds(conn, y))
    bettor.call("get_wallet")
    wallet = balance(conn, bettor)
    w = stake(bettor, market.id, x, 600)
    assert odds(conn, x) != quotes[0]
    version = scalar(conn, "select version from app.markets where id = %s", [market.id])
    liability = scalar(conn, "select liability from app.outcomes where id = %s", [x])

    result = admin.call("void_wager", wager_id=w, reason="palpable error")

    assert (odds(conn, x), odds(conn, y)) == quotes
    assert balance(conn, bettor) == wallet
    assert escrow(conn, market.id) == 1100
    assert scalar(conn, "select version from app.markets where id = %s", [market.id]) == version + 1
    assert scalar(conn, "select liability from app.outcomes where id = %s", [x]) == (
        liability - wager(conn, w)["potential_payout"]
    )
    assert (wager(conn, w)["settlement"], wager(conn, w)["payout"]) == ("void", 600)
    stake_tx = scalar(
        conn, "select id from app.ledger_transactions where kind = 'stake' and wager_id = %s", [w]
    )
    assert result["reverses_transaction_id"] == stake_tx
    admin.refused("wager_not_voidable", "void_wager", wager_id=w, reason="twice")
    superuser_refused(
        conn,
        "already_reversed",
        "select app._record_reversal('void_wager', %s, %s, %s, 'again')",
        [stake_tx, market.id, w],
    )
    assert_invariants(conn)

    # settling afterwards pays only the wagers still in the pool; an unsettle leaves it void
    admin.call("settle_market", market_id=market.id, outcome_id=x)
    assert wager(conn, w)["payout"] == 600
    admin.call("unsettle_market", market_id=market.id, reason="check")
    assert wager(conn, w)["settlement"] == "void"
    assert escrow(conn, market.id) == 1100
    assert_invariants(conn)


def test_void_wager_refuses_a_pending_wager(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin, requires_approval=True)
    x, _ = market.outcomes
    w = stake(bettor, market.id, x, 500)
    assert wager(conn, w)["approval"] == "pending"
    admin.refused("wager_not_voidable", "void_wager", wager_id=w, reason="r")


def test_a_market_settled_without_wagers_unsettles_with_no_money_moved(
    conn: Connection, admin: Persona
) -> None:
    market = make_market(admin)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    result = admin.call("unsettle_market", market_id=market.id, reason="wrong market")
    assert result["ledger_transaction_id"] is None and result["reverses_transaction_id"] is None
    assert (
        scalar(conn, "select count(*) from app.ledger_reversals where market_id = %s", [market.id])
        == 1
    )
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[1])
    assert_invariants(conn)


# messages ----------------------------------------------------------------------------------------


def test_unsettle_and_void_wager_tell_the_market_and_each_user(live: Live) -> None:
    admin = persona(live.actor, "admin", admin=True)
    bettor, other = persona(live.actor, "bettor"), persona(live.actor, "other")
    market = make_market(admin)
    x, y = market.outcomes
    wager_id = stake(bettor, market.id, x, 500)
    stake(other, market.id, y, 400)
    admin.call("settle_market", market_id=market.id, outcome_id=x)
    payout = wager(live.actor, wager_id)["payout"]
    live.commit_and_read()

    admin.call("unsettle_market", market_id=market.id, reason="wrong")
    messages = live.commit_and_read()
    unsettled = one(messages, "wagerbase_market", "unsettled")
    assert unsettled["status"] == "closed" and unsettled["previous_winning_outcome_id"] == x
    per_user = of(messages, "wagerbase_user", "wagers_unsettled")
    assert {(m["user_id"], m["reversed"], m["debited"], m["debt"]) for m in per_user} == {
        (str(bettor.user_id), payout, payout, 0),
        (str(other.user_id), 0, 0, 0),
    }
    balances = of(messages, "wagerbase_user", "balance")
    assert [m["user_id"] for m in balances] == [str(bettor.user_id)]
    assert balances[0]["reason"] == "unsettlement"

    admin.call("void_wager", wager_id=wager_id, reason="palpable")
    messages = live.commit_and_read()
    assert one(messages, "wagerbase_market", "odds")["total_pool"] == 400
    assert one(messages, "wagerbase_user", "wager_voided")["amount"] == 500
    assert one(messages, "wagerbase_user", "balance")["reason"] == "wager_void"


# concurrency -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fixed_odds", "parimutuel"])
def test_eight_admins_resettle_at_once_and_the_market_is_corrected_once(
    fresh_db: Callable[[], str], kind: str
) -> None:
    url = fresh_db()
    users = make_users(url, ["ana", "ben"])
    admins = make_users(url, ["boss"], admin=True)
    with Actor(url, admins["boss"], admin=True) as boss:
        market = boss.call("create_market", title="Final", outcomes=["x", "y"], kind=kind)
        first, second = outcome_ids(market)
        for name, outcome, amount in (
            ("ana", first, 1000),
            ("ben", second, 600),
            ("ana", second, 50),
        ):
            with Actor(url, users[name]) as bettor:
                bettor.call("place_wager", market_id=market["id"], outcome_id=outcome, stake=amount)
        with psycopg.connect(url) as conn, conn.transaction(force_rollback=True):
            service(conn).call("settle_market", market_id=market["id"], outcome_id=second)
            right = {n: balance(conn, u) for n, u in users.items()} | {"house": house(conn)}
        boss.call("settle_market", market_id=market["id"], outcome_id=first)

    with actors(url, 8, admins["boss"], admin=True) as clients:
        outcomes = all_at_once(
            8,
            lambda i: clients[i].call(
                "resettle_market", market_id=market["id"], outcome_id=second, reason=f"admin {i}"
            ),
        )

    assert len([o for o in outcomes if isinstance(o, dict)]) == 1
    assert {refusal(o) for o in outcomes if isinstance(o, psycopg.Error)} == {"invalid_argument"}
    with psycopg.connect(url) as conn:
        now = {n: balance(conn, u) for n, u in users.items()} | {"house": house(conn)}
        assert now == right
        assert scalar(conn, "select count(*) from app.ledger_reversals") == 1
        assert_invariants(conn)
