"""Responsible play: self-exclusion and the daily stake and deposit limits, persona by persona.

A bettor sets their own limits; tightening applies at once, loosening after the cooling-off
(`app.config.play_limit_cooling_off`, simulated by moving the pending change's time into the past
or by setting the delay to zero); a self-exclusion is never shortened. place_wager and deposit
enforce them over a rolling 24 hours; withdrawals never. Another bettor reads none of it, an admin
reads all of it and changes none, anonymous callers reach nothing. Last, sixteen concurrent
wagers by one user on four markets never take the user past their limit.
"""

import datetime
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.db.actors import Actor, refusal
from tests.db.concurrent import all_at_once
from tests.db.helpers import Market, balance, make_market, scalar
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, claims_for, create_user, detail
from tests.pgserver import Connection

DAY = datetime.timedelta(hours=24)


def now(conn: Connection) -> datetime.datetime:
    """The transaction's now(): what every call of the test sees as the present."""
    row = conn.execute("select now()").fetchone()
    assert row is not None
    moment: datetime.datetime = row[0]
    return moment


def as_json_time(conn: Connection, moment: datetime.datetime | str) -> str:
    """A timestamptz as the engine writes it in JSON (detail and answers)."""
    row = conn.execute("select to_jsonb(%s::timestamptz) #>> '{}'", [moment]).fetchone()
    assert row is not None
    return str(row[0])


def my_limits(who: Persona) -> dict[str, Any]:
    """The caller's row of public.my_play_limits, as a dict ({} when there is none)."""
    with who.acting():
        cursor = who.conn.execute("select * from public.my_play_limits")
        rows = cursor.fetchall()
    assert cursor.description is not None and len(rows) <= 1
    if not rows:
        return {}
    return {c.name: value for c, value in zip(cursor.description, rows[0], strict=True)}


def stake(who: Persona, market: Market, amount: int, **more: Any) -> dict[str, Any]:
    result: dict[str, Any] = who.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=amount, **more
    )
    return result


def refused_stake(who: Persona, key: str, market: Market, amount: int) -> dict[str, Any]:
    error = who.refused(
        key, "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=amount
    )
    return detail(error)


def pass_the_cooling_off(conn: Connection, who: Persona) -> None:
    """As the superuser: the pending changes' time has come (as if 24 hours had passed)."""
    conn.execute(
        """update app.play_limits
           set pending_daily_stake_limit_at = least(pending_daily_stake_limit_at, now()),
               pending_daily_deposit_limit_at = least(pending_daily_deposit_limit_at, now())
           where user_id = %s""",
        [who.user_id],
    )


def age_wagers(conn: Connection, who: Persona, age: datetime.timedelta) -> None:
    """As the superuser: the user's wagers so far were placed `age` ago."""
    conn.execute(
        "update app.wagers set created_at = now() - %s where user_id = %s", [age, who.user_id]
    )


# self-exclusion ----------------------------------------------------------------------------------


