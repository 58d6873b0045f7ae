"""What the house-game tests share: playing a game as someone, the Python model's answer for a
play (tests/support/house_fair.py), a plan of mixed bets, a player's seed and wallet state, a
server seed read as the superuser or installed by the test, a race of calls against rotations,
and Pearson's chi-squared statistic with its critical values."""

import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import psycopg

from tests.db.actors import Actor, actors, refusal
from tests.db.concurrent import all_at_once
from tests.db.helpers import ledger_snapshot, scalar
from tests.db.personas import Persona
from tests.pgserver import Connection
from tests.support import house_fair as fair

INITIAL = 10000

# The chi-squared critical values at p = 0.001 (a statistic above one would be a 1-in-1000 event
# for a fair draw): by degrees of freedom, from the standard tables.
CRITICAL_001 = {1: 10.828, 3: 16.266, 4: 18.467, 8: 26.124, 36: 67.985, 39: 72.055, 49: 85.351}


def chi_squared(observed: Counter[Any], expected: dict[Any, Fraction], total: int) -> float:
    """Pearson's statistic of counts over the buckets of `expected` (probabilities summing to 1)."""
    assert sum(expected.values()) == 1
    assert set(observed) <= set(expected)
    return sum(
        float((observed[bucket] - total * p) ** 2 / (total * p)) for bucket, p in expected.items()
    )


def play(who: Persona, game: str, params: dict[str, Any], **extra: Any) -> Any:
    return who.call(f"play_{game}", **params, **extra)


def model(game: str, seeds: tuple[str, str], nonce: int, params: dict[str, Any]) -> fair.Play:
    """What the Python model says a bet of the default edge (1%) draws and pays."""
    stake = params["stake"]
    if game == "dice":
        return fair.dice(seeds, nonce, stake, params["target"], params["over"], 100)
    if game == "limbo":
        return fair.limbo(seeds, nonce, stake, params["target_multiplier"], 100)
    if game == "plinko":
        return fair.plinko(seeds, nonce, stake, params["rows"], params["risk"])
    if game == "keno":
        return fair.keno(seeds, nonce, stake, params["picks"], params["risk"])
    return fair.roulette(seeds, nonce, stake, params["bet"])


def assert_as_modelled(answer: dict[str, Any], expected: fair.Play, *context: Any) -> None:
    """A play's answer draws and pays what the model says: result, won, payout and multiplier."""
    assert (answer["result"], answer["won"], answer["payout"]) == (
        expected.result,
        expected.won,
        expected.payout,
    ), context
    assert Decimal(str(answer["multiplier"])) == expected.multiplier, context


