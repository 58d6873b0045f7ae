"""Responsible play, self-exclusion: an excluded bettor cannot wager or deposit but can withdraw;
the exclusion is checked before the market and a replay still answers; it can be extended at once
but never shortened or lifted; once ended, the bettor plays again and may start a new one.

A bettor sets their own limits; tightening applies at once, loosening after the cooling-off
(`app.config.play_limit_cooling_off`, simulated by moving the pending change's time into the past
or by setting the delay to zero); a self-exclusion is never shortened. place_wager and deposit
enforce them over a rolling 24 hours; withdrawals never. Persona by persona, each test rolled
back; the helpers are in tests/db/play_limits.py.
"""

import datetime

from tests.db.helpers import balance, make_market, scalar
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail
from tests.db.play_limits import as_json_time, my_limits, now, refused_stake, stake
from tests.pgserver import Connection

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
