"""Responsible play, the daily deposit limit: it applies at once, exactly at the boundary;
withdrawals are never limited and make no room for deposits; a refused deposit leaves its key free
and a replay is not counted twice; raising it waits for the cooling-off.

A bettor sets their own limits; tightening applies at once, loosening after the cooling-off
(`app.config.play_limit_cooling_off`, simulated by moving the pending change's time into the past
or by setting the delay to zero); a self-exclusion is never shortened. place_wager and deposit
enforce them over a rolling 24 hours; withdrawals never. Persona by persona, each test rolled
back; the helpers are in tests/db/play_limits.py.
"""

from tests.db.helpers import balance
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail
from tests.db.play_limits import my_limits, pass_the_cooling_off
from tests.pgserver import Connection

# the daily deposit limit -------------------------------------------------------------------------


def test_a_deposit_limit_applies_at_once_exactly_at_the_boundary(
    conn: Connection, bettor: Persona
) -> None:
    bettor.call("deposit", amount=300)
    bettor.call("set_daily_deposit_limit", amount=1000)
    error = bettor.refused("daily_deposit_limit_reached", "deposit", amount=701)
    assert error.sqlstate == "PT422"
    assert detail(error) == {"limit": 1000, "used": 300, "amount": 701}
    assert bettor.call("deposit", amount=700)["balance"] == 11000
    bettor.refused("daily_deposit_limit_reached", "deposit", amount=1)
    assert my_limits(bettor)["deposit_used"] == 1000
    assert_invariants(conn)


def test_withdrawals_are_never_limited_and_do_not_make_room_for_deposits(
    conn: Connection, bettor: Persona
) -> None:
    bettor.call("set_daily_deposit_limit", amount=500)
    bettor.call("set_daily_stake_limit", amount=0)
    bettor.call("deposit", amount=500)
    assert bettor.call("withdraw", amount=10500)["balance"] == 0
    assert detail(bettor.refused("daily_deposit_limit_reached", "deposit", amount=1)) == {
        "limit": 500,
        "used": 500,
        "amount": 1,
    }


def test_a_refused_deposit_leaves_its_key_free_and_a_replay_is_not_counted_twice(
    conn: Connection, bettor: Persona
) -> None:
    bettor.call("set_daily_deposit_limit", amount=1000)
    first = bettor.call("deposit", amount=600, idempotency_key="d1")
    assert bettor.call("deposit", amount=600, idempotency_key="d1") == first | {"replayed": True}
    bettor.refused("daily_deposit_limit_reached", "deposit", amount=600, idempotency_key="d2")
    assert bettor.call("deposit", amount=400, idempotency_key="d2")["replayed"] is False
    assert balance(conn, bettor) == 11000


def test_raising_a_deposit_limit_waits_for_the_cooling_off(
    conn: Connection, bettor: Persona
) -> None:
    bettor.call("set_daily_deposit_limit", amount=500)
    assert bettor.call("set_daily_deposit_limit", amount=2000)["effect"] == "pending"
    bettor.call("deposit", amount=500)
    bettor.refused("daily_deposit_limit_reached", "deposit", amount=1)
    pass_the_cooling_off(conn, bettor)
    bettor.call("deposit", amount=1500)
    bettor.refused("daily_deposit_limit_reached", "deposit", amount=1)
    assert_invariants(conn)
