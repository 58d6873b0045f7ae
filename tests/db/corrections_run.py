"""The markets and users of the mixed run of issue 5 (test_concurrent_corrections_run.py), and the
checks it ends with: corrections, reviews, the scheduled closing and the daily stake limit, each
what the acknowledged calls say."""

import uuid
from collections import Counter
from typing import Any

from tests.db.mixed_run import Answer, Journal
from tests.pgserver import Connection

CORRECTED_MARKETS: list[tuple[str, str, int, dict[str, Any]]] = [
    # name, kind, outcomes, options
    ("resettled", "fixed_odds", 3, {"margin": 20000}),
    ("unsettled", "parimutuel", 3, {"rake_bps": 500}),
    ("plain", "fixed_odds", 2, {"margin": 20000}),
    ("voids", "fixed_odds", 2, {"margin": 20000}),
    ("reviewed", "parimutuel", 2, {}),
    ("cancelled", "fixed_odds", 2, {"margin": 20000}),
    ("due 1", "parimutuel", 2, {}),
    ("due 2", "fixed_odds", 3, {"margin": 20000}),
    ("due 3", "parimutuel", 3, {}),
    ("open", "parimutuel", 3, {"rake_bps": 300}),
]
DUE = ["due 1", "due 2", "due 3"]
# four bettors on two connections each; lim bets 300 at a time on two connections against a daily
# stake limit his third connection tightens (6,000 to 3,000) and then tries to loosen (pending);
# deb stakes once on `resettled` and takes every unit out once it has paid him
CORRECTED_BETTORS = ["fay", "gus", "hal", "ivy"]
LIM_STAKE = 300
LIM_LIMITS = (6000, 3000, 20000)


def refusals_of(journal: Journal, function: str, market_id: int) -> list[str]:
    return [
        r.key
        for r in journal.refused
        if r.function == function and r.args.get("market_id") == market_id
    ]


def acks_of(journal: Journal, function: str, market_id: int) -> list[Answer]:
    return [a for a in journal.answers(function) if a.args.get("market_id") == market_id]


def check_corrections(
    conn: Connection,
    journal: Journal,
    by_name: dict[str, dict[str, Any]],
    bettors: dict[str, uuid.UUID],
) -> None:
    """Each market settled as often as a settlement was acknowledged, reversed as often as a
    correction was; the resettle race corrected `resettled` once; deb, who spent his winnings,
    owes the house exactly what the reversal could not take back; each acknowledged void is
    one reversal."""
    resettled, unsettled = by_name["resettled"], by_name["unsettled"]
    winners = {
        title: winner
        for title, winner in conn.execute(
            "select m.title, o.position from app.markets as m"
            " left join app.outcomes as o on o.id = m.winning_outcome_id"
        ).fetchall()
    }
    status: dict[str, str] = dict(conn.execute("select title, status from app.markets").fetchall())
    assert {t: (status[t], winners[t]) for t in status if t not in DUE} == {
        "resettled": ("settled", 2),
        "unsettled": ("settled", 3),
        "plain": ("settled", 2),
        "voids": ("settled", 1),
        "reviewed": ("settled", 1),
        "cancelled": ("settled", 2),
        "open": ("open", None),
    }
    # the race: one resettle corrected the market, the other found o1 the winner already
    assert len(acks_of(journal, "resettle_market", resettled["id"])) == 1
    assert refusals_of(journal, "resettle_market", resettled["id"]) == ["invalid_argument"]
    assert len(acks_of(journal, "unsettle_market", unsettled["id"])) == 1
    for market in by_name.values():
        settled = sum(
            len(acks_of(journal, f, market["id"]))
            for f in ("settle_market", "confirm_settlement", "resettle_market")
        )
        reversed_ = len(acks_of(journal, "resettle_market", market["id"])) + len(
            acks_of(journal, "unsettle_market", market["id"])
        )
        rows = conn.execute(
            """select (select count(*) from app.settlements where market_id = %(m)s)
                    + (select count(*) from app.settlement_history where market_id = %(m)s),
                      (select count(*) from app.ledger_reversals
                       where market_id = %(m)s and kind = 'unsettle_market')""",
            {"m": market["id"]},
        ).fetchone()
        assert rows == (settled, reversed_), market["title"]
    # deb was paid by the first settlement, took it all out, and owes it all
    (correction,) = acks_of(journal, "resettle_market", resettled["id"])
    owed = [
        u for u in correction.result["unsettled"]["users"] if u["user_id"] == str(bettors["deb"])
    ]
    assert len(owed) == 1 and owed[0]["debited"] == 0 and owed[0]["debt"] == owed[0]["reversed"] > 0
    debts = conn.execute(
        """select d.user_id, r.market_id, d.amount from app.user_debts as d
           inner join app.ledger_reversals as r on r.id = d.reversal_id
           where d.user_id = %s""",
        [bettors["deb"]],
    ).fetchall()
    assert debts == [(bettors["deb"], resettled["id"], owed[0]["debt"])]
    # every acknowledged void is one void_wager reversal of that wager, and nothing else is
    voided = sorted(a.args["wager_id"] for a in journal.answers("void_wager"))
    assert voided, "no wager was voided"
    assert voided == sorted(
        wager_id
        for (wager_id,) in conn.execute(
            "select wager_id from app.ledger_reversals where kind = 'void_wager'"
        ).fetchall()
    )
    assert set(refusals_of_any(journal, "void_wager")) <= {"wager_not_voidable"}


