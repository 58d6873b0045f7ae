"""Auto-bet under concurrency, each call its own committed transaction on its own connection
(tests/db/actors.py), released together (tests/db/concurrent.py's all_at_once):

- sixteen auto-bets of one player at once on one wallet: the runs take the seed pair's nonces one
  run after another, each run's nonces consecutive, none twice, none skipped (0 .. n - 1 exactly);
  none spends money the wallet does not hold: the seed is fixed by the test, so the Python model
  says, nonce by nonce, what the balance becomes, where the run that empties the wallet stops and
  that the runs after it are refused;
- rotations racing auto-bets: each run drew all its bets from the pair active when it took the
  lock, each pair's bets are its nonces 0 .. n - 1, and the revealed seeds redraw every bet.

The invariants hold after each (tests/db/invariants.py)."""

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import psycopg

from tests.db.actors import Actor, actors, make_users, refusal
from tests.db.concurrent import all_at_once
from tests.db.house_play import INITIAL, install_pair, race_rotations
from tests.db.invariants import assert_invariants
from tests.support import house_fair as fair

DICE = {"target": 5000, "over": True}


def test_sixteen_auto_bets_on_one_wallet_take_the_nonces_run_by_run_and_never_overspend(
    fresh_db: Callable[[], str],
) -> None:
    url = fresh_db()
    solo = make_users(url, ["solo"])["solo"]
    # a seed whose draws win some and run the wallet dry in the middle of the fourteenth run
    seeds = (fair.sha256_hex("auto at once 30"), "one wallet")
    with psycopg.connect(url) as conn:
        pair = install_pair(conn, solo, *seeds)
    with Actor(url, solo) as player:
        player.call("withdraw", amount=INITIAL - 1500)
    balance, stake, count = 1500, 300, 4

    with actors(url, 16, solo) as clients:
        outcomes = all_at_once(
            16,
            lambda i: clients[i].call(
                "auto_bet",
                game="dice",
                stake=stake,
                params=DICE,
                count=count,
                idempotency_key=f"run-{i}",
            ),
        )

    runs = sorted((o for o in outcomes if isinstance(o, dict)), key=lambda o: o["first_nonce"])
    refused = Counter(refusal(o) for o in outcomes if isinstance(o, psycopg.Error))
    # the model, nonce after nonce: a bet needs the stake in the wallet; the run that meets an
    # empty wallet stops there, and every run after it is refused at its first bet
    expected: list[tuple[int, dict[str, Any], int, int]] = []
    while len(expected) < 16 * count and balance >= stake:
        play = fair.dice(seeds, len(expected), stake, 5000, True, 100)
        balance += play.payout - stake
        expected.append((len(expected), play.result, play.payout, balance))
    assert len(expected) == 54  # 13 runs of 4, then 2 bets and the wallet is dry
    bets = [b for run in runs for b in run["bets"]]
    assert [(b["nonce"], b["result"], b["payout"], b["balance"]) for b in bets] == expected
    assert [r["placed"] for r in runs] == [4] * 13 + [2]
    assert [r["stopped"] for r in runs] == ["count"] * 13 + ["insufficient_funds"]
    for run in runs:
        assert [b["nonce"] for b in run["bets"]] == list(
            range(run["first_nonce"], run["first_nonce"] + run["placed"])
        )
        assert run["seed_pair_id"] == pair
    assert refused == {"insufficient_funds": 2}
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select next_nonce from app.seed_pairs where id = %s", [pair]
        ).fetchone() == (54,)
        assert conn.execute(
            "select array_agg(nonce order by nonce) from app.house_bets where seed_pair_id = %s",
            [pair],
        ).fetchone() == (list(range(54)),)
        assert conn.execute(
            "select balance from app.accounts where user_id = %s", [solo]
        ).fetchone() == (balance,)
        assert_invariants(conn)


def test_rotations_racing_auto_bets_leave_each_run_on_the_pair_it_drew_from(
    fresh_db: Callable[[], str],
) -> None:
    """Twelve connections auto-bet (10 bets each) while four rotate, all at once."""
    url = fresh_db()
    racer = make_users(url, ["racer"])["racer"]
    race = race_rotations(
        url,
        racer,
        lambda client: client.call(
            "auto_bet", game="roulette", stake=50, params={"bet": "red"}, count=10
        ),
    )
    rotations, runs, pairs = race.rotations, race.calls, race.pairs
    assert len(pairs) == 5
    on_pair: dict[int, list[int]] = defaultdict(list)
    balance = INITIAL
    for run in runs:
        assert run["placed"] == 10
        pair = pairs[run["seed_pair_id"]]
        seeds = (pair["server_seed"], pair["client_seed"])
        for bet in run["bets"]:
            on_pair[run["seed_pair_id"]].append(bet["nonce"])
            expected = fair.roulette(seeds, bet["nonce"], 50, "red")
            assert (bet["result"], bet["payout"]) == (expected.result, expected.payout)
            assert bet["id"] == fair.bet_id(
                pair["server_seed_hash"], pair["client_seed"], bet["nonce"]
            )
            balance += expected.payout - 50
    for pair_id, pair in pairs.items():
        assert sorted(on_pair[pair_id]) == list(range(pair["next_nonce"]))
    for rotation in rotations:
        revealed = rotation["revealed"]
        assert revealed["next_nonce"] == len(on_pair[revealed["seed_pair_id"]])
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select balance from app.accounts where user_id = %s", [racer]
        ).fetchone() == (balance,)
        assert_invariants(conn)
