"""Responsible play, the limits' history and who may see and do what: every request is kept in the
history; another bettor reads none of your limits, an admin reads every user's and changes none,
anonymous and service callers reach nothing, and a token for a missing or deleted user sets
nothing.

A bettor sets their own limits; tightening applies at once, loosening after the cooling-off
(`app.config.play_limit_cooling_off`, simulated by moving the pending change's time into the past
or by setting the delay to zero); a self-exclusion is never shortened. place_wager and deposit
enforce them over a rolling 24 hours; withdrawals never. Persona by persona, each test rolled
back; the helpers are in tests/db/play_limits.py.
"""

import uuid

from tests.db.helpers import scalar
from tests.db.personas import Persona, claims_for
from tests.db.play_limits import DAY, my_limits, now
from tests.pgserver import Connection

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
