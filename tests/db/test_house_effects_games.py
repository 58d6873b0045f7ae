"""The side effects of the house games without a plain one-shot bet and an edge setting
(docs/side-effects.md, "House bets"): plinko and keno accrue rakeback at their nominal 1% edge (no
job fails on them); an auto-bet run, many bets in one statement, enqueues each bet exactly once;
a round of mines counts when it settles, cashed out, lost or expired after a safe cell, and not
at all when it was refunded unplayed; the rounds and a rakeback claim all post to the ledger."""

from fractions import Fraction
from typing import Any

import pytest

from tests.db import mines_play
from tests.db.helpers import scalar
from tests.db.house_effects import HANDLERS, PARTS, counted, expected
from tests.db.house_play import auto_params, install_pair
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona
from tests.db.side_effects import drain
from tests.pgserver import Connection
from tests.support import house_fair as fair
from tests.support import mines_fair

SEEDS = (fair.sha256_hex("house effects: the tests' server seed"), "house effects client")
# each with a 1x multiplier (8 rows low: buckets 3 and 5; classic 6 picks: 2 hits): some bets pay
# back exactly their stake, with no ledger transaction, and still count
RUNS: dict[str, dict[str, Any]] = {
    "dice": {"stake": 300, "target": 5000, "over": True},
    "plinko": {"stake": 300, "rows": 8, "risk": "low"},
    "keno": {"stake": 300, "picks": [3, 7, 11, 19, 28, 40], "risk": "classic"},
}
# rakeback's edge per game, as docs/side-effects.md states it (dice: its setting, 100 bps)
EDGE = {"dice": Fraction(1, 100), "plinko": Fraction(1, 100), "keno": Fraction(1, 100)}


def pending(conn: Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select handler, bet_id from app.house_effects_pending order by handler, bet_id"
    ).fetchall()


def rakeback_units(conn: Connection, who: Persona) -> Fraction:
    parts = scalar(conn, "select accrued_parts from app.rakeback where user_id = %s", [who.user_id])
    return Fraction(int(parts), PARTS)


@pytest.mark.parametrize("game", sorted(RUNS))
def test_an_auto_bet_run_enqueues_each_of_its_bets_once(
    conn: Connection, bettor: Persona, game: str
) -> None:
    conn.execute("update app.config set xp_per_major_unit = 7, rakeback_bps = 2500")
    install_pair(conn, bettor.user_id, *SEEDS)
    params = RUNS[game]
    run = bettor.call(
        "auto_bet", game=game, stake=params["stake"], params=auto_params(game, params), count=20
    )
    assert (run["placed"], run["stopped"]) == (20, "count")
    ids = sorted(b["id"] for b in run["bets"])
    assert len(set(ids)) == 20
    # one pending row per (handler, bet) of the run, and one job per handler for the player
    assert pending(conn) == [(h, i) for h in sorted(HANDLERS) for i in ids]
    jobs = conn.execute(
        "select handler, user_id from app.side_effect_jobs where status = 'pending'"
    ).fetchall()
    assert sorted(jobs) == sorted((h, bettor.user_id) for h in HANDLERS)
    if game != "dice":
        assert any(
            b["payout"] == params["stake"] and b["transaction_id"] is None for b in run["bets"]
        )

    drain(conn)  # every job done: none fails on a game without an edge setting
    assert pending(conn) == []
    stakes = [
        s for (s,) in conn.execute("select stake from app.house_bets where id = any(%s)", [ids])
    ]
    assert stakes == [params["stake"]] * 20
    assert counted(conn)[bettor.user_id] == (
        Fraction(sum(stakes) * 7, 100),
        20,
        sum(s * EDGE[game] * Fraction(2500, 10_000) for s in stakes),
    )
    assert counted(conn) == expected(conn)
    volume = conn.execute(
        "select bets, wins, staked from public.house_game_volume where game = %s", [game]
    ).fetchone()
    assert volume == (20, sum(1 for b in run["bets"] if b["payout"] > 0), sum(stakes))
    assert scalar(conn, "select count(*) from app.live_bets") == 20