def plan(count: int) -> list[tuple[str, dict[str, Any]]]:
    """`count` bets going through each game's range of choices: dice both ways from the edges of
    the targets to the middle, limbo from 1.01x to 50x, every roulette bet."""
    targets = (1, 199, 2500, 4950, 5000, 7500, 9000, 9800, 9998)
    # a win of 1.00 must pay more than it: chance 98.00% at most (over from 1.99, under to 98.00)
    dice = [
        (t, over) for t in targets for over in (True, False) if (t >= 199 if over else t <= 9800)
    ]
    limbo = [101, 110, 150, 200, 333, 500, 1000, 5000]
    bets: list[tuple[str, dict[str, Any]]] = []
    for i in range(count):
        game = ("dice", "limbo", "roulette")[i % 3]
        stake = 100 * (1 + i % 9)  # at most 900: 9900x of it stays below the max profit
        if game == "dice":
            target, over = dice[i // 3 % len(dice)]
            bets.append((game, {"stake": stake, "target": target, "over": over}))
        elif game == "limbo":
            bets.append((game, {"stake": stake, "target_multiplier": limbo[i // 3 % len(limbo)]}))
        else:
            bet = fair.ROULETTE_BETS[i // 3 % len(fair.ROULETTE_BETS)]
            bets.append((game, {"stake": stake, "bet": bet}))
    return bets


def state(conn: Connection, who: Persona) -> tuple[Any, ...]:
    """Everything a play could change: the books, the player's seed pairs (nonces, reveals), the
    bets and the player's idempotency keys."""
    return (
        ledger_snapshot(conn),
        conn.execute(
            "select id, next_nonce, revealed_at from app.seed_pairs where user_id = %s order by id",
            [who.user_id],
        ).fetchall(),
        scalar(conn, "select count(*) from app.house_bets"),
        scalar(conn, "select count(*) from app.idempotency_keys where user_id = %s", [who.user_id]),
    )


def secret(conn: Connection, who: Persona) -> str:
    """The server seed of the player's active pair, as the superuser."""
    row = conn.execute(
        "select server_seed from app.seed_pairs where user_id = %s and revealed_at is null",
        [who.user_id],
    ).fetchone()
    assert row is not None
    return str(row[0])


def install_pair(conn: Connection, user_id: Any, server_seed: str, client_seed: str) -> int:
    """The user's first seed pair, with a server seed the test knows, as the superuser (in the
    connection's transaction: the caller commits it, or not)."""
    row = conn.execute(
        """insert into app.seed_pairs (user_id, server_seed, server_seed_hash, client_seed)
           values (%s, %s, %s, %s) returning id""",
        [user_id, server_seed, fair.sha256_hex(server_seed), client_seed],
    ).fetchone()
    assert row is not None
    return int(row[0])


def auto_params(game: str, params: dict[str, Any]) -> dict[str, Any]:
    """A play's arguments (as `plan` writes them) as auto_bet's `params`: the choices as a house
    bet stores them (limbo's target_multiplier is its `target`), without the stake."""
    choices = {k: v for k, v in params.items() if k != "stake"}
    if game == "limbo":
        return {"target": choices["target_multiplier"]}
    return choices


@dataclass
class Race:
    """What `race_rotations` saw: the pair before the race, the rotations' answers, the other
    calls' answers, and every pair the race used (revealed, as get_revealed_seed shows it) by id."""

    first: dict[str, Any]
    rotations: list[dict[str, Any]]
    calls: list[dict[str, Any]]
    pairs: dict[int, dict[str, Any]]


def race_rotations(url: str, user: uuid.UUID, call: Callable[[Actor], Any]) -> Race:
    """Sixteen connections of `user` at once (tests/db/concurrent.py's all_at_once): every fourth
    rotates the seed pair, the others make `call`; all must be answered. Then the last pair is
    rotated too, so that every pair the race used is revealed."""
    with Actor(url, user) as player:
        first = player.call("get_seed")

    def act(clients: list[Actor], i: int) -> Any:
        if i % 4 == 0:
            return clients[i].call("rotate_seed", client_seed=f"rotation {i}")
        return call(clients[i])

    with actors(url, 16, user) as clients:
        outcomes = all_at_once(16, lambda i: act(clients, i))
    assert all(isinstance(o, dict) for o in outcomes), [
        refusal(o) for o in outcomes if isinstance(o, psycopg.Error)
    ]
    rotations = [o for i, o in enumerate(outcomes) if i % 4 == 0]
    with Actor(url, user) as player:
        player.call("rotate_seed")  # reveals the last pair too
        pairs = {
            p["seed_pair_id"]: p
            for p in (
                player.call("get_revealed_seed", server_seed_hash=h)
                for h in {first["server_seed_hash"]}
                | {r["active"]["server_seed_hash"] for r in rotations}
            )
        }
    calls = [o for i, o in enumerate(outcomes) if i % 4 != 0]
    return Race(first, rotations, calls, pairs)


def draws(
    conn: Connection,
    seeds: tuple[str, str],
    game: str,
    params: dict[str, Any],
    count: int,
    edge_bps: int | None = None,
) -> list[dict[str, Any]]:
    """app._house_draw of `game` with `params` for nonces 0 .. count - 1 of the pair `seeds`, in
    one statement as the superuser."""
    return [
        row[0]
        for row in conn.execute(
            """select app._house_draw(%s, %s::jsonb, %s, %s, %s, n)
               from generate_series(0, %s - 1) as n order by n""",
            [game, json.dumps(params), edge_bps, *seeds, count],
        ).fetchall()
    ]
