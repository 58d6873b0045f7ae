"""What the mines tests share: a seed pair the test knows installed for a player (as the superuser),
the model's mines and safe cells for a round of it, and everything a step could change."""

from typing import Any

from tests.db import house_play
from tests.db.helpers import scalar
from tests.db.personas import Persona
from tests.pgserver import Connection
from tests.support import house_fair as fair
from tests.support import mines_fair

SEEDS = (fair.sha256_hex("wagerbase mines: the tests' server seed"), "mines, the tests' client")


def install_pair(conn: Connection, user_id: Any, seeds: tuple[str, str] = SEEDS) -> int:
    """The user's active seed pair, with seeds the test knows, at nonce 0 (before any bet)."""
    row = conn.execute(
        """insert into app.seed_pairs (user_id, server_seed, server_seed_hash, client_seed)
           values (%s, %s, %s, %s) returning id""",
        [user_id, seeds[0], fair.sha256_hex(seeds[0]), seeds[1]],
    ).fetchone()
    assert row is not None
    return int(row[0])


def safe_cells(nonce: int, mines: int, seeds: tuple[str, str] = SEEDS) -> list[int]:
    """The cells of round `nonce` that hold no mine, by the model, in order."""
    drawn = set(mines_fair.mines(seeds, nonce, mines))
    return [c for c in range(mines_fair.CELLS) if c not in drawn]


def state(conn: Connection, who: Persona) -> tuple[Any, ...]:
    """Everything a step could change: what a play could (tests/db/house_play.py's state), the
    player's rounds (status, moves, multiplier, payout, result) and the admin log."""
    return (
        house_play.state(conn, who),
        conn.execute(
            """select id, status, moves, multiplier, payout, result from app.house_bets
               where user_id = %s order by id""",
            [who.user_id],
        ).fetchall(),
        scalar(conn, "select count(*) from app.admin_actions"),
    )