def test_single_plinko_and_keno_plays_accrue_at_the_nominal_edge(
    conn: Connection, bettor: Persona
) -> None:
    conn.execute("update app.config set rakeback_bps = 10000")
    for _ in range(5):
        bettor.call("play_plinko", stake=1000, rows=16, risk="high")
        bettor.call("play_keno", stake=1000, picks=[1, 2, 3, 4], risk="high")
    drain(conn)
    # 10 bets of 10.00 at 1%, the whole edge paid back: exactly 1.00
    assert rakeback_units(conn, bettor) == 100
    assert counted(conn) == expected(conn)
    claim = bettor.call("claim_rakeback", idempotency_key="plinko-keno")
    assert claim["paid"] == 100
    assert_invariants(conn)


def test_mines_rounds_count_when_played_and_not_when_refunded_unplayed(
    conn: Connection, bettor: Persona, admin: Persona
) -> None:
    conn.execute("update app.config set xp_per_major_unit = 100, rakeback_bps = 10000")
    mines_play.install_pair(conn, bettor.user_id)
    rounds: dict[str, Any] = {}

    # nonce 0: two safe cells, cashed out
    opened = bettor.call("open_mines", stake=1000, mines=3)
    assert pending(conn) == []  # open: not a settled bet yet
    for cell in mines_play.safe_cells(0, 3)[:2]:
        bettor.call("reveal_mines_cell", round_id=opened["id"], cell=cell)
    rounds["cashed"] = bettor.call("cashout_mines", round_id=opened["id"])
    # nonce 1: a mine at once, lost
    opened = bettor.call("open_mines", stake=1000, mines=3)
    mine = mines_fair.mines(mines_play.SEEDS, 1, 3)[0]
    rounds["lost"] = bettor.call("reveal_mines_cell", round_id=opened["id"], cell=mine)
    assert rounds["lost"]["payout"] == 0
    # nonce 2: no cell, settled by an admin: refunded
    opened = bettor.call("open_mines", stake=700, mines=3)
    rounds["admin_refund"] = admin.call("settle_house_round", round_id=opened["id"], reason="gone")
    # nonce 3: no cell, expired: refunded; nonce 4: a safe cell, expired: cashed out
    admin.call("update_house_game", game="mines", settings={"round_idle_minutes": 30})
    for name, stake, nonce, cells in (("expired_refund", 500, 3, 0), ("expired_played", 400, 4, 1)):
        opened = bettor.call("open_mines", stake=stake, mines=3)
        for cell in mines_play.safe_cells(nonce, 3)[:cells]:
            bettor.call("reveal_mines_cell", round_id=opened["id"], cell=cell)
        conn.execute(
            "update app.house_bets set moved_at = now() - interval '31 minutes' where id = %s",
            [opened["id"]],
        )
        tick = conn.execute("select app.scheduler_tick()").fetchone()
        assert tick is not None and tick[0]["rounds_expired"] == [opened["id"]]
        rounds[name] = bettor.call("get_mines_round", round_id=opened["id"])

    for name in ("admin_refund", "expired_refund"):
        assert (rounds[name]["payout"], rounds[name]["result"]["refunded"]) == (
            rounds[name]["stake"],
            True,
        ), name
    assert rounds["expired_played"]["payout"] == mines_fair.win(400, 100, 3, 1)
    played = sorted(rounds[n]["id"] for n in ("cashed", "lost", "expired_played"))
    assert pending(conn) == [(h, i) for h in sorted(HANDLERS) for i in played]

    drain(conn)
    # 10.00 + 10.00 + 4.00 wagered: 2400 XP, 3 bets, and the whole 1% edge: 0.24
    assert counted(conn)[bettor.user_id] == (Fraction(2400), 3, Fraction(24))
    assert counted(conn) == expected(conn)
    assert sorted(b for (b,) in conn.execute("select bet_id from app.live_bets")) == played
    volume = conn.execute(
        "select bets, staked from public.house_game_volume where game = 'mines'"
    ).fetchone()
    assert volume == (3, 2400)

    # the rounds and the claim all post: 0029's kinds keep 0027's round kinds
    claim = bettor.call("claim_rakeback", idempotency_key="mines")
    assert claim["paid"] == 24 and claim["transaction_id"] is not None
    kinds: dict[str, int] = dict(
        conn.execute(
            """select kind, count(*) from app.ledger_transactions
               where kind in ('house_round_open', 'house_round_settle', 'rakeback')
               group by kind"""
        ).fetchall()
    )
    assert kinds == {"house_round_open": 5, "house_round_settle": 5, "rakeback": 1}
    assert_invariants(conn)
