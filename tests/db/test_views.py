"""What the read views add for the web app: `markets` says whether a market's settlement needs a
second admin, `wagers` flags a big wager against `app.config.big_wager_min_stake` (migration
0011), `settings` lets any client read the engine's settings, among them the play limits'
cooling-off, which is exactly how long a loosened limit waits; `pool_snapshots` shows every pool
snapshot of a market one can see, however old; `wager_results` adds up each bettor's profit or
loss in the order their wagers were settled, so that no client adds money up."""

import datetime
import json
from decimal import Decimal
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


# pool_snapshots -----------------------------------------------------------------------------------

SNAPSHOT_COLUMNS = [
    "id",
    "market_id",
    "outcome_id",
    "reason",
    "market_version",
    "outcome_pool",
    "total_pool",
    "takeout",
    "share",
    "odds",
    "taken_at",
]


def test_pool_snapshots_shows_every_snapshot_of_a_visible_market_however_old(
    conn: Connection,
    admin: Persona,
    bettor: Persona,
    anon: Persona,
    service_role: Persona,
) -> None:
    """get_market_depth answers the last hour at most; the view answers any span, row for row
    what app.pool_snapshots holds."""
    market = make_market(admin, "parimutuel", rake_bps=500)
    bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=6000)
    bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[1], stake=2000)
    conn.execute("select app._snapshot_market(%s, 'interval')", [market.id])
    # the snapshot was taken three hours ago
    conn.execute(
        "update app.pool_snapshots set taken_at = now() - interval '3 hours' where market_id = %s",
        [market.id],
    )
    admin.call("close_market", market_id=market.id)  # the close trigger's snapshot, now
    stored = conn.execute(
        f"select {', '.join(SNAPSHOT_COLUMNS)} from app.pool_snapshots"
        " where market_id = %s order by taken_at, outcome_id",
        [market.id],
    ).fetchall()
    assert len(stored) == 4
    query = "select * from public.pool_snapshots where market_id = %s order by taken_at, outcome_id"
    for who in (anon, bettor, admin, service_role):
        shown = view_rows(who, query, [market.id])
        assert [list(row) for row in shown] == [SNAPSHOT_COLUMNS] * 4, who.name
        assert [tuple(row.values()) for row in shown] == stored, who.name

    interval, close = view_rows(anon, query, [market.id])[::2]
    a = market.outcomes[0]
    assert (interval["reason"], interval["outcome_id"], interval["outcome_pool"]) == (
        "interval",
        a,
        6000,
    )
    # takeout: 5% of the 80.00 pool; A's share 6000/8000; A's odds (8000 - 400) / 6000
    assert (interval["total_pool"], interval["takeout"]) == (8000, 400)
    assert interval["share"] == Decimal("0.750000")
    assert interval["odds"] == Decimal("1.2667")
    assert (close["reason"], close["market_version"]) == ("close", interval["market_version"] + 1)
    # the depth view's window stops at an hour: the old snapshot is only in the view
    depth = json.loads(
        one(anon, "select public.get_market_depth(%s, '1h')::text as d", [market.id])["d"]
    )
    assert [s["reason"] for s in depth["snapshots"]] == ["close"]


def test_a_drafts_snapshots_are_for_admins_only(
    conn: Connection,
    admin: Persona,
    bettor: Persona,
    anon: Persona,
    service_role: Persona,
) -> None:
    draft = make_market(admin, status="draft")
    conn.execute("select app._snapshot_market(%s, 'interval')", [draft.id])
    query = "select outcome_id from public.pool_snapshots where market_id = %s order by outcome_id"
    for who in (anon, bettor):
        assert view_rows(who, query, [draft.id]) == [], who.name
    for who in (admin, service_role):
        assert [r["outcome_id"] for r in view_rows(who, query, [draft.id])] == draft.outcomes
    admin.call("open_market", market_id=draft.id)
    assert [r["outcome_id"] for r in view_rows(anon, query, [draft.id])] == draft.outcomes


# wager_results -----------------------------------------------------------------------------------


def settle_at(conn: Connection, wager_id: int, hours: int) -> None:
    """Move a wager's settlement time (the test's transaction is rolled back)."""
    conn.execute(
        "update app.wagers set settled_at = timestamptz '2026-01-01 12:00Z' + make_interval("
        "hours => %s) where id = %s",
        [hours, wager_id],
    )


