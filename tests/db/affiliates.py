"""What the affiliate tests share: a bet the house surely wins, picked with the Python model on a
seed pair the test knows (tests/db/mines_play.py installs it), so that a referrer is owed an amount
the test decides, whatever the random bets before it did."""

from typing import Any

from tests.db import mines_play
from tests.db.helpers import scalar
from tests.db.house_play import model
from tests.pgserver import Connection


def next_nonce(conn: Connection, user_id: Any) -> int:
    return scalar(
        conn,
        "select next_nonce from app.seed_pairs where user_id = %s and revealed_at is null",
        [user_id],
    )


def losing_dice(nonce: int, stake: int) -> dict[str, Any]:
    """A dice bet at 50.00 that loses at `nonce` of mines_play's pair: over or under, whichever
    the model says loses (a roll of 50.00 loses both)."""
    for over in (True, False):
        params = {"stake": stake, "target": 5000, "over": over}
        if not model("dice", mines_play.SEEDS, nonce, params).won:
            return params
    raise AssertionError("a dice roll that both over and under 50.00 win")