def refusals_of_any(journal: Journal, function: str) -> list[str]:
    return [r.key for r in journal.refused if r.function == function]


def check_reviews(
    conn: Connection,
    journal: Journal,
    by_name: dict[str, dict[str, Any]],
    admins: dict[str, uuid.UUID],
) -> None:
    """Four at once on `reviewed`: one confirmation by op2 or op3 settled it; op1's own was
    same_admin (or already_settled), the direct settlement and the other confirmation refused. On
    `cancelled` either the confirmation or the cancellation won the race, and the market ended
    settled with o1 once, confirmed by op2."""
    reviewed, cancelled = by_name["reviewed"], by_name["cancelled"]
    (confirmed,) = acks_of(journal, "confirm_settlement", reviewed["id"])
    assert confirmed.user_id in (admins["op2"], admins["op3"])
    refused = Counter(
        (r.thread.split("/")[1], r.function, r.key)
        for r in journal.refused
        if r.args.get("market_id") == reviewed["id"]
        and r.function in ("confirm_settlement", "settle_market")
    )
    assert (
        refused[("op1", "confirm_settlement", "same_admin")]
        + refused[("op1", "confirm_settlement", "already_settled")]
        == 1
    )
    assert set(refused) <= {
        ("op1", "confirm_settlement", "same_admin"),
        ("op1", "confirm_settlement", "already_settled"),
        ("op2", "confirm_settlement", "already_settled"),
        ("op3", "confirm_settlement", "already_settled"),
        ("op3", "settle_market", "already_settled"),
        ("op3", "settle_market", "settlement_needs_confirmation"),
    }
    assert sum(refused.values()) == 3
    proposals = conn.execute(
        "select market_id, status, proposed_by, decided_by from app.settlement_proposals"
        " order by id"
    ).fetchall()
    mine = [p for p in proposals if p[0] == reviewed["id"]]
    assert mine == [(reviewed["id"], "confirmed", admins["op1"], confirmed.user_id)]
    # cancelled: the confirmation won (one proposal, confirmed; the cancellation, the second
    # proposal and the late confirmation refused) or the cancellation did (cancelled, proposed
    # again by op3, confirmed by op2), in whatever order the four calls met the market's lock
    race = [p[1:] for p in proposals if p[0] == cancelled["id"]]
    assert race in (
        [("confirmed", admins["op1"], admins["op2"])],
        [
            ("cancelled", admins["op1"], admins["op3"]),
            ("confirmed", admins["op3"], admins["op2"]),
        ],
    )
    calls = [
        *(
            r.key
            for r in journal.refused
            if r.args.get("market_id") == cancelled["id"] and r.user_id in admins.values()
        ),
        *(
            a.function
            for a in journal.acks
            if a.args.get("market_id") == cancelled["id"] and a.user_id in admins.values()
        ),
    ]
    assert Counter(calls)["confirm_settlement"] == 1
    assert len(calls) == 5  # op1's proposal, then the four
    assert set(calls) <= {
        "propose_settlement",
        "confirm_settlement",
        "cancel_settlement_proposal",
        "already_settled",
        "no_pending_proposal",
        "proposal_exists",
    }


