"""Market depth and history (docs/depth.md): pool snapshots every interval and at close, the
scheduler's closing of markets past closes_at, and get_market_depth's numbers, checked against
values computed by hand, persona by persona."""

import json
from decimal import Decimal
from typing import Any

import psycopg

from tests.db.helpers import Market, make_market
from tests.db.personas import Persona
from tests.pgserver import Connection


def bet(who: Persona, market: Market, position: int, stake: int) -> int:
    row = who.call(
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[position - 1],
        stake=stake,
    )
    return int(row["wager_id"])


def depth_of(who: Persona, market_id: int, window: str) -> Any:
    """get_market_depth as `who`, its numbers read as exact decimals."""
    rows = who.rows("select public.get_market_depth(%s, %s)::text", [market_id, window])
    return json.loads(rows[0][0], parse_float=Decimal)


def scalar(conn: Connection, query: str, params: list[Any] | None = None) -> Any:
    row = conn.execute(query, params or []).fetchone()
    assert row is not None
    return row[0]


def snapshots(conn: Connection, market: Market, reason: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        """select outcome_id, outcome_pool, total_pool, takeout, share, odds
           from app.pool_snapshots where market_id = %s and reason = %s
           order by taken_at, outcome_id""",
        [market.id, reason],
    ).fetchall()


# snapshots -----------------------------------------------------------------------------------


def test_snapshots_are_taken_once_per_interval_for_open_markets_and_at_close(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin, "parimutuel")
    draft = make_market(admin, "parimutuel", status="draft")
    bet(bettor, market, 1, 100)
    bet(bettor, market, 2, 300)

    taken = scalar(conn, "select app.take_pool_snapshots()")
    # only the open market's outcomes; other open markets of the shared database may add rows
    rows = snapshots(conn, market, "interval")
    assert taken >= 2
    a, b = market.outcomes
    # 400 staked, rake 5% -> takeout 20; odds = 380 / pool
    assert rows == [
        (a, 100, 400, 20, Decimal("0.250000"), Decimal("3.8000")),
        (b, 300, 400, 20, Decimal("0.750000"), Decimal("1.2667")),
    ]
    assert snapshots(conn, draft, "interval") == []

    # within the interval (10 s by default) nothing more is written
    assert scalar(conn, "select app.take_pool_snapshots()") == 0
    assert len(snapshots(conn, market, "interval")) == 2

    # once the last snapshot is older than the interval, the next round writes one again
    conn.execute(
        "update app.pool_snapshots set taken_at = taken_at - interval '11 seconds'"
        " where market_id = %s",
        [market.id],
    )
    assert scalar(conn, "select app.take_pool_snapshots()") >= 2
    assert len(snapshots(conn, market, "interval")) == 4

    # closing writes the final snapshot, whoever closes
    admin.call("close_market", market_id=market.id)
    assert snapshots(conn, market, "close") == [
        (a, 100, 400, 20, Decimal("0.250000"), Decimal("3.8000")),
        (b, 300, 400, 20, Decimal("0.750000"), Decimal("1.2667")),
    ]
    conn.execute(
        "update app.pool_snapshots set taken_at = taken_at - interval '1 hour'"
        " where market_id = %s",
        [market.id],
    )
    scalar(conn, "select app.take_pool_snapshots()")
    assert len(snapshots(conn, market, "interval")) == 4, "a closed market gets no more snapshots"


