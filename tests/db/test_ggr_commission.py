"""The GGR commission (docs/house-games.md, "GGR commission"): a per-game rate set by an admin
(bounded, audited), and on every settled bet its GGR (stake - payout) and the commission on it at
the rate of the moment it settled, exact, whether a one-shot play, a bet of an auto-bet run (one
set-based insert) or a round of mines settled later; the admin report sums them per game."""

from decimal import Decimal
from fractions import Fraction
from typing import Any

from psycopg.types.json import Jsonb

from tests.db import mines_play
from tests.db.house_effects import small_bets
from tests.db.house_play import play
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona
from tests.pgserver import Connection

RATES = {"dice": 1234, "limbo": 10000, "roulette": 1, "plinko": 5000, "keno": 777, "mines": 333}


def set_rates(admin: Persona, rates: dict[str, int]) -> None:
    for game, bps in rates.items():
        assert (
            admin.call("update_house_game", game=game, settings={"ggr_commission_bps": bps})[
                "ggr_commission_bps"
            ]
            == bps
        )


def settled(conn: Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        """select id, game, stake, payout, ggr, ggr_commission_bps, ggr_commission
           from app.house_bets where status = 'settled' order by id"""
    ).fetchall()


def assert_exact(rows: list[tuple[Any, ...]], rate_of: dict[str, int]) -> None:
    """Each bet: ggr = stake - payout; its rate the game's; the commission ggr x bps / 10000,
    exactly (a Decimal equal to the Fraction: nothing rounded)."""
    for bet_id, game, stake, payout, ggr, bps, commission in rows:
        assert ggr == stake - payout, bet_id
        assert bps == rate_of[game], (bet_id, game)
        assert Fraction(commission) == Fraction(ggr * bps, 10_000), (bet_id, commission)


def test_every_settled_bet_stores_its_ggr_and_exact_commission(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    set_rates(admin, RATES)
    admin.call(
        "credit_wallet",
        user_id=bettor.user_id,
        amount=1_000_000,
        reference="ggr",
        idempotency_key="ggr-credit",
    )
    for game, params in small_bets(45):
        play(bettor, game, params)
    play(bettor, "plinko", {"stake": 137, "rows": 8, "risk": "high"})
    play(bettor, "keno", {"stake": 219, "picks": [1, 2, 3, 4, 5], "risk": "high"})
    # auto-bet: many rows of one insert statement
    runs = [
        bettor.call(
            "auto_bet", game="dice", stake=113, params={"target": 5000, "over": True}, count=40
        ),
        bettor.call(
            "auto_bet", game="plinko", stake=101, params={"rows": 12, "risk": "medium"}, count=30
        ),
    ]
    assert sum(r["placed"] for r in runs) == 70
    rows = settled(conn)
    assert len(rows) == 45 + 2 + 70
    assert_exact(rows, RATES)
    # players won some and lost some: the GGR and commission are signed, not floored
    assert any(r[4] < 0 for r in rows) and any(r[4] > 0 for r in rows)
    assert any(Fraction(r[6]).denominator > 1 for r in rows)

    # a new rate applies to the bets settled after it; the others keep theirs
    set_rates(admin, {"dice": 50})
    new = play(bettor, "dice", {"stake": 171, "target": 5000, "over": False})
    assert [r for r in settled(conn) if r[0] != new["id"]] == rows
    assert_exact([r for r in settled(conn) if r[0] == new["id"]], {"dice": 50})
    assert_invariants(conn)


def test_a_round_stores_its_ggr_when_it_settles_at_the_rate_of_that_moment(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    mines_play.install_pair(conn, bettor.user_id)
    set_rates(admin, {"mines": 100})
    opened = bettor.call("open_mines", stake=300, mines=3)
    bettor.call("reveal_mines_cell", round_id=opened["id"], cell=mines_play.safe_cells(0, 3)[0])
    row = conn.execute(
        "select ggr, ggr_commission_bps, ggr_commission from app.house_bets where id = %s",
        [opened["id"]],
    ).fetchone()
    assert row == (None, None, None)
    # whoever writes an open round's GGR, the trigger keeps it null until the round settles
    conn.execute(
        "update app.house_bets set ggr = 5, ggr_commission = 1 where id = %s", [opened["id"]]
    )
    assert conn.execute(
        "select ggr, ggr_commission from app.house_bets where id = %s", [opened["id"]]
    ).fetchone() == (None, None)
    set_rates(admin, {"mines": 2500})
    cashed = bettor.call("cashout_mines", round_id=opened["id"])
    row = conn.execute(
        "select ggr, ggr_commission_bps, ggr_commission from app.house_bets where id = %s",
        [opened["id"]],
    ).fetchone()
    ggr = 300 - cashed["payout"]
    assert row == (ggr, 2500, Decimal(ggr) * 2500 / 10000)
    assert ggr < 0  # a cash out after a safe cell: the player won
    # the answers the player sees do not carry the house's figures
    assert not {"ggr", "ggr_commission", "ggr_commission_bps"} & set(cashed)
    assert bettor.rows(
        "select ggr, ggr_commission_bps, ggr_commission from public.house_bets where id = %s",
        [opened["id"]],
    ) == [(None, None, None)]
    assert admin.rows(
        "select ggr, ggr_commission_bps from public.house_bets where id = %s", [opened["id"]]
    ) == [(ggr, 2500)]


def test_the_admin_report_sums_each_game_s_ggr_and_commission(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    set_rates(admin, RATES)
    for game, params in small_bets(30):
        play(bettor, game, params)
    bettor.call("auto_bet", game="roulette", stake=150, params={"bet": "red"}, count=25)
    play(other, "keno", {"stake": 300, "picks": [7, 8, 9], "risk": "low"})
    report = admin.rows(
        """select game, bets, staked, paid, ggr, ggr_commission_bps, ggr_commission
           from public.house_game_results order by game"""
    )
    games = sorted(g for (g,) in conn.execute("select game from app.house_games"))
    rows = settled(conn)
    expected = []
    for game in games:
        mine = [r for r in rows if r[1] == game]
        commission = sum((Fraction(r[6]) for r in mine), Fraction(0))
        expected.append(
            (
                game,
                len(mine),
                sum(r[2] for r in mine),
                sum(r[3] for r in mine),
                sum(r[4] for r in mine),
                RATES[game],
                commission,
            )
        )
    assert [(*r[:6], Fraction(r[6])) for r in report] == expected
    assert sum(r[1] for r in report) == 30 + 25 + 1
    # a bettor reads no row of it
    assert bettor.rows("select * from public.house_game_results") == []


def test_the_rate_is_a_bounded_whole_number_and_its_change_is_audited(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    for bad in (-1, 10001, 1.5, "100", None):
        admin.refused(
            "invalid_argument",
            "update_house_game",
            game="dice",
            settings=Jsonb({"ggr_commission_bps": bad}),
        )
    bettor.refused(
        "not_admin", "update_house_game", game="dice", settings={"ggr_commission_bps": 10}
    )
    after = admin.call("update_house_game", game="keno", settings={"ggr_commission_bps": 10000})
    assert after["ggr_commission_bps"] == 10000
    logged = conn.execute(
        """select before ->> 'ggr_commission_bps', after ->> 'ggr_commission_bps'
           from app.admin_actions where action = 'update_house_game'
           order by id desc limit 1"""
    ).fetchone()
    assert logged == ("0", "10000")
