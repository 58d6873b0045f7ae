"""place_wager is idempotent (docs/engine.md): a replayed wager returns the same wager, placed
once, even after its market closed, and writes so that its commit waits for the standby like the
original; a key reused with other arguments is refused, and a refused wager leaves its key free."""

from typing import Any

from tests.db.helpers import balance, escrow, make_market, scalar
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona
from tests.pgserver import Connection

# place_wager: idempotency ------------------------------------------------------------------------


def test_a_replayed_wager_returns_the_same_wager_and_is_placed_once(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    yes = market.outcomes[0]
    first = bettor.call(
        "place_wager",
        market_id=market.id,
        outcome_id=yes,
        stake=1200,
        expected_odds=1.5,
        idempotency_key="bet-1",
    )
    again = bettor.call(
        "place_wager",
        market_id=market.id,
        outcome_id=yes,
        stake=1200,
        expected_odds=1.5,
        idempotency_key="bet-1",
    )
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["wager_id"] == first["wager_id"]
    assert {k: v for k, v in again.items() if k != "replayed"} == {
        k: v for k, v in first.items() if k != "replayed"
    }
    assert scalar(conn, "select count(*) from app.wagers where idempotency_key = 'bet-1'") == 1
    assert scalar(conn, "select count(*) from app.wagers where market_id = %s", [market.id]) == 1
    assert (balance(conn, bettor), escrow(conn, market.id)) == (8800, 1200)
    assert conn.execute(
        "select pool, wager_count from app.outcomes where id = %s", [yes]
    ).fetchone() == (1200, 1)
    assert_invariants(conn)


def test_a_replay_writes_so_its_commit_waits_for_the_standby_like_the_original(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    """PostgreSQL waits for a synchronous standby only at the commit of a transaction that wrote.
    A replay that only read could tell a client, right after a failover, that a wager exists
    which no second machine holds yet; so each replay counts itself on the key's row
    (tests/live/test_unknown_outcome_standby_failover.py shows the wait itself)."""
    market = make_market(admin)
    args = {"market_id": market.id, "outcome_id": market.outcomes[0], "stake": 300}
    bettor.call("place_wager", **args, idempotency_key="bet-durable")
    counted = (
        "select replays, last_replayed_at is not null from app.idempotency_keys where key = %s"
    )
    assert conn.execute(counted, ["bet-durable"]).fetchone() == (0, False)

    for replays in (1, 2):
        again = bettor.call("place_wager", **args, idempotency_key="bet-durable")
        assert again["replayed"] is True
        assert conn.execute(counted, ["bet-durable"]).fetchone() == (replays, True)
    assert scalar(conn, "select count(*) from app.wagers where market_id = %s", [market.id]) == 1
    assert_invariants(conn)


def test_a_replay_answers_even_after_the_market_closed(admin: Persona, bettor: Persona) -> None:
    market = make_market(admin)
    first = bettor.call(
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=500,
        idempotency_key="late",
    )
    admin.call("close_market", market_id=market.id)
    again = bettor.call(
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=500,
        idempotency_key="late",
    )
    assert (again["wager_id"], again["replayed"]) == (first["wager_id"], True)


def test_a_wager_key_reused_with_other_arguments_is_refused(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    yes, no = market.outcomes
    bettor.call("place_wager", market_id=market.id, outcome_id=yes, stake=500, idempotency_key="k")
    for changed in ({"stake": 501}, {"outcome_id": no}, {"expected_odds": 1.5}):
        arguments: dict[str, Any] = {"market_id": market.id, "outcome_id": yes, "stake": 500}
        arguments.update(changed)
        bettor.refused("idempotency_conflict", "place_wager", idempotency_key="k", **arguments)
    bettor.refused("idempotency_conflict", "deposit", amount=500, idempotency_key="k")
    assert balance(conn, bettor) == 9500
    assert scalar(conn, "select count(*) from app.wagers where market_id = %s", [market.id]) == 1


def test_a_refused_wager_leaves_its_key_free(admin: Persona, bettor: Persona) -> None:
    market = make_market(admin)
    bettor.refused(
        "odds_changed",
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=500,
        expected_odds=1.3,
        idempotency_key="again",
    )
    placed = bettor.call(
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=500,
        expected_odds=1.5,
        idempotency_key="again",
    )
    assert placed["replayed"] is False