def test_an_excluded_bettor_cannot_wager_or_deposit_but_can_withdraw(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    stake(bettor, market, 1000)
    until = now(conn) + datetime.timedelta(days=30)
    answer = bettor.call("set_self_exclusion", until=until)
    assert (answer["effect"], answer["self_excluded"]) == ("immediate", True)
    assert answer["self_excluded_until"] == as_json_time(conn, until)

    wagers_before = scalar(conn, "select count(*) from app.wagers")
    assert refused_stake(bettor, "self_excluded", market, 100) == {
        "until": as_json_time(conn, until)
    }
    error = bettor.refused("self_excluded", "deposit", amount=100)
    assert error.sqlstate == "PT403"
    assert scalar(conn, "select count(*) from app.wagers") == wagers_before
    assert balance(conn, bettor) == 9000

    assert bettor.call("withdraw", amount=9000)["balance"] == 0
    assert_invariants(conn)


def test_exclusion_is_checked_before_the_market_and_a_replay_still_answers(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    """The check runs after the idempotency claim: a wager placed before the exclusion replays
    (no money moves); a new one is refused, whatever the market, even a closed one."""
    market = make_market(admin)
    first = stake(bettor, market, 500, idempotency_key="before")
    bettor.call("set_self_exclusion", until="infinity")
    again = stake(bettor, market, 500, idempotency_key="before")
    assert (again["wager_id"], again["replayed"]) == (first["wager_id"], True)
    admin.call("close_market", market_id=market.id)
    refused_stake(bettor, "self_excluded", market, 500)
    assert balance(conn, bettor) == 9500


def test_an_exclusion_can_be_extended_at_once_but_never_shortened_or_lifted(
    conn: Connection, bettor: Persona
) -> None:
    start = now(conn)
    bettor.call("set_self_exclusion", until=start + datetime.timedelta(days=7))
    longer = bettor.call("set_self_exclusion", until=start + datetime.timedelta(days=30))
    assert longer["effect"] == "immediate"
    assert longer["self_excluded_until"] == as_json_time(conn, start + datetime.timedelta(days=30))

    error = bettor.refused(
        "self_exclusion_locked", "set_self_exclusion", until=start + datetime.timedelta(days=29)
    )
    assert error.sqlstate == "PT409"
    assert detail(error) == {
        "until": as_json_time(conn, start + datetime.timedelta(days=30)),
        "requested": as_json_time(conn, start + datetime.timedelta(days=29)),
    }
    # lifting it (no end, or an end now or past) is not even a valid request
    for until in (None, start, start - datetime.timedelta(days=1)):
        assert detail(bettor.refused("invalid_argument", "set_self_exclusion", until=until))[
            "argument"
        ] == ("until")
    same = bettor.call("set_self_exclusion", until=start + datetime.timedelta(days=30))
    assert same["effect"] == "unchanged"
    forever = bettor.call("set_self_exclusion", until="infinity")
    assert forever["self_excluded_until"] == "infinity"
    bettor.refused(
        "self_exclusion_locked", "set_self_exclusion", until=start + datetime.timedelta(days=3650)
    )
    assert bettor.rows(
        "select self_excluded, self_excluded_until = 'infinity' from public.my_play_limits"
    ) == [(True, True)]


def test_once_an_exclusion_has_ended_the_bettor_plays_again_and_may_start_a_new_one(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    bettor.call("set_self_exclusion", until=now(conn) + datetime.timedelta(days=1))
    refused_stake(bettor, "self_excluded", market, 100)
    conn.execute(
        "update app.play_limits set self_excluded_until = now() - interval '1 second' "
        "where user_id = %s",
        [bettor.user_id],
    )
    assert my_limits(bettor)["self_excluded"] is False
    stake(bettor, market, 100)
    assert bettor.call("deposit", amount=100)["balance"] == 10000
    # the ended exclusion does not hold a new, shorter one back
    again = bettor.call("set_self_exclusion", until=now(conn) + datetime.timedelta(hours=1))
    assert (again["effect"], again["self_excluded"]) == ("immediate", True)
    refused_stake(bettor, "self_excluded", market, 100)
    assert_invariants(conn)


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


# history ---------------------------------------------------------------------------------------


def test_every_request_is_kept_in_the_history(conn: Connection, bettor: Persona) -> None:
    bettor.call("set_daily_stake_limit", amount=1000)
    bettor.call("set_daily_stake_limit", amount=2000)
    bettor.call("set_daily_deposit_limit", amount=500)
    bettor.call("set_self_exclusion", until="infinity")
    bettor.refused("self_exclusion_locked", "set_self_exclusion", until=now(conn) + DAY)
    rows = bettor.rows(
        """select setting, previous_value, requested_value, effect, applies_at = now(), actor
           from public.play_limit_changes order by id"""
    )
    assert rows == [
        ("daily_stake_limit", None, 1000, "immediate", True, bettor.user_id),
        ("daily_stake_limit", 1000, 2000, "pending", False, bettor.user_id),
        ("daily_deposit_limit", None, 500, "immediate", True, bettor.user_id),
        ("self_excluded_until", None, "infinity", "immediate", True, bettor.user_id),
    ]


# who may see and do what ---------------------------------------------------------------------


def test_another_bettor_reads_none_of_your_limits(
    conn: Connection, bettor: Persona, other: Persona
) -> None:
    bettor.call("set_daily_stake_limit", amount=1000)
    bettor.call("set_self_exclusion", until="infinity")
    for relation in (
        "public.my_play_limits",
        "public.play_limits",
        "public.play_limit_changes",
        "app.play_limits",
        "app.play_limits_in_force",
        "app.play_limit_changes",
    ):
        mine = 2 if relation.endswith("changes") else 1
        assert bettor.rows(f"select count(*) from {relation}") == [(mine,)], relation
        assert other.rows(f"select count(*) from {relation}") == [(0,)], relation
    assert my_limits(other) == {}


def test_admins_read_every_users_limits_and_cannot_change_them(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    bettor.call("set_daily_stake_limit", amount=1000)
    other.call("set_daily_deposit_limit", amount=500)
    assert admin.rows(
        "select user_id, daily_stake_limit, daily_deposit_limit from public.play_limits "
        "where user_id = any(%s) order by daily_stake_limit nulls last",
        [[bettor.user_id, other.user_id]],
    ) == [(bettor.user_id, 1000, None), (other.user_id, None, 500)]
    assert admin.rows(
        "select count(*) from public.play_limit_changes where user_id = any(%s)",
        [[bettor.user_id, other.user_id]],
    ) == [(2,)]
    assert my_limits(admin) == {}

    # the set_* functions act on the caller only: an admin's call sets the admin's own limit
    admin.call("set_daily_stake_limit", amount=None)
    assert my_limits(bettor)["daily_stake_limit"] == 1000
    for statement in (
        "update app.play_limits set daily_stake_limit = null",
        "delete from app.play_limits",
        "insert into app.play_limits (user_id) values (gen_random_uuid())",
        "delete from app.play_limit_changes",
    ):
        admin.denied(statement)
        bettor.denied(statement)
    assert my_limits(bettor)["daily_stake_limit"] == 1000


def test_anonymous_and_service_callers_reach_nothing(
    conn: Connection, anon: Persona, service_role: Persona
) -> None:
    for call in (
        "select public.set_daily_stake_limit(amount => 1)",
        "select public.set_daily_deposit_limit(amount => 1)",
        "select public.set_self_exclusion(until => 'infinity')",
        "select count(*) from public.my_play_limits",
        "select count(*) from public.play_limits",
        "select count(*) from public.play_limit_changes",
    ):
        anon.denied(call)
    for call in (
        "select public.set_daily_stake_limit(amount => 1)",
        "select public.set_self_exclusion(until => 'infinity')",
    ):
        service_role.denied(call)


def test_a_token_for_a_missing_or_deleted_user_sets_nothing(
    conn: Connection, bettor: Persona
) -> None:
    ghost_id = uuid.uuid4()
    ghost = Persona(conn, "ghost", ghost_id, claims_for(ghost_id))
    ghost.refused("unknown_user", "set_daily_stake_limit", amount=100)
    conn.execute("update auth.users set deleted_at = now() where id = %s", [bettor.user_id])
    bettor.refused("unknown_user", "set_self_exclusion", until="infinity")
    assert scalar(conn, "select count(*) from app.play_limits where user_id = %s", [ghost_id]) == 0


# concurrency ----------------------------------------------------------------------------------


def test_sixteen_concurrent_wagers_never_pass_the_daily_stake_limit(
    fresh_db: Callable[[], str],
) -> None:
    """One user, sixteen connections, four markets (so the market locks do not serialise them):
    only the wallet lock stands between the wagers and the limit. 1,000 limit, 300 a wager,
    plenty of money: exactly three are placed."""
    url = fresh_db()
    with psycopg.connect(url) as setup:
        solo = create_user(setup, "solo")
        boss = create_user(setup, "boss", admin=True)
        setup.commit()
    with Actor(url, boss, admin=True) as admin:
        markets = [
            admin.call("create_market", title=f"Race {i}", outcomes=["a", "b"], kind=kind)
            for i, kind in enumerate(["parimutuel", "fixed_odds"] * 2)
        ]
    with Actor(url, solo) as me:
        me.call("set_daily_stake_limit", amount=1000)
        me.call("deposit", amount=10000)

    clients = [Actor(url, solo, name=f"solo{i}") for i in range(16)]
    try:
        outcomes = all_at_once(
            16,
            lambda i: clients[i].call(
                "place_wager",
                market_id=markets[i % 4]["id"],
                outcome_id=markets[i % 4]["outcomes"][i % 2]["outcome_id"],
                stake=300,
            ),
        )
    finally:
        for client in clients:
            client.close()

    placed = [o for o in outcomes if isinstance(o, dict)]
    refused = Counter(refusal(o) for o in outcomes if isinstance(o, psycopg.Error))
    assert (len(placed), refused) == (3, {"daily_stake_limit_reached": 13})
    with psycopg.connect(url) as conn:
        assert scalar(conn, "select sum(stake) from app.wagers where user_id = %s", [solo]) == 900
        assert balance(conn, solo) == 20000 - 900
        assert_invariants(conn)
