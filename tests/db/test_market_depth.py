"""get_market_depth (docs/depth.md): its numbers match a hand computation (the worked example of
docs/depth.md), the window changes what counts, bettors are anonymous except to admins, the
snapshots of the window are included, an empty market has no pressure, and other windows and
drafts are refused.

Checked against values computed by hand, persona by persona."""

import json
from decimal import Decimal
from typing import Any

from tests.db.depth_helpers import bet
from tests.db.helpers import Market, make_market
from tests.db.personas import Persona
from tests.pgserver import Connection


def depth_of(who: Persona, market_id: int, window: str) -> Any:
    """get_market_depth as `who`, its numbers read as exact decimals."""
    rows = who.rows("select public.get_market_depth(%s, %s)::text", [market_id, window])
    return json.loads(rows[0][0], parse_float=Decimal)


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
