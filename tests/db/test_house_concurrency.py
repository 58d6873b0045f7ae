"""House games under concurrency, each call its own committed transaction on its own connection
(tests/db/actors.py), released together (tests/db/concurrent.py's all_at_once):

- sixteen bets of one player at once on one wallet: they take the seed pair's nonces 0, 1, 2, ...
  one after another, none twice, none skipped; none spends money the wallet does not hold, and
  which of them are refused follows from the draws alone: the pair's seed is fixed by the test, so
  the Python model says, nonce by nonce, what the balance becomes and when it runs out;
- rotations racing bets: each bet drew from the pair that was active when it took its nonce, the
  pairs' nonces have no gap, and every bet is what its pair's revealed seed says.

The invariants hold after each (tests/db/invariants.py)."""

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import psycopg

from tests.db import house_play
from tests.db.actors import Actor, actors, make_users, refusal
from tests.db.concurrent import all_at_once
from tests.db.invariants import assert_invariants
from tests.support import house_fair as fair

INITIAL = 10000


def install_pair(url: str, user_id: Any, server_seed: str, client_seed: str) -> int:
    """The user's first seed pair, with a server seed the test knows, committed."""
    with psycopg.connect(url) as conn:
        return house_play.install_pair(conn, user_id, server_seed, client_seed)


def test_sixteen_bets_on_one_wallet_at_once_take_the_nonces_in_turn_and_never_overspend(
    fresh_db: Callable[[], str],
) -> None:
    url = fresh_db()
    solo = make_users(url, ["solo"])["solo"]
    # a seed whose first draws win some and run the wallet dry before the sixteenth
    seeds = (fair.sha256_hex("sixteen at once 2"), "one wallet")
    pair = install_pair(url, solo, *seeds)
    with Actor(url, solo) as player:
        player.call("withdraw", amount=INITIAL - 1050)
    balance, stake = 1050, 300

    with actors(url, 16, solo) as clients:
        outcomes = all_at_once(
            16,
            lambda i: clients[i].call(
                "play_dice", stake=stake, target=5000, over=True, idempotency_key=f"bet-{i}"
            ),
        )

    placed = sorted((o for o in outcomes if isinstance(o, dict)), key=lambda o: o["nonce"])
    refused = Counter(refusal(o) for o in outcomes if isinstance(o, psycopg.Error))
    # the model, nonce after nonce: each bet needs the stake in the wallet, so the first refusal
    # is the last bet (the refused take no nonce, and leave the balance as it was)
    expected: list[tuple[int, dict[str, Any], int, int]] = []
    while len(expected) < 16 and balance >= stake:
        play = fair.dice(seeds, len(expected), stake, 5000, True, 100)
        balance += play.payout - stake
        expected.append((len(expected), play.result, play.payout, balance))
    assert sum(p for _, _, p, _ in expected) > 0 and len(expected) < 16  # wins, then dry
    assert [(p["nonce"], p["result"], p["payout"], p["balance"]) for p in placed] == expected
    assert all(p["seed_pair_id"] == pair for p in placed)
    assert refused == {"insufficient_funds": 16 - len(expected)}
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select next_nonce from app.seed_pairs where id = %s", [pair]
        ).fetchone() == (len(expected),)
        assert conn.execute(
            "select balance from app.accounts where user_id = %s", [solo]
        ).fetchone() == (balance,)
        assert_invariants(conn)


def test_rotations_racing_bets_leave_each_bet_on_the_pair_it_drew_from(
    fresh_db: Callable[[], str],
) -> None:
    """Twelve connections bet while four rotate, all at once. Every rotation reveals the pair
    active when it took the lock; every bet names the pair it drew from and a nonce of it; each
    pair's bets are its nonces 0 .. n - 1; the revealed seeds redraw every bet."""
    url = fresh_db()
    racer = make_users(url, ["racer"])["racer"]
    race = house_play.race_rotations(
        url, racer, lambda client: client.call("play_roulette", stake=100, bet="red")
    )
    first, rotations, bets, pairs = race.first, race.rotations, race.calls, race.pairs
    assert len(pairs) == 5

    # the rotations form one chain: each revealed the pair the one before it made
    revealed = {r["revealed"]["seed_pair_id"]: r for r in rotations}
    made = {r["active"]["seed_pair_id"] for r in rotations}
    assert len(revealed) == 4 and first["seed_pair_id"] in revealed
    assert set(revealed) - {first["seed_pair_id"]} <= made
    on_pair: dict[int, list[int]] = defaultdict(list)
    balance = INITIAL
    for bet in bets:
        on_pair[bet["seed_pair_id"]].append(bet["nonce"])
        pair = pairs[bet["seed_pair_id"]]
        seeds = (pair["server_seed"], pair["client_seed"])
        expected = fair.roulette(seeds, bet["nonce"], 100, "red")
        assert (bet["result"], bet["payout"]) == (expected.result, expected.payout)
        assert bet["id"] == fair.bet_id(pair["server_seed_hash"], pair["client_seed"], bet["nonce"])
        assert bet["client_seed"] == pair["client_seed"]
        balance += expected.payout - 100
    for pair_id, pair in pairs.items():
        assert sorted(on_pair[pair_id]) == list(range(pair["next_nonce"]))
    # each rotation said how many bets the pair it revealed had drawn
    for pair_id, rotation in revealed.items():
        assert rotation["revealed"]["next_nonce"] == len(on_pair[pair_id])
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select balance from app.accounts where user_id = %s", [racer]
        ).fetchone() == (balance,)
        assert conn.execute(
            "select count(*) from app.seed_pairs where user_id = %s and revealed_at is null",
            [racer],
        ).fetchone() == (1,)
        assert_invariants(conn)


def test_one_key_sent_by_eight_connections_at_once_plays_once(
    fresh_db: Callable[[], str],
) -> None:
    """The key is claimed first: seven calls wait on it, then replay the first's bet."""
    url = fresh_db()
    twin = make_users(url, ["twin"])["twin"]
    with actors(url, 8, twin) as clients:
        outcomes = all_at_once(
            8,
            lambda i: clients[i].call(
                "play_limbo", stake=250, target_multiplier=300, idempotency_key="the one"
            ),
        )
    assert all(isinstance(o, dict) for o in outcomes), outcomes
    assert sorted(o["replayed"] for o in outcomes) == [False] + [True] * 7
    assert len({str({k: v for k, v in o.items() if k != "replayed"}) for o in outcomes}) == 1
    assert outcomes[0]["nonce"] == 0
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select count(*), sum(stake) from app.house_bets where user_id = %s", [twin]
        ).fetchone() == (1, 250)
        assert conn.execute(
            "select next_nonce from app.seed_pairs where user_id = %s", [twin]
        ).fetchone() == (1,)
        assert conn.execute(
            "select balance from app.accounts where user_id = %s", [twin]
        ).fetchone() == (INITIAL - 250 + outcomes[0]["payout"],)
        assert_invariants(conn)
