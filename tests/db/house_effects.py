"""What the house-effect tests share (docs/side-effects.md, "House bets"): a plan of small mixed
bets, what XP and rakeback every player should have counted, recomputed in Python from the
settled bets themselves, to compare with what the handlers counted after a drain, and a worker
of its own for the concurrency tests."""

from fractions import Fraction
from typing import Any

import psycopg

from tests.pgserver import Connection

# rakeback counts in parts of a minor unit: 37 * 10^8
PARTS = 3_700_000_000
# the handlers every settled house bet goes to
HANDLERS = ("house_xp", "house_rakeback", "house_feed", "house_game_stats")


def small_bets(count: int) -> list[tuple[str, dict[str, Any]]]:
    """`count` bets of 1.01 to 1.97 going round dice, limbo and roulette, at close to even
    chances: a wallet of 100.00 lasts them."""
    bets: list[tuple[str, dict[str, Any]]] = []
    for i in range(count):
        stake = 101 + (i * 7) % 97
        game = ("dice", "limbo", "roulette")[i % 3]
        if game == "dice":
            bets.append((game, {"stake": stake, "target": 5000, "over": i % 2 == 0}))
        elif game == "limbo":
            bets.append((game, {"stake": stake, "target_multiplier": 200}))
        else:
            bets.append((game, {"stake": stake, "bet": ("red", "black", "even", "odd")[i % 4]}))
    return bets


# the edge of the games without an edge setting: roulette's single zero, and the nominal 1% of the
# games paid by tables (plinko exactly, keno 0.93% to 1.35% by table: docs/side-effects.md)
EDGE_WITHOUT_SETTING = {
    "roulette": Fraction(1, 37),
    "plinko": Fraction(1, 100),
    "keno": Fraction(1, 100),
}


def rakeback_share(game: str, stake: int, edge_bps: int | None, rate_bps: int) -> Fraction:
    """A bet's rakeback in minor units, exactly: stake x edge x rate."""
    edge = EDGE_WITHOUT_SETTING[game] if edge_bps is None else Fraction(edge_bps, 10_000)
    return stake * edge * Fraction(rate_bps, 10_000)


def expected(conn: Connection) -> dict[Any, tuple[Fraction, int, Fraction]]:
    """Per user, from app.house_bets (settled, but for rounds refunded unplayed) and the settings
    as they stand: (XP, bets, rakeback in minor units), all exact."""
    settings = conn.execute("select xp_per_major_unit, rakeback_bps from app.config").fetchone()
    assert settings is not None
    xp_rate, rate = settings
    out: dict[Any, tuple[Fraction, int, Fraction]] = {}
    for user, game, stake, edge in conn.execute(
        """select user_id, game, stake, house_edge_bps from app.house_bets
           where status = 'settled' and not coalesce((result ->> 'refunded')::boolean, false)"""
    ):
        xp, bets, rakeback = out.get(user, (Fraction(0), 0, Fraction(0)))
        out[user] = (
            xp + Fraction(stake * xp_rate, 100),
            bets + 1,
            rakeback + rakeback_share(game, stake, edge, rate),
        )
    return out


def counted(conn: Connection) -> dict[Any, tuple[Fraction, int, Fraction]]:
    """Per user, what the handlers counted: (XP, bets, rakeback accrued in minor units)."""
    xp = {
        u: (Fraction(x), b)
        for u, x, b in conn.execute("select user_id, xp, bets from app.player_xp")
    }
    out: dict[Any, tuple[Fraction, int, Fraction]] = {}
    for user, parts, bets in conn.execute("select user_id, accrued_parts, bets from app.rakeback"):
        user_xp, xp_bets = xp.pop(user, (Fraction(0), -1))
        assert xp_bets == bets, (user, xp_bets, bets)
        out[user] = (user_xp, bets, Fraction(int(parts), PARTS))
    assert xp == {}, xp
    return out


def work_until_idle(url: str) -> int:
    """A worker on a connection of its own: app.work_side_effect until no job is due; the bets
    its jobs counted."""
    changed = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute("select app.work_side_effect()").fetchone()
            assert row is not None
            if row[0] is None:
                return changed
            assert row[0]["status"] == "done", row[0]
            changed += row[0]["changed"]
