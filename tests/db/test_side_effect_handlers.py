"""Side effects after settlement (docs/side-effects.md), the four handlers (user statistics, the
leaderboard per period, the big-wins feed, market statistics): they count a settled market as
computed by hand (fixed-odds payouts locked, a refunded parimutuel market counting no wager), each
wager once whatever is run again or delivered twice, and a corrected market as if the right
winner had come first. Persona by persona."""

from tests.db.helpers import make_market, scalar
from tests.db.personas import Persona
from tests.db.side_effects import (
    assert_side_effects_match,
    bet,
    counted_figures,
    drain,
    figures_after,
    jobs,
)
from tests.pgserver import Connection

# the handlers, by hand ---------------------------------------------------------------------------


def test_the_handlers_count_a_settled_market_as_computed_by_hand(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona, anon: Persona
) -> None:
    conn.execute("update app.config set big_win_min_profit = 400")
    # parimutuel, rake 5%: pool 3000; Yes 2000 (bettor 1500, other 500), No 1000 (other)
    market = make_market(admin, kind="parimutuel", rake_bps=500)
    yes, no = market.outcomes
    bet(bettor, market.id, yes, 1500)
    bet(other, market.id, yes, 500)
    bet(other, market.id, no, 1000)
    admin.call("settle_market", market_id=market.id, outcome_id=yes)
    # net pool 3000 - 150 = 2850; bettor 1500 * 2850 / 2000 = 2137 (.5 down); other 712 (.5 down)
    assert drain(conn) == 4

    stats = {
        row[0]: row[1:]
        for row in conn.execute(
            "select user_id, wagers, wins, wagered, won, profit from app.user_stats"
        ).fetchall()
    }
    assert stats[bettor.user_id] == (1, 1, 1500, 2137, 637)
    assert stats[other.user_id] == (2, 1, 1500, 712, -788)
    assert conn.execute(
        """select wagers, wins, staked, paid, house_result
           from public.market_stats where market_id = %s""",
        [market.id],
    ).fetchone() == (3, 2, 3000, 2849, 151)

    today = conn.execute("select (now() at time zone 'UTC')::date").fetchone()
    assert today is not None
    board = anon.rows(
        """select rank, player, wagers, profit from public.leaderboard
           where period = 'day' and period_start = %s order by rank""",
        [today[0]],
    )
    assert board == [(1, "bettor", 1, 637), (2, "other", 2, -788)]
    for period in ("week", "month"):
        assert anon.rows(
            "select player, profit from public.leaderboard where period = %s order by rank",
            [period],
        ) == [("bettor", 637), ("other", -788)]

    # a profit of 637 reaches the 400 minimum; the other's 212 does not; the feed names the
    # player by username, never by email or id
    feed = anon.rows(
        "select market_title, outcome_label, player, stake, payout, profit from public.big_wins"
    )
    assert feed == [(market.row["title"], "Yes", "bettor", 1500, 2137, 637)]
    anon.denied("select user_id from app.big_wins")
    anon.denied("select user_id from app.leaderboard")
    assert_side_effects_match(conn)


def test_a_fixed_odds_market_counts_the_locked_payouts(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    yes, no = market.outcomes
    won = bet(bettor, market.id, yes, 1000)
    bet(other, market.id, no, 400)
    admin.call("settle_market", market_id=market.id, outcome_id=yes)
    drain(conn)
    payout = won["potential_payout"]
    assert conn.execute(
        "select wagers, wins, wagered, won, profit from app.user_stats where user_id = %s",
        [bettor.user_id],
    ).fetchone() == (1, 1, 1000, payout, payout - 1000)
    assert conn.execute(
        "select wagers, wins, staked, paid from app.market_stats where market_id = %s", [market.id]
    ).fetchone() == (2, 1, 1400, payout)
    assert_side_effects_match(conn)


def test_a_refunded_parimutuel_market_counts_no_wager(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin, kind="parimutuel")
    bet(bettor, market.id, market.outcomes[0], 700)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[1])
    drain(conn)
    assert scalar(conn, "select count(*) from app.user_stats where wagers > 0") == 0
    assert_side_effects_match(conn)


# idempotency -------------------------------------------------------------------------------------


def test_a_job_run_again_or_delivered_twice_counts_nothing_twice(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    bet(bettor, market.id, market.outcomes[0], 900)
    bet(other, market.id, market.outcomes[1], 300)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    drain(conn)
    before = counted_figures(conn)

    # the same jobs again, as a re-delivery would bring them, and once more
    for _ in range(2):
        conn.execute(
            """insert into app.side_effect_jobs (handler, market_id, event)
               select handler, market_id, event from app.side_effect_jobs where market_id = %s
               and id in (select min(id) from app.side_effect_jobs
                             where market_id = %s group by handler)""",
            [market.id, market.id],
        )
        assert drain(conn) == 4
    assert counted_figures(conn) == before
    changed = conn.execute(
        "select changed from app.side_effect_jobs where market_id = %s order by id", [market.id]
    ).fetchall()
    assert [c for (c,) in changed] == [2, 2, 2, 2] + [0] * 8
    assert_side_effects_match(conn)


# corrections -------------------------------------------------------------------------------------


def test_a_resettled_market_counts_as_if_the_right_winner_had_come_first(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    conn.execute("update app.config set big_win_min_profit = 100")
    market = make_market(admin, kind="parimutuel")
    yes, no = market.outcomes
    bet(bettor, market.id, yes, 1000)
    bet(other, market.id, no, 1000)
    bet(other, market.id, yes, 200)

    right = figures_after(
        conn, lambda: admin.call("settle_market", market_id=market.id, outcome_id=no)
    )
    admin.call("settle_market", market_id=market.id, outcome_id=yes)
    drain(conn)
    assert (
        scalar(conn, "select count(*) from app.big_wins where user_id = %s", [bettor.user_id]) == 1
    )

    admin.call("resettle_market", market_id=market.id, outcome_id=no, reason="wrong result")
    assert {(j["event"], j["status"]) for j in jobs(conn, market.id)} == {
        ("settled", "done"),
        ("unsettled", "pending"),
        ("settled", "pending"),
    }
    drain(conn)
    assert counted_figures(conn) == right
    # the bettor's win is gone from the feed; the other's win on No is in it
    assert {row[0] for row in conn.execute("select user_id from app.big_wins").fetchall()} == {
        other.user_id
    }
    assert_side_effects_match(conn)


def test_an_unsettled_market_counts_nothing_until_it_is_settled_again(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    bet(bettor, market.id, market.outcomes[0], 800)
    bet(other, market.id, market.outcomes[1], 800)
    nothing = counted_figures(conn)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    drain(conn)
    assert counted_figures(conn) != nothing

    admin.call("unsettle_market", market_id=market.id, reason="result under review")
    drain(conn)
    assert counted_figures(conn) == nothing
    assert conn.execute(
        "select wagers, wins, staked, paid from app.market_stats where market_id = %s", [market.id]
    ).fetchone() == (0, 0, 0, 0)
    assert_side_effects_match(conn)
