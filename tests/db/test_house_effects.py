"""The side effects of house bets (docs/side-effects.md, "House bets"): a settled bet enqueues one
job per house handler for its player; the handlers count each bet once however often their jobs
run; XP gives levels and a public ranking by name; rakeback accrues exactly (stake x edge x rate,
no fraction lost over many bets) and a claim pays it once through the ledger."""

from fractions import Fraction
from math import floor
from typing import Any

from tests.db import mines_play
from tests.db.helpers import scalar
from tests.db.house_effects import HANDLERS, PARTS, counted, expected, small_bets
from tests.db.house_play import play
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona
from tests.db.side_effects import drain, work_due
from tests.pgserver import Connection


def test_a_settled_bet_enqueues_its_player_s_jobs_and_each_handler_counts_it_once(
    conn: Connection, bettor: Persona, other: Persona
) -> None:
    for game, params in small_bets(4):
        play(bettor, game, params)
    play(other, "dice", {"stake": 150, "target": 5000, "over": True})
    jobs = conn.execute(
        """select handler, user_id, market_id, event from app.side_effect_jobs
           where status = 'pending' order by handler, user_id"""
    ).fetchall()
    # one job per handler per play (each play is a statement of its own), keyed by the user
    assert sorted(jobs) == sorted(
        [(h, bettor.user_id, None, "settled") for h in HANDLERS] * 4
        + [(h, other.user_id, None, "settled") for h in HANDLERS]
    )
    assert scalar(conn, "select count(*) from app.house_effects_pending") == 5 * 4

    results = work_due(conn)
    # the first job of each (handler, user) counts all its user's bets, the others find none
    assert sorted(r["changed"] for r in results) == [0] * 12 + [1] * 4 + [4] * 4
    assert scalar(conn, "select count(*) from app.house_effects_pending") == 0
    assert counted(conn) == expected(conn)

    # every job again, as a re-delivery would: nothing changes
    before = counted(conn)
    conn.execute("update app.side_effect_jobs set status = 'pending', done_at = null")
    assert {r["changed"] for r in work_due(conn)} == {0}
    assert counted(conn) == before


def test_a_round_that_settles_later_enqueues_once_when_it_settles(
    conn: Connection, bettor: Persona
) -> None:
    """A round of mines is written `created`, moved by its steps, and settled by an update: only
    the update that settles it enqueues."""
    mines_play.install_pair(conn, bettor.user_id)
    play(bettor, "dice", {"stake": 150, "target": 5000, "over": True})  # nonce 0
    drain(conn)
    opened = bettor.call("open_mines", stake=300, mines=3)  # nonce 1
    bettor.call("reveal_mines_cell", round_id=opened["id"], cell=mines_play.safe_cells(1, 3)[0])
    assert scalar(conn, "select count(*) from app.house_effects_pending") == 0
    bettor.call("cashout_mines", round_id=opened["id"])
    assert sorted(
        conn.execute("select handler, bet_id from app.house_effects_pending").fetchall()
    ) == sorted((h, opened["id"]) for h in HANDLERS)
    drain(conn)
    assert counted(conn) == expected(conn)
    assert counted(conn)[bettor.user_id][1] == 2


def test_xp_gives_the_level_its_threshold_reaches_and_a_public_ranking_by_name(
    conn: Connection, bettor: Persona, other: Persona, anon: Persona
) -> None:
    conn.execute("update app.config set xp_per_major_unit = 100")
    assert bettor.call("get_level")["level"] == 0
    for _ in range(2):
        play(bettor, "dice", {"stake": 150, "target": 5000, "over": True})
    play(other, "roulette", {"stake": 199, "bet": "red"})
    drain(conn)
    # 2 x 1.50 x 100 XP = 300: level 1 (100), next at 500; 1.99 x 100 = 199 XP
    level = bettor.call("get_level")
    assert (level["xp"], level["bets"], level["level"]) == (300, 2, 1)
    assert (level["level_min_xp"], level["next_level_xp"]) == (100, 500)
    board = anon.rows(
        "select rank, player, xp, level, bets from public.xp_leaderboard order by rank"
    )
    assert board == [(1, "bettor", 300, 1, 2), (2, "other", 199, 1, 1)]
    columns = anon.rows(
        """select column_name from information_schema.columns
           where table_schema = 'public' and table_name = 'xp_leaderboard'"""
    )
    assert "user_id" not in {c for (c,) in columns}
    assert anon.rows("select level, min_xp from public.levels where level <= 2") == [
        (0, 0),
        (1, 100),
        (2, 500),
    ]


