"""Responsible play, the daily stake limit: it applies at once and refuses the wager that would
cross it, counts pending wagers (not rejected ones) and settled and voided ones of the last 24
hours; zero allows no wager, a negative one is refused; raising or removing it waits for the
cooling-off, tightening again drops a pending loosening, and the cooling-off comes from config.
(Concurrent wagers against it: tests/db/test_races_limits_and_schedulers.py.)

A bettor sets their own limits; tightening applies at once, loosening after the cooling-off
(`app.config.play_limit_cooling_off`, simulated by moving the pending change's time into the past
or by setting the delay to zero); a self-exclusion is never shortened. place_wager and deposit
enforce them over a rolling 24 hours; withdrawals never. Persona by persona, each test rolled
back; the helpers are in tests/db/play_limits.py.
"""

import datetime

import psycopg
import pytest

from tests.db.helpers import balance, make_market
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail
from tests.db.play_limits import (
    DAY,
    age_wagers,
    as_json_time,
    my_limits,
    now,
    pass_the_cooling_off,
    refused_stake,
    stake,
)
from tests.pgserver import Connection

# the daily stake limit ---------------------------------------------------------------------------


def test_a_stake_limit_applies_at_once_and_refuses_the_wager_that_would_cross_it(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    answer = bettor.call("set_daily_stake_limit", amount=1000)
    assert (answer["effect"], answer["daily_stake_limit"], answer["stake_used"]) == (
        "immediate",
        1000,
        0,
    )
    stake(bettor, market, 600)
    error = bettor.refused(
        "daily_stake_limit_reached",
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=401,
    )
    assert error.sqlstate == "PT422"
    assert detail(error) == {"limit": 1000, "used": 600, "stake": 401}
    stake(bettor, market, 400)  # exactly at the limit
    assert refused_stake(bettor, "daily_stake_limit_reached", market, 1) == {
        "limit": 1000,
        "used": 1000,
        "stake": 1,
    }
    assert my_limits(bettor)["stake_used"] == 1000
    assert balance(conn, bettor) == 9000
    assert_invariants(conn)


def test_the_stake_limit_counts_pending_wagers_but_not_rejected_ones(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    held = make_market(admin, requires_approval=True)
    bettor.call("set_daily_stake_limit", amount=1000)
    pending = stake(bettor, held, 700)
    assert pending["approval"] == "pending"
    assert refused_stake(bettor, "daily_stake_limit_reached", held, 301) == {
        "limit": 1000,
        "used": 700,
        "stake": 301,
    }
    admin.call("reject_wager", wager_id=pending["wager_id"], reason="too big")
    stake(bettor, held, 1000)
    assert_invariants(conn)


def test_the_stake_limit_counts_settled_and_voided_wagers_of_the_window(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    """The limit is on what was staked, not on what is still at risk."""
    market = make_market(admin)
    bettor.call("set_daily_stake_limit", amount=1000)
    stake(bettor, market, 800)
    admin.call("void_market", market_id=market.id, reason="abandoned")
    assert balance(conn, bettor) == 10000
    refused_stake(bettor, "daily_stake_limit_reached", make_market(admin), 201)


def test_a_day_is_the_last_24_hours(conn: Connection, admin: Persona, bettor: Persona) -> None:
    market = make_market(admin)
    bettor.call("set_daily_stake_limit", amount=1000)
    stake(bettor, market, 1000)
    age_wagers(conn, bettor, DAY - datetime.timedelta(seconds=1))
    refused_stake(bettor, "daily_stake_limit_reached", market, 1)
    age_wagers(conn, bettor, DAY)
    assert my_limits(bettor)["stake_used"] == 0
    stake(bettor, market, 1000)


def test_a_zero_stake_limit_allows_no_wager_and_a_negative_one_is_refused(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    bettor.call("set_daily_stake_limit", amount=0)
    assert refused_stake(bettor, "daily_stake_limit_reached", market, 1) == {
        "limit": 0,
        "used": 0,
        "stake": 1,
    }
    assert detail(bettor.refused("invalid_amount", "set_daily_stake_limit", amount=-1)) == {
        "amount": -1
    }
    assert my_limits(bettor)["daily_stake_limit"] == 0


def test_raising_a_stake_limit_waits_for_the_cooling_off(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    bettor.call("set_daily_stake_limit", amount=1000)
    answer = bettor.call("set_daily_stake_limit", amount=5000)
    applies_at = now(conn) + DAY
    assert answer["effect"] == "pending"
    assert answer["applies_at"] == as_json_time(conn, applies_at)
    shown = my_limits(bettor)
    assert (
        shown["daily_stake_limit"],
        shown["pending_daily_stake_limit"],
        shown["pending_daily_stake_limit_at"],
    ) == (1000, 5000, applies_at)

    stake(bettor, market, 1000)
    refused_stake(bettor, "daily_stake_limit_reached", market, 1)

    pass_the_cooling_off(conn, bettor)
    shown = my_limits(bettor)
    assert (shown["daily_stake_limit"], shown["pending_daily_stake_limit_at"]) == (5000, None)
    stake(bettor, market, 4000)
    refused_stake(bettor, "daily_stake_limit_reached", market, 1)
    assert_invariants(conn)


def test_removing_a_stake_limit_waits_for_the_cooling_off_too(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    bettor.call("set_daily_stake_limit", amount=100)
    answer = bettor.call("set_daily_stake_limit", amount=None)
    assert (answer["effect"], answer["daily_stake_limit"]) == ("pending", 100)
    shown = my_limits(bettor)
    assert shown["pending_daily_stake_limit"] is None
    assert shown["pending_daily_stake_limit_at"] == now(conn) + DAY
    refused_stake(bettor, "daily_stake_limit_reached", market, 101)
    pass_the_cooling_off(conn, bettor)
    assert my_limits(bettor)["daily_stake_limit"] is None
    stake(bettor, market, 5000)


def test_tightening_again_drops_a_pending_loosening_and_repeating_it_keeps_its_time(
    conn: Connection, bettor: Persona
) -> None:
    bettor.call("set_daily_stake_limit", amount=1000)
    first = bettor.call("set_daily_stake_limit", amount=3000)
    conn.execute(  # the first request was made an hour ago
        """update app.play_limits
           set pending_daily_stake_limit_at = pending_daily_stake_limit_at - interval '1 hour'
           where user_id = %s""",
        [bettor.user_id],
    )
    repeated = bettor.call("set_daily_stake_limit", amount=3000)
    assert repeated["effect"] == "unchanged"
    assert repeated["applies_at"] == as_json_time(
        conn, now(conn) + DAY - datetime.timedelta(hours=1)
    )
    other_value = bettor.call("set_daily_stake_limit", amount=2000)
    assert (other_value["effect"], other_value["applies_at"]) == ("pending", first["applies_at"])

    back = bettor.call("set_daily_stake_limit", amount=1000)
    assert (back["effect"], back["pending_daily_stake_limit_at"]) == ("immediate", None)
    assert bettor.call("set_daily_stake_limit", amount=1000)["effect"] == "unchanged"
    lower = bettor.call("set_daily_stake_limit", amount=900)
    assert (lower["effect"], lower["daily_stake_limit"]) == ("immediate", 900)


def test_the_cooling_off_comes_from_config(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    conn.execute("update app.config set play_limit_cooling_off = interval '1 hour'")
    bettor.call("set_daily_deposit_limit", amount=100)
    answer = bettor.call("set_daily_deposit_limit", amount=200)
    assert answer["applies_at"] == as_json_time(conn, now(conn) + datetime.timedelta(hours=1))
    conn.execute("update app.config set play_limit_cooling_off = interval '0'")
    assert bettor.call("set_daily_deposit_limit", amount=300)["effect"] == "immediate"
    assert my_limits(bettor)["daily_deposit_limit"] == 300
    with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
        conn.execute("update app.config set play_limit_cooling_off = interval '-1 second'")