@pytest.fixture
def results(conn: Connection, admin: Persona, bettor: Persona, other: Persona) -> dict[str, int]:
    """Three markets settled, one voided, one still open:

    - parimutuel P1 (rake 5%): bettor 10.00 on A, other 30.00 on B; A wins. Pool 40.00, rake
      2.00, net 38.00: the bettor is paid 38.00 (+28.00), the other loses 30.00.
    - parimutuel P2 (rake 5%): bettor 20.00 on A, other 20.00 on B; B wins. Net 38.00 to the
      other (+18.00), the bettor loses 20.00.
    - fixed odds F: bettor 10.00 on A at 1.5; A wins: 15.00 paid (+5.00).
    - V voided (the bettor's 5.00 refunded), O open (the bettor's 3.00): neither is a result.

    Settled (hours after noon): F at 0, P1 at 1, P2 at 2 for the bettor (ids in another order);
    the other's P2 at 0, P1 at 3."""

    def bet(who: Persona, market_id: int, outcome_id: int, amount: int) -> int:
        placed = who.call("place_wager", market_id=market_id, outcome_id=outcome_id, stake=amount)
        return int(placed["id"])

    p1 = make_market(admin, "parimutuel", rake_bps=500)
    p2 = make_market(admin, "parimutuel", rake_bps=500)
    fixed = make_market(admin)
    voided, still_open = make_market(admin), make_market(admin)
    ids = {
        "bettor_p1": bet(bettor, p1.id, p1.outcomes[0], 1000),
        "other_p1": bet(other, p1.id, p1.outcomes[1], 3000),
        "bettor_p2": bet(bettor, p2.id, p2.outcomes[0], 2000),
        "other_p2": bet(other, p2.id, p2.outcomes[1], 2000),
        "bettor_f": bet(bettor, fixed.id, fixed.outcomes[0], 1000),
        "bettor_void": bet(bettor, voided.id, voided.outcomes[0], 500),
        "bettor_open": bet(bettor, still_open.id, still_open.outcomes[0], 300),
    }
    admin.call("settle_market", market_id=p1.id, outcome_id=p1.outcomes[0])
    admin.call("settle_market", market_id=p2.id, outcome_id=p2.outcomes[1])
    admin.call("settle_market", market_id=fixed.id, outcome_id=fixed.outcomes[0])
    admin.call("void_market", market_id=voided.id, reason="called off")
    for key, hours in (
        ("bettor_f", 0),
        ("bettor_p1", 1),
        ("bettor_p2", 2),
        ("other_p2", 0),
        ("other_p1", 3),
    ):
        settle_at(conn, ids[key], hours)
    return ids | {"p1": p1.id, "p2": p2.id, "fixed": fixed.id}


RESULT_QUERY = (
    "select id, settlement, stake, payout, profit, running_profit from public.wager_results"
    " where user_id = %s order by settled_at, id"
)


def test_wager_results_add_up_each_bettors_profit_in_the_order_of_settlement(
    results: dict[str, int], bettor: Persona, other: Persona
) -> None:
    assert results["bettor_f"] > results["bettor_p1"]  # the order is settled_at's, not id's
    assert view_rows(bettor, RESULT_QUERY, [bettor.user_id]) == [
        {
            "id": results["bettor_f"],
            "settlement": "won",
            "stake": 1000,
            "payout": 1500,
            "profit": 500,
            "running_profit": 500,
        },
        {
            "id": results["bettor_p1"],
            "settlement": "won",
            "stake": 1000,
            "payout": 3800,
            "profit": 2800,
            "running_profit": 3300,
        },
        {
            "id": results["bettor_p2"],
            "settlement": "lost",
            "stake": 2000,
            "payout": 0,
            "profit": -2000,
            "running_profit": 1300,
        },
    ]
    assert [
        (r["id"], r["profit"], r["running_profit"])
        for r in view_rows(other, RESULT_QUERY, [other.user_id])
    ] == [(results["other_p2"], 1800, 1800), (results["other_p1"], -3000, -1200)]


def test_wager_results_are_the_bettors_own_and_every_ones_for_admins(
    results: dict[str, int],
    admin: Persona,
    bettor: Persona,
    other: Persona,
    anon: Persona,
) -> None:
    mine = "select user_id, running_profit from public.wager_results where market_id = any(%s)"
    markets = [[results["p1"], results["p2"], results["fixed"]]]
    for who in (bettor, other):
        assert {r["user_id"] for r in view_rows(who, mine, markets)} == {who.user_id}
    # an admin reads each bettor's line, summed per bettor exactly as they read it themselves
    for who in (bettor, other):
        assert view_rows(admin, RESULT_QUERY, [who.user_id]) == view_rows(
            who, RESULT_QUERY, [who.user_id]
        )
    anon.denied("select * from public.wager_results")


def test_a_filter_other_than_the_bettor_leaves_the_running_total_whole(
    results: dict[str, int], bettor: Persona
) -> None:
    """The last result of P2 still carries everything settled before it."""
    assert view_rows(
        bettor,
        "select id, running_profit from public.wager_results where market_id = %s",
        [results["p2"]],
    ) == [{"id": results["bettor_p2"], "running_profit": 1300}]


def test_an_unsettled_market_leaves_the_running_totals(
    results: dict[str, int], admin: Persona, bettor: Persona, other: Persona
) -> None:
    admin.call("unsettle_market", market_id=results["p1"], reason="wrong result")
    assert [
        (r["id"], r["running_profit"]) for r in view_rows(bettor, RESULT_QUERY, [bettor.user_id])
    ] == [(results["bettor_f"], 500), (results["bettor_p2"], -1500)]
    assert [
        (r["id"], r["running_profit"]) for r in view_rows(other, RESULT_QUERY, [other.user_id])
    ] == [(results["other_p2"], 1800)]
