"""Pool snapshots (docs/depth.md): taken once per interval for open markets and at close (fixed odds
without takeout), not for clients to write, read by anyone for visible markets only; settling an
open market writes its final snapshot, a void none.

Checked against values computed by hand, persona by persona."""

from decimal import Decimal

from tests.db.depth_helpers import bet, scalar, snapshots
from tests.db.helpers import make_market
from tests.db.personas import Persona
from tests.pgserver import Connection

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
