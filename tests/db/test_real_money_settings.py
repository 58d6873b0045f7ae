"""Play money or real money (migration 0016, docs/operations.md): the settings an admin (or the
service role) changes with update_settings, logged with before and after, and what they switch:
the sign-up grant, and self-service deposits (withdrawals stay open). Persona by persona, each
test rolled back."""

from typing import Any

from psycopg.types.json import Jsonb

from tests.db.helpers import balance, scalar
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail
from tests.db.real_money import (
    PLAY_MONEY,
    REAL_MONEY,
    actions,
    real_money,
    settings,
    system_balance,
)
from tests.pgserver import Connection

# settings ----------------------------------------------------------------------------------------


def test_the_defaults_are_play_money_and_everyone_reads_them(
    conn: Connection, anon: Persona, bettor: Persona, admin: Persona, service_role: Persona
) -> None:
    assert settings(conn) == PLAY_MONEY
    for who in (anon, bettor, admin, service_role):
        [(shown,)] = who.rows("select to_jsonb(s) from public.settings as s")
        assert {key: shown[key] for key in PLAY_MONEY} == PLAY_MONEY, who.name


def test_an_admin_changes_settings_and_the_log_keeps_before_and_after(
    conn: Connection, admin: Persona, anon: Persona
) -> None:
    after = admin.call("update_settings", settings={"max_deposit": 5000, **REAL_MONEY})
    expected = {**PLAY_MONEY, **REAL_MONEY, "max_deposit": 5000}
    assert after == expected
    assert settings(conn) == expected
    [(shown,)] = anon.rows("select to_jsonb(s) from public.settings as s")
    assert {key: shown[key] for key in PLAY_MONEY} == expected
    assert actions(conn, "update_settings") == [
        (admin.user_id, "authenticated", None, PLAY_MONEY, expected)
    ]
    # only what is named changes
    assert admin.call("update_settings", settings={"initial_balance": 2500}) == {
        **expected,
        "initial_balance": 2500,
    }


def test_the_service_role_may_change_settings_and_bettors_may_not(
    conn: Connection, bettor: Persona, anon: Persona, service_role: Persona
) -> None:
    bettor.refused("not_admin", "update_settings", settings=REAL_MONEY)
    anon.denied("select public.update_settings('{\"initial_balance\": 0}')")
    assert settings(conn) == PLAY_MONEY
    assert actions(conn, "update_settings") == []
    assert service_role.call("update_settings", settings=REAL_MONEY) == {**PLAY_MONEY, **REAL_MONEY}
    assert actions(conn, "update_settings")[0][:2] == (None, "service_role")


def test_update_settings_refuses_unknown_keys_and_wrong_values_and_changes_nothing(
    conn: Connection, admin: Persona
) -> None:
    wrong: list[tuple[Any, str]] = [
        ({"odds_tolerance": 0.5}, "odds_tolerance"),  # not one of the money settings
        ({"initial_balance": 0, "free_money": True}, "free_money"),
        ({"initial_balance": "100"}, "initial_balance"),  # a string is never converted
        ({"initial_balance": "0x10"}, "initial_balance"),
        ({"initial_balance": -1}, "initial_balance"),
        ({"initial_balance": 10.5}, "initial_balance"),
        ({"initial_balance": None}, "initial_balance"),
        ({"max_deposit": 0}, "max_deposit"),
        ({"max_withdrawal": 10**15 + 1}, "max_withdrawal"),
        ({"self_service_deposits": "false"}, "self_service_deposits"),
        ({"withdrawals_require_approval": 1}, "withdrawals_require_approval"),
        ({"anonymous_sign_ins": "true"}, "anonymous_sign_ins"),
        ({}, "settings"),
        ([{"initial_balance": 0}], "settings"),
        (Jsonb("real-money"), "settings"),  # a JSON string, not an object
        (Jsonb(5), "settings"),
    ]
    for value, argument in wrong:
        error = admin.refused("invalid_argument", "update_settings", settings=value)
        assert detail(error)["argument"] == argument, value
    error = admin.refused("invalid_argument", "update_settings", settings=None)
    assert detail(error)["argument"] == "settings"
    assert settings(conn) == PLAY_MONEY
    assert actions(conn, "update_settings") == []
    # the edges are accepted
    admin.call("update_settings", settings={"initial_balance": 0, "max_deposit": 10**15})
    admin.call("update_settings", settings={"max_withdrawal": 1})
    assert settings(conn)["max_withdrawal"] == 1
    # a whole number written with a fraction is that number (JSON does not tell 100 from 100.0)
    assert admin.call("update_settings", settings={"max_deposit": 100.0})["max_deposit"] == 100
    assert settings(conn)["max_deposit"] == 100


def test_the_two_profiles_are_what_the_docs_say(conn: Connection, admin: Persona) -> None:
    real = conn.execute("select app.settings_profile('real-money')").fetchone()
    play = conn.execute("select app.settings_profile('play-money')").fetchone()
    assert real == (REAL_MONEY,)
    assert play == ({key: PLAY_MONEY[key] for key in REAL_MONEY},)
    admin.call("update_settings", settings=REAL_MONEY)
    admin.call("update_settings", settings=play[0])
    assert settings(conn) == PLAY_MONEY


# the sign-up grant --------------------------------------------------------------------------------


def test_under_the_real_money_profile_a_new_wallet_gets_nothing(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    grants = system_balance(conn, "grants")
    real_money(conn, admin)
    assert bettor.call("get_wallet") == {"user_id": str(bettor.user_id), "balance": 0, "version": 0}
    assert (
        scalar(conn, "select count(*) from app.ledger_entries where user_id = %s", [bettor.user_id])
        == 0
    )
    assert system_balance(conn, "grants") == grants
    assert_invariants(conn)


# self-service deposits ----------------------------------------------------------------------------


def test_with_self_service_deposits_off_a_bettor_s_deposit_is_refused(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    bettor.call("deposit", amount=500, idempotency_key="before")
    admin.call("update_settings", settings={"self_service_deposits": False})
    error = bettor.refused("deposits_disabled", "deposit", amount=1000000, idempotency_key="after")
    assert error.sqlstate == "PT403"
    assert detail(error) == {"amount": 1000000}
    assert balance(conn, bettor) == 10500
    # a deposit accepted before the switch replays; the refused call left its key free
    assert bettor.call("deposit", amount=500, idempotency_key="before")["replayed"] is True
    admin.call("update_settings", settings={"self_service_deposits": True})
    assert bettor.call("deposit", amount=1000000, idempotency_key="after")["replayed"] is False
    assert balance(conn, bettor) == 1010500
    assert_invariants(conn)


def test_withdrawals_stay_open_when_deposits_are_off(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    admin.call("update_settings", settings={"self_service_deposits": False})
    assert bettor.call("withdraw", amount=400)["balance"] == 9600
