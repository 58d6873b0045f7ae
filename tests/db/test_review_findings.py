"""Rules a code review found unguarded: each test failed before its fix."""

from collections.abc import Callable
from typing import Any

import psycopg

from tests.db.actors import Actor, make_users
from tests.db.helpers import balance, make_market
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, persona
from tests.pgserver import Connection


def test_a_void_refunds_a_user_with_thousands_of_wagers_on_the_market(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    """One refund message per user used to list every wager id; 1,500 of them passed NOTIFY's
    8000-byte limit and the error undid the void, leaving every stake stuck in escrow."""
    market = make_market(admin, margin=10**9)
    with bettor.acting():
        conn.execute(
            "select public.place_wager(market_id => %s, outcome_id => %s, stake => 1)"
            " from generate_series(1, 1500)",
            [market.id, market.outcomes[0]],
        )
    before = balance(conn, bettor)
    refunded = admin.call("void_market", market_id=market.id, reason="called off")
    assert refunded["refunded"] == {"wagers": 1500, "amount": 1500}
    assert balance(conn, bettor) == before + 1500
    assert_invariants(conn)


def test_a_demoted_admin_loses_admin_rights_before_their_token_expires(
    conn: Connection, admin: Persona
) -> None:
    make_market(admin)
    assert admin.rows("select count(*) from public.admin_actions") != [(0,)]
    conn.execute("select app._set_admin(%s, false)", [str(admin.user_id)])
    admin.refused("not_admin", "create_market", title="After demotion", outcomes=["a", "b"])
    # the admin-only reads go with the calls: the policies ask auth.users too, not the token alone
    assert admin.rows("select app._is_admin()") == [(False,)]
    for view in ("admin_actions", "quote_telemetry", "user_debts", "side_effect_jobs"):
        assert admin.rows(f"select count(*) from public.{view}") == [(0,)], view


def test_a_deleted_admin_reads_nothing_of_the_admins(conn: Connection, admin: Persona) -> None:
    make_market(admin)
    conn.execute("update auth.users set deleted_at = now() where id = %s", [admin.user_id])
    assert admin.rows("select app._is_admin()") == [(False,)]
    assert admin.rows("select count(*) from public.admin_actions") == [(0,)]


def test_parimutuel_payouts_are_rounded_down_even_when_numeric_division_rounds_up(
    conn: Connection, admin: Persona
) -> None:
    """stake * net / winning_pool = 2389560274.99...; numeric division rounded it to ...275."""
    conn.execute("update app.config set initial_balance = 4000000000")
    winner, other, loser = (persona(conn, name) for name in ("winner", "other", "loser"))
    market = make_market(admin, kind="parimutuel", rake_bps=0, max_payout=10**12)
    first, second = market.outcomes
    winner.call("place_wager", market_id=market.id, outcome_id=first, stake=796516814)
    other.call("place_wager", market_id=market.id, outcome_id=first, stake=203483193)
    loser.call("place_wager", market_id=market.id, outcome_id=second, stake=2000012359)
    settled = admin.call("settle_market", market_id=market.id, outcome_id=first)
    assert (settled["net_pool"], settled["winning_pool"]) == (3000012366, 1000000007)
    payout = conn.execute(
        "select payout from app.wagers where user_id = %s", [winner.user_id]
    ).fetchone()
    assert payout == (796516814 * 3000012366 // 1000000007,)
    assert payout == (2389560274,)
    assert_invariants(conn)


def test_approval_checks_the_cap_at_the_odds_the_wager_keeps(
    conn: Connection, admin: Persona
) -> None:
    """Two held 60.00 wagers at 1.5 each promise 90.00; after the first is approved the live odds
    are 1.3125 and the live cap 64.00, but the second still pays at 1.5: approving it would put
    180.00 of promises against 120.00 staked, a loss beyond the 50.00 margin."""
    first_bettor, second_bettor = persona(conn, "first"), persona(conn, "second")
    market = make_market(admin, requires_approval=True)
    outcome = market.outcomes[0]
    held = [
        who.call("place_wager", market_id=market.id, outcome_id=outcome, stake=6000)["wager_id"]
        for who in (first_bettor, second_bettor)
    ]
    admin.call("approve_wager", wager_id=held[0])
    refused = admin.refused("stake_above_cap", "approve_wager", wager_id=held[1])
    assert refused.diag.message_primary == "stake_above_cap"
    assert_invariants(conn)


def test_a_resettlement_first_takes_a_debtors_new_winnings_toward_their_debt(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    """The bettor wins on X, withdraws everything, and the result is corrected to Y, where the
    bettor also had a wager: the reversal leaves a debt, and the new winnings repay it first (the
    house must not carry the debt while the bettor walks away with the new payout)."""
    market = make_market(admin)
    x, y = market.outcomes
    bettor.call("place_wager", market_id=market.id, outcome_id=x, stake=500)
    bettor.call("place_wager", market_id=market.id, outcome_id=y, stake=400)
    other.call("place_wager", market_id=market.id, outcome_id=y, stake=700)
    admin.call("settle_market", market_id=market.id, outcome_id=x)
    bettor.call("withdraw", amount=balance(conn, bettor))
    assert balance(conn, bettor) == 0

    admin.call("resettle_market", market_id=market.id, outcome_id=y, reason="wrong winner")
    row = conn.execute(
        "select payout from app.wagers where user_id = %s and outcome_id = %s",
        [bettor.user_id, y],
    ).fetchone()
    assert row is not None
    (won,) = row
    first_payout = 750
    assert balance(conn, bettor) == max(0, won - first_payout)
    debts = conn.execute(
        "select coalesce(sum(amount), 0) from app.user_debts where user_id = %s", [bettor.user_id]
    ).fetchone()
    assert debts == (max(0, first_payout - won),)
    assert_invariants(conn)


def test_a_voided_wagers_refund_first_repays_its_owners_debt_on_that_market(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    x, y = market.outcomes
    kept = bettor.call("place_wager", market_id=market.id, outcome_id=x, stake=500)["wager_id"]
    other.call("place_wager", market_id=market.id, outcome_id=y, stake=700)
    admin.call("settle_market", market_id=market.id, outcome_id=x)
    bettor.call("withdraw", amount=balance(conn, bettor))
    admin.call("unsettle_market", market_id=market.id, reason="under review")
    assert conn.execute(
        "select sum(amount) from app.user_debts where user_id = %s", [bettor.user_id]
    ).fetchone() == (750,)

    admin.call("void_wager", wager_id=kept, reason="the event was not run")
    assert balance(conn, bettor) == 0
    assert conn.execute(
        "select sum(amount) from app.user_debts where user_id = %s", [bettor.user_id]
    ).fetchone() == (250,)
    assert_invariants(conn)


def unsettled_with_a_debt(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> tuple[int, int]:
    """The bettor stakes 1,000 on x and 1,000 on y, another user 2,000 on y; x wins, the bettor
    withdraws everything and the market is unsettled: the wallet held nothing, so the whole payout
    of x is a debt. Returns the market and y."""
    market = make_market(admin)
    x, y = market.outcomes
    bettor.call("place_wager", market_id=market.id, outcome_id=x, stake=1000)
    bettor.call("place_wager", market_id=market.id, outcome_id=y, stake=1000)
    other.call("place_wager", market_id=market.id, outcome_id=y, stake=2000)
    admin.call("settle_market", market_id=market.id, outcome_id=x)
    bettor.call("withdraw", amount=balance(conn, bettor))
    admin.call("unsettle_market", market_id=market.id, reason="under review")
    return market.id, y


def debt_of(conn: Connection, who: Persona) -> int:
    row = conn.execute(
        "select coalesce(sum(amount), 0) from app.user_debts where user_id = %s", [who.user_id]
    ).fetchone()
    assert row is not None
    return int(row[0])


def winnings(conn: Connection, who: Persona) -> int:
    row = conn.execute(
        "select coalesce(sum(payout), 0) from app.wagers where user_id = %s and settlement = 'won'",
        [who.user_id],
    ).fetchone()
    assert row is not None
    return int(row[0])


def assert_collected(
    conn: Connection, debtor: Persona, answer: dict[str, Any], credited: int, debt: int
) -> None:
    """The debt rule after `credited` went to a debtor who owed `debt`: the answer says what was
    collected, the wallet keeps only what exceeded the debt, the debt keeps what was not repaid."""
    assert answer["debts_collected"] == min(credited, debt)
    assert balance(conn, debtor) == max(0, credited - debt)
    assert debt_of(conn, debtor) == max(0, debt - credited)
    assert_invariants(conn)


def test_unsettle_then_propose_and_confirm_collects_the_debt_like_resettle_does(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    """A market that requires two admins cannot be resettled: the documented path is unsettle,
    propose, confirm. That path used to pay the debtor in full and collect nothing."""
    market_id, y = unsettled_with_a_debt(conn, admin, bettor, other)
    debt = debt_of(conn, bettor)
    assert debt > 0 and balance(conn, bettor) == 0
    admin.call("require_settlement_confirmation", market_id=market_id, required=True)
    admin.call("propose_settlement", market_id=market_id, outcome_id=y)
    second = persona(conn, "second_admin", admin=True)

    confirmed = second.call("confirm_settlement", market_id=market_id)

    assert_collected(conn, bettor, confirmed, winnings(conn, bettor), debt)


def test_unsettle_then_settle_collects_the_debt(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market_id, y = unsettled_with_a_debt(conn, admin, bettor, other)
    debt = debt_of(conn, bettor)

    settled = admin.call("settle_market", market_id=market_id, outcome_id=y)

    assert_collected(conn, bettor, settled, winnings(conn, bettor), debt)


def test_unsettle_then_void_market_takes_the_refund_toward_the_debt(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market_id, _ = unsettled_with_a_debt(conn, admin, bettor, other)
    debt = debt_of(conn, bettor)
    other_before = balance(conn, other)

    voided = admin.call("void_market", market_id=market_id, reason="called off")

    assert balance(conn, other) == other_before + 2000  # no debt: the whole refund
    assert_collected(conn, bettor, voided, 2000, debt)  # both of the bettor's stakes


def test_a_busy_market_does_not_queue_wagers_on_other_markets_behind_the_scheduler(
    fresh_db: Callable[[], str],
) -> None:
    """While one transaction holds market B (a long settlement, say), the scheduler's snapshot of
    market A used to take a key-share lock on A through its foreign key and then wait for B, and
    every wager on A waited with it. With markets locked `for no key update`, nothing waits."""
    url = fresh_db()
    users = make_users(url, ["punter"])
    admins = make_users(url, ["boss"], admin=True)
    with Actor(url, admins["boss"], admin=True) as boss:
        a = boss.call("create_market", title="A", outcomes=["x", "y"])
        b = boss.call("create_market", title="B", outcomes=["x", "y"])
    with (
        psycopg.connect(url) as holder,
        psycopg.connect(url, autocommit=True) as scheduler,
        Actor(url, users["punter"]) as punter,
    ):
        holder.execute("select app._lock_market(%s)", [b["id"]])  # as every engine function does
        scheduler.execute("set lock_timeout = '5s'")
        scheduler.execute("select app.take_pool_snapshots()")
        punter.conn.execute("set lock_timeout = '5s'")
        placed = punter.call(
            "place_wager", market_id=a["id"], outcome_id=a["outcomes"][0]["outcome_id"], stake=100
        )
        assert placed["approval"] == "accepted"
        holder.rollback()