def test_fixed_odds_snapshots_have_no_takeout(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    bet(bettor, market, 1, 10000)
    scalar(conn, "select app.take_pool_snapshots()")
    a, b = market.outcomes
    assert snapshots(conn, market, "interval") == [
        (a, 10000, 10000, 0, Decimal("1.000000"), Decimal("1.2500")),
        (b, 0, 10000, 0, Decimal("0"), Decimal("2.0000")),
    ]


def test_snapshots_are_not_for_clients_to_write(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona
) -> None:
    market = make_market(admin, "parimutuel")
    for who in (anon, bettor, admin):
        who.denied("select app.take_pool_snapshots()")
        who.denied("select app.close_due_markets()")
        who.denied("select app.scheduler_tick()")
        who.denied(
            "insert into app.pool_snapshots (market_id, outcome_id, reason, market_version,"
            " outcome_pool, total_pool, takeout, share) values (%s, %s, 'interval', 1, 0, 0, 0, 0)",
            [market.id, market.outcomes[0]],
        )


def test_anyone_reads_the_snapshots_of_visible_markets_only(
    conn: Connection, admin: Persona, anon: Persona
) -> None:
    market = make_market(admin, "parimutuel")
    draft = make_market(admin, "parimutuel", status="draft")
    conn.execute("select app._snapshot_market(%s, 'interval')", [draft.id])
    scalar(conn, "select app.take_pool_snapshots()")
    query = "select count(*) from app.pool_snapshots where market_id = %s"
    assert anon.rows(query, [market.id]) == [(2,)]
    assert anon.rows(query, [draft.id]) == [(0,)]
    assert admin.rows(query, [draft.id]) == [(2,)]


# scheduled closing ---------------------------------------------------------------------------


def test_markets_past_closes_at_are_closed_once_by_the_scheduler(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    due = make_market(admin, "parimutuel", closes_at="2999-01-01T00:00:00Z")
    later = make_market(admin, "parimutuel", closes_at="2999-01-01T00:00:00Z")
    bet(bettor, due, 1, 100)
    conn.execute(
        "update app.markets set closes_at = now() - interval '1 second' where id = %s", [due.id]
    )
    version = scalar(conn, "select version from app.markets where id = %s", [due.id])

    closed = scalar(conn, "select app.close_due_markets()")
    assert due.id in closed and later.id not in closed
    assert due.id not in scalar(conn, "select app.close_due_markets()")
    status, new_version = conn.execute(
        "select status, version from app.markets where id = %s", [due.id]
    ).fetchone() or (None, None)
    assert (status, new_version) == ("closed", version + 1)
    assert scalar(conn, "select status from app.markets where id = %s", [later.id]) == "open"

    audit = conn.execute(
        "select actor, actor_role, action, before ->> 'status', after ->> 'status'"
        " from app.admin_actions where market_id = %s and action = 'close_market'",
        [due.id],
    ).fetchall()
    assert audit == [(None, "scheduler", "close_market", "open", "closed")]
    assert [r[1] for r in snapshots(conn, due, "close")] == [100, 0]


def test_the_tick_takes_the_advisory_lock(conn: Connection) -> None:
    tick = scalar(conn, "select app.scheduler_tick()")
    assert tick["locked"] is True
    # the lock is held until this transaction ends: the key is taken
    held = scalar(
        conn,
        "select count(*) from pg_catalog.pg_locks where locktype = 'advisory'"
        " and pid = pg_backend_pid()",
    )
    assert held == 1


# retention -----------------------------------------------------------------------------------


def test_retention_defaults_are_thirty_days_in_batches(conn: Connection) -> None:
    row = conn.execute(
        "select pool_snapshot_retention, quote_telemetry_retention, history_prune_batch"
        " from app.config"
    ).fetchone()
    assert row is not None
    assert (row[0].days, row[1].days, row[2]) == (30, 30, 5000)


def test_the_tick_prunes_old_snapshots_and_telemetry_a_batch_at_a_time(
    conn: Connection, admin: Persona
) -> None:
    market = make_market(admin, "parimutuel", status="draft")  # the tick takes none of its own
    outcome = market.outcomes[0]
    conn.execute("update app.config set history_prune_batch = 3")
    conn.execute(
        """insert into app.pool_snapshots (market_id, outcome_id, reason, market_version,
               outcome_pool, total_pool, takeout, share, odds, taken_at)
           select %s, %s, 'interval', 1, 0, 0, 0, 0, null, now() - age - make_interval(secs => n)
           from unnest(array[interval '31 days', interval '29 days']) as age,
                generate_series(1, 7) as n
           where age = interval '31 days' or n <= 2""",
        [market.id, outcome],
    )
    conn.execute(
        """insert into app.quote_telemetry (market_id, outcome_id, stake, price_impact_pp,
               share_after, created_at)
           select %s, %s, 100, 0, 0.5, now() - age
           from unnest(array[interval '31 days', interval '32 days', interval '45 days',
                             interval '400 days', interval '29 days']) as age""",
        [market.id, outcome],
    )

    def kept() -> tuple[int, int]:
        row = conn.execute(
            """select (select count(*) from app.pool_snapshots where market_id = %(m)s),
                      (select count(*) from app.quote_telemetry where market_id = %(m)s)""",
            {"m": market.id},
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    assert kept() == (9, 5)
    rounds = [scalar(conn, "select app.scheduler_tick()")["pruned"] for _ in range(4)]
    assert [r["pool_snapshots"] for r in rounds] == [3, 3, 1, 0]
    assert [r["quote_telemetry"] for r in rounds] == [3, 1, 0, 0]
    assert kept() == (2, 1)  # the 29-day-old rows stay

    # the retention is a setting: shorter, and the next round takes the younger rows too
    conn.execute(
        "update app.config set pool_snapshot_retention = interval '1 day',"
        " quote_telemetry_retention = interval '1 day'"
    )
    assert scalar(conn, "select app.scheduler_tick()")["pruned"] == {
        "pool_snapshots": 2,
        "quote_telemetry": 1,
    }
    assert kept() == (0, 0)


def test_retention_settings_are_checked(conn: Connection) -> None:
    for change in (
        "pool_snapshot_retention = interval '0'",
        "quote_telemetry_retention = interval '-1 day'",
        "history_prune_batch = 0",
    ):
        with conn.transaction():
            try:
                conn.execute(f"update app.config set {change}")
            except psycopg.errors.CheckViolation:
                continue
        raise AssertionError(f"app.config accepted {change}")


# get_market_depth ----------------------------------------------------------------------------


def depth_fixture(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> tuple[Market, dict[str, int]]:
    """Two outcomes A and B, parimutuel (rake 5%). Ten minutes ago: bettor 100 on A, other 300 on
    B. In the last five minutes: other 200 on A, bettor 100 on B, bettor 50 on A."""
    market = make_market(admin, "parimutuel")
    ids = {
        "w1": bet(bettor, market, 1, 100),
        "w2": bet(other, market, 2, 300),
    }
    conn.execute(
        "update app.wagers set created_at = now() - interval '10 minutes' where id = any(%s)",
        [list(ids.values())],
    )
    ids["w3"] = bet(other, market, 1, 200)
    ids["w4"] = bet(bettor, market, 2, 100)
    ids["w5"] = bet(bettor, market, 1, 50)
    return market, ids


def test_depth_numbers_match_a_hand_computation(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona, anon: Persona
) -> None:
    market, _ = depth_fixture(conn, admin, bettor, other)
    a, b = market.outcomes
    depth = depth_of(anon, market.id, "5m")

    assert depth["total_pool"] == 750 and depth["window"] == "5m"
    assert (depth["window_wagers"], depth["window_stake"]) == (3, 350)
    outcomes = {o["outcome_id"]: o for o in depth["outcomes"]}
    # start of the window: A 100 / 400 = 0.25, B 300 / 400 = 0.75
    # now: A 350 / 750 = 0.466667, B 400 / 750 = 0.533333
    assert outcomes[a]["share_start"] == Decimal("0.25")
    assert outcomes[a]["share"] == Decimal("0.466667")
    assert outcomes[a]["share_change_pp"] == Decimal("21.6667")
    assert outcomes[b]["share_start"] == Decimal("0.75")
    assert outcomes[b]["share_change_pp"] == Decimal("-21.6667")
    assert (outcomes[a]["window_wagers"], outcomes[a]["window_stake"]) == (2, 250)
    assert (outcomes[b]["window_wagers"], outcomes[b]["window_stake"]) == (1, 100)
    assert (outcomes[a]["wager_count"], outcomes[b]["wager_count"]) == (3, 2)

    # pressure: A took 250 of the window's 350
    assert depth["pressure"] == {
        "index": Decimal("0.7143"),
        "outcome_id": a,
        "stake": 250,
        "volume": 350,
    }

    assert [(w["outcome_id"], w["stake"]) for w in depth["largest_wagers"]] == [
        (a, 200),
        (b, 100),
        (a, 50),
    ]
    # share moves when each joined: w3 A 100/400 -> 300/600; w4 B 300/600 -> 400/700;
    # w5 A 300/700 -> 350/750 (shares rounded to 6 places first)
    assert [
        (e["outcome_id"], e["share_before"], e["share_after"], e["impact_pp"])
        for e in depth["price_impact_events"]
    ] == [
        (a, Decimal("0.25"), Decimal("0.5"), Decimal("25.0000")),
        (b, Decimal("0.5"), Decimal("0.571429"), Decimal("7.1429")),
        (a, Decimal("0.428571"), Decimal("0.466667"), Decimal("3.8096")),
    ]

    # all time: other 500 in 2 wagers, bettor 250 in 3
    assert [
        (x["rank"], x["label"], x["stake"], x["wagers"], x["share_of_pool"], x["you"])
        for x in depth["biggest_bettors"]
    ] == [
        (1, "Bettor 1", 500, 2, Decimal("0.666667"), False),
        (2, "Bettor 2", 250, 3, Decimal("0.333333"), False),
    ]


def test_the_window_changes_what_counts(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market, _ = depth_fixture(conn, admin, bettor, other)
    a, b = market.outcomes
    depth = depth_of(bettor, market.id, "1h")
    outcomes = {o["outcome_id"]: o for o in depth["outcomes"]}
    # nothing before the hour: every share starts at 0
    assert outcomes[a]["share_change_pp"] == Decimal("46.6667")
    assert outcomes[b]["share_change_pp"] == Decimal("53.3333")
    assert depth["window_wagers"] == 5
    # B took 400 of 750
    assert depth["pressure"]["index"] == Decimal("0.5333")
    assert depth["pressure"]["outcome_id"] == b
    # the first wager moved A from nothing to everything
    assert depth["price_impact_events"][0]["impact_pp"] == Decimal("100.0000")
    # the caller is told which bettor they are, and nothing about the others
    assert [x["you"] for x in depth["biggest_bettors"]] == [False, True]


def test_bettors_are_anonymous_except_to_admins(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market, ids = depth_fixture(conn, admin, bettor, other)
    public = depth_of(bettor, market.id, "5m")
    for section in ("largest_wagers", "price_impact_events", "biggest_bettors"):
        for item in public[section]:
            assert not {"user_id", "wager_id", "username"} & item.keys(), section
    assert [w["mine"] for w in public["largest_wagers"]] == [False, True, True]

    full = depth_of(admin, market.id, "5m")
    assert [w["wager_id"] for w in full["largest_wagers"]] == [ids["w3"], ids["w4"], ids["w5"]]
    assert [w["user_id"] for w in full["largest_wagers"]] == [
        str(other.user_id),
        str(bettor.user_id),
        str(bettor.user_id),
    ]
    assert [(x["user_id"], x["username"]) for x in full["biggest_bettors"]] == [
        (str(other.user_id), "other"),
        (str(bettor.user_id), "bettor"),
    ]


def test_depth_includes_the_snapshots_of_the_window(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona
) -> None:
    market = make_market(admin, "parimutuel")
    bet(bettor, market, 1, 100)
    conn.execute("select app._snapshot_market(%s, 'interval')", [market.id])
    conn.execute(
        "update app.pool_snapshots set taken_at = now() - interval '20 minutes'"
        " where market_id = %s",
        [market.id],
    )
    bet(bettor, market, 2, 300)
    admin.call("close_market", market_id=market.id)

    short = depth_of(anon, market.id, "15m")
    assert [(s["reason"], s["total_pool"], s["takeout"]) for s in short["snapshots"]] == [
        ("close", 400, 20)
    ]
    assert [o["pool"] for o in short["snapshots"][0]["outcomes"]] == [100, 300]
    long = depth_of(anon, market.id, "1h")
    assert [(s["reason"], s["total_pool"]) for s in long["snapshots"]] == [
        ("interval", 100),
        ("close", 400),
    ]


def test_an_empty_market_has_no_pressure(conn: Connection, admin: Persona, anon: Persona) -> None:
    market = make_market(admin, "parimutuel")
    depth = depth_of(anon, market.id, "5m")
    assert depth["pressure"]["index"] is None and depth["pressure"]["outcome_id"] is None
    assert depth["largest_wagers"] == depth["price_impact_events"] == depth["biggest_bettors"] == []
    assert [o["share_change_pp"] for o in depth["outcomes"]] == [0, 0]


def test_other_windows_and_drafts_are_refused(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona
) -> None:
    market = make_market(admin, "parimutuel")
    for window in ("2m", "", "1H", None):
        anon.refused("invalid_argument", "get_market_depth", market_id=market.id, window=window)
    draft = make_market(admin, "parimutuel", status="draft")
    for who in (anon, bettor):
        who.refused("market_not_found", "get_market_depth", market_id=draft.id, window="5m")
    assert depth_of(admin, draft.id, "5m")["status"] == "draft"
    anon.refused("market_not_found", "get_market_depth", market_id=-1, window="5m")


def test_settling_an_open_market_writes_its_final_snapshot_and_a_void_none(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    settled = make_market(admin, "parimutuel")
    bet(bettor, settled, 1, 100)
    admin.call("settle_market", market_id=settled.id, outcome_id=settled.outcomes[0])
    assert [r[1:3] for r in snapshots(conn, settled, "close")] == [(100, 100), (0, 100)]

    voided = make_market(admin, "parimutuel")
    bet(bettor, voided, 1, 100)
    admin.call("void_market", market_id=voided.id, reason="called off")
    assert snapshots(conn, voided, "close") == []