def test_rakeback_accrues_exactly_over_many_bets_and_pays_the_floor_once(
    conn: Connection, bettor: Persona
) -> None:
    conn.execute("update app.config set rakeback_bps = 1234")
    bets = small_bets(150)
    for game, params in bets:
        play(bettor, game, params)
    drain(conn)
    # the sum of stake x edge x 12.34% over 150 bets, exactly (roulette's edge 1/37)
    owed = expected(conn)[bettor.user_id][2]
    assert counted(conn)[bettor.user_id][2] == owed
    assert owed.denominator > 1  # a sum of fractions that a per-bet floor would have lost
    parts = scalar(
        conn, "select accrued_parts from app.rakeback where user_id = %s", [bettor.user_id]
    )
    assert Fraction(int(parts), PARTS) == owed

    balance = bettor.call("get_wallet")["balance"]
    claim = bettor.call("claim_rakeback", idempotency_key="rb-1")
    assert claim["paid"] == floor(owed) > 0
    assert claim["balance"] == balance + floor(owed)
    replay = bettor.call("claim_rakeback", idempotency_key="rb-1")
    assert replay == claim | {"replayed": True}
    again = bettor.call("claim_rakeback", idempotency_key="rb-2")
    assert (again["paid"], again["transaction_id"]) == (0, None)
    assert bettor.call("get_level")["rakeback_claimable"] == 0
    assert scalar(conn, "select count(*) from app.ledger_transactions where kind = 'rakeback'") == 1
    assert_invariants(conn)

    # the fraction left over carries: more bets, and the next claim pays the new floor
    for game, params in small_bets(30):
        play(bettor, game, params)
    drain(conn)
    owed = expected(conn)[bettor.user_id][2]
    later = bettor.call("claim_rakeback", idempotency_key="rb-3")
    assert later["paid"] == floor(owed) - claim["paid"]
    assert_invariants(conn)


def test_the_live_feed_shows_the_newest_bets_by_name_and_the_games_their_volume(
    conn: Connection, bettor: Persona, other: Persona, anon: Persona
) -> None:
    conn.execute("update app.config set live_bets_kept = 3")
    placed = [play(bettor, game, params) for game, params in small_bets(3)]
    placed.append(play(other, "roulette", {"stake": 120, "bet": "red"}))
    drain(conn)
    feed = anon.rows("select bet_id, game, player, stake, payout, profit from public.live_bets")
    # the newest three, newest first (the test is one transaction: one settled_at, so by id)
    newest = sorted(placed, key=lambda b: b["id"], reverse=True)[:3]
    names = {bettor.user_id: "bettor", other.user_id: "other"}
    owners: dict[str, Any] = dict(
        conn.execute(
            "select id, user_id from app.house_bets where id = any(%s)", [[b["id"] for b in newest]]
        ).fetchall()
    )
    assert feed == [
        (
            b["id"],
            b["game"],
            names[owners[b["id"]]],
            b["stake"],
            b["payout"],
            b["payout"] - b["stake"],
        )
        for b in newest
    ]
    columns = anon.rows(
        """select column_name from information_schema.columns
           where table_schema = 'public' and table_name in ('live_bets', 'house_game_volume')"""
    )
    assert not {c for (c,) in columns} & {"user_id", "email", "paid", "ggr"}

    volume = anon.rows(
        "select game, bets, wins, staked from public.house_game_volume order by game"
    )
    assert volume == [
        (
            game,
            sum(1 for b in placed if b["game"] == game),
            sum(1 for b in placed if b["game"] == game and b["payout"] > 0),
            sum(b["stake"] for b in placed if b["game"] == game),
        )
        # every game of house_games has its row, those nobody played with zeros
        for game in sorted(g for (g,) in conn.execute("select game from app.house_games"))
    ]
    # the volume counts each bet once, however often its jobs run
    conn.execute("update app.side_effect_jobs set status = 'pending', done_at = null")
    drain(conn)
    assert (
        anon.rows("select game, bets, wins, staked from public.house_game_volume order by game")
        == volume
    )