def check_scheduled_closing(
    conn: Connection, ticks: list[tuple[str, dict[str, Any]]], by_name: dict[str, dict[str, Any]]
) -> None:
    """Every due market was closed by exactly one tick of one node, with one close snapshot per
    outcome and one log row; no tick closed anything else; a tick that found the other node
    holding the lock did nothing."""
    due = {by_name[name]["id"] for name in DUE}
    closed = Counter(market_id for _, tick in ticks for market_id in tick["closed"])
    assert closed == dict.fromkeys(due, 1), closed
    for _, tick in ticks:
        if not tick["locked"]:
            assert (tick["closed"], tick["snapshots"]) == ([], 0)
    rows = conn.execute(
        """select m.id, m.status, count(distinct o.id),
                  (select count(*) from app.pool_snapshots as s
                   where s.market_id = m.id and s.reason = 'close'),
                  (select count(*) from app.admin_actions as a
                   where a.market_id = m.id and a.action = 'close_market'
                     and a.actor_role = 'scheduler')
           from app.markets as m inner join app.outcomes as o on o.market_id = m.id
           where m.id = any(%s) group by m.id""",
        [sorted(due)],
    ).fetchall()
    assert sorted(rows) == sorted(
        (market_id, "closed", n, n, 1)
        for market_id, n in ((by_name[name]["id"], len(by_name[name]["outcomes"])) for name in DUE)
    )


def check_stake_limit(conn: Connection, journal: Journal, lim: uuid.UUID) -> None:
    """lim's wagers, in the order his wallet lock let them in (their ids), never took his stakes
    of the day past the limit in force: 6,000 for all; 3,000 for every wager sent after the
    tightening had committed. The loosening stayed pending. Every refusal of his is one the
    rules allow."""
    stakes = conn.execute(
        "select id, stake from app.wagers where user_id = %s and approval <> 'rejected'"
        " order by id",
        [lim],
    ).fetchall()
    used: dict[int, int] = {}
    total = 0
    for wager_id, stake in stakes:
        total += stake
        used[wager_id] = total
    assert total <= LIM_LIMITS[0]
    tightened = [
        a for a in journal.answers("set_daily_stake_limit") if a.args["amount"] == LIM_LIMITS[1]
    ]
    assert len(tightened) == 1 and tightened[0].result["effect"] == "immediate"
    later = [
        a.result["wager_id"]
        for a in journal.answers("place_wager")
        if a.user_id == lim and a.sent > tightened[0].done
    ]
    assert all(used[w] <= LIM_LIMITS[1] for w in later), (later, used)
    loosened = [
        a for a in journal.answers("set_daily_stake_limit") if a.args["amount"] == LIM_LIMITS[2]
    ]
    assert len(loosened) == 1 and loosened[0].result["effect"] == "pending"
    assert loosened[0].result["daily_stake_limit"] == LIM_LIMITS[1]
    # each request once in the history: the setup's, then the two acknowledged
    assert conn.execute(
        "select requested_value, effect from app.play_limit_changes where user_id = %s order by id",
        [lim],
    ).fetchall() == [
        (LIM_LIMITS[0], "immediate"),
        (LIM_LIMITS[1], "immediate"),
        (LIM_LIMITS[2], "pending"),
    ]
    keys = {r.key for r in journal.refused if r.user_id == lim}
    assert "daily_stake_limit_reached" in keys
    assert keys <= {"daily_stake_limit_reached", "market_not_open", "stake_above_cap"}
