"""What the read views add for the web app: `markets` says whether a market's settlement needs a
second admin, `wagers` flags a big wager against `app.config.big_wager_min_stake` (migration
0011), and `settings` lets any client read the engine's settings, among them the play limits'
cooling-off, which is exactly how long a loosened limit waits."""

import datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.db.helpers import make_market
from tests.db.personas import Persona
from tests.pgserver import Connection


def view_rows(who: Persona, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """A query as `who`, each row as a dict."""
    with who.acting():
        cursor = who.conn.execute(query, params or [])
        rows = cursor.fetchall()
    assert cursor.description is not None
    names = [c.name for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in rows]


def one(who: Persona, query: str, params: list[Any] | None = None) -> dict[str, Any]:
    rows = view_rows(who, query, params)
    assert len(rows) == 1, rows
    return rows[0]


def set_config(conn: Connection, column: str, value: Any) -> None:
    """Change a setting as the database owner does (the test's transaction is rolled back)."""
    conn.execute(
        sql.SQL("update app.config set {} = %s").format(sql.Identifier(column)),
        [value],
    )


# markets.settlement_requires_confirmation -------------------------------------------------------


def test_markets_show_everyone_whether_settlement_needs_a_second_admin(
    admin: Persona, bettor: Persona, anon: Persona
) -> None:
    market = make_market(admin)
    flag = "select settlement_requires_confirmation as f from public.markets where id = %s"
    for who in (anon, bettor, admin):
        assert one(who, flag, [market.id])["f"] is False
    admin.call("require_settlement_confirmation", market_id=market.id, required=True)
    for who in (anon, bettor, admin):
        assert one(who, flag, [market.id])["f"] is True
    admin.call("require_settlement_confirmation", market_id=market.id, required=False)
    assert one(anon, flag, [market.id])["f"] is False


# wagers.is_big ----------------------------------------------------------------------------------


def test_a_wager_is_big_from_the_configured_stake_on(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    set_config(conn, "big_wager_min_stake", 500)
    market = make_market(admin)
    ids = {
        stake: bettor.call(
            "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=stake
        )["id"]
        for stake in (499, 500, 501)
    }
    flags = "select id, is_big from public.{} where market_id = %s"
    for who, view in ((admin, "wagers"), (bettor, "wagers"), (bettor, "my_wagers")):
        shown = {r["id"]: r["is_big"] for r in view_rows(who, flags.format(view), [market.id])}
        assert shown == {ids[499]: False, ids[500]: True, ids[501]: True}, (who.name, view)

    # read against the setting at the time of the read: a new threshold re-flags every wager
    set_config(conn, "big_wager_min_stake", 501)
    shown = {r["id"]: r["is_big"] for r in view_rows(admin, flags.format("wagers"), [market.id])}
    assert shown == {ids[499]: False, ids[500]: False, ids[501]: True}


def test_big_wager_min_stake_defaults_to_100_and_must_be_positive(conn: Connection) -> None:
    row = conn.execute("select big_wager_min_stake from app.config").fetchone()
    assert row == (10000,)
    for bad in (0, -1):
        with pytest.raises(psycopg.errors.CheckViolation) as refused, conn.transaction():
            set_config(conn, "big_wager_min_stake", bad)
        assert refused.value.diag.constraint_name == "config_big_wager_min_stake_positive"
    with pytest.raises(psycopg.errors.NotNullViolation), conn.transaction():
        set_config(conn, "big_wager_min_stake", None)


def test_the_default_threshold_flags_a_stake_of_100_for_its_owner_and_admins_only(
    admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    placed = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=10000
    )
    query = "select id, is_big from public.wagers where market_id = %s"
    for who in (admin, bettor):
        assert view_rows(who, query, [market.id]) == [{"id": placed["id"], "is_big": True}]
    assert view_rows(other, query, [market.id]) == []


# settings -----------------------------------------------------------------------------------------


def test_everyone_reads_the_settings_as_app_config_holds_them(
    conn: Connection, anon: Persona, bettor: Persona, admin: Persona, service_role: Persona
) -> None:
    config = conn.execute(
        "select play_limit_cooling_off, big_wager_min_stake, big_win_min_profit, initial_balance,"
        " default_rake_bps from app.config"
    ).fetchone()
    assert config is not None
    for who in (anon, bettor, admin, service_role):
        shown = one(who, "select * from public.settings")
        assert (
            shown["play_limit_cooling_off"],
            shown["big_wager_min_stake"],
            shown["big_win_min_profit"],
            shown["initial_balance"],
            shown["default_rake_bps"],
        ) == config, who.name
        assert shown["play_limit_cooling_off_seconds"] == int(config[0].total_seconds()), who.name
        # the workers' tuning is not a client's business
        assert not any(name.startswith("side_effect_") for name in shown), who.name

    set_config(conn, "play_limit_cooling_off", datetime.timedelta(hours=36, seconds=5))
    set_config(conn, "big_wager_min_stake", 2500)
    shown = one(anon, "select * from public.settings")
    assert shown["play_limit_cooling_off"] == datetime.timedelta(hours=36, seconds=5)
    assert shown["play_limit_cooling_off_seconds"] == 36 * 3600 + 5
    assert shown["big_wager_min_stake"] == 2500


def test_a_raised_limit_applies_exactly_one_published_cooling_off_later(
    conn: Connection, bettor: Persona
) -> None:
    """What the Limits page promises (now + settings.play_limit_cooling_off) is what the engine
    does, whatever the setting."""
    set_config(conn, "play_limit_cooling_off", datetime.timedelta(hours=7, minutes=30))
    cooling_off = one(bettor, "select play_limit_cooling_off_seconds as s from public.settings")[
        "s"
    ]
    assert bettor.call("set_daily_stake_limit", amount=1000)["effect"] == "immediate"
    raised = bettor.call("set_daily_stake_limit", amount=5000)
    assert raised["effect"] == "pending"
    row = conn.execute(
        "select extract(epoch from (%s::timestamptz - now()))::bigint", [raised["applies_at"]]
    ).fetchone()
    assert row == (cooling_off,)
    assert cooling_off == 7 * 3600 + 30 * 60
