"""Mines under concurrency, each call its own committed transaction on its own connection
(tests/db/actors.py), released together (tests/db/concurrent.py's all_at_once):

- cash-outs and reveals racing on one round: it settles once, pays once, and what each call
  answered is what the steps before it left;
- rotations racing a cash-out and an opening: each rotation either is refused (a round was open
  when it took the pair's lock) or reveals a pair under which no round is open; every round drew
  from the pair it names.

The invariants hold after each (tests/db/invariants.py)."""

from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg

from tests.db.actors import Actor, actors, make_users, refusal
from tests.db.concurrent import all_at_once
from tests.db.invariants import assert_invariants
from tests.support import house_fair as fair
from tests.support import mines_fair

INITIAL = 10000
SEEDS = (fair.sha256_hex("mines at once"), "racing")


def install_pair(url: str, user_id: Any) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            """insert into app.seed_pairs (user_id, server_seed, server_seed_hash, client_seed)
               values (%s, %s, %s, %s)""",
            [user_id, SEEDS[0], fair.sha256_hex(SEEDS[0]), SEEDS[1]],
        )
        conn.commit()


def opened_round(url: str, stake: int, mines: int, reveals: int) -> tuple[Any, str, list[int]]:
    """A player on the tests' pair with a round open at nonce 0 and its first `reveals` safe cells
    revealed: (the user id, the round id, the round's safe cells)."""
    solo = make_users(url, ["solo"])["solo"]
    install_pair(url, solo)
    safe = [c for c in range(25) if c not in mines_fair.mines(SEEDS, 0, mines)]
    with Actor(url, solo) as player:
        round_id: str = player.call("open_mines", stake=stake, mines=mines)["id"]
        for cell in safe[:reveals]:
            player.call("reveal_mines_cell", round_id=round_id, cell=cell)
    return solo, round_id, safe


def settled_once(url: str, user_id: Any, round_id: str) -> tuple[int, int]:
    """(the user's balance, the number of settling transactions of the round), after checking
    the invariants."""
    with psycopg.connect(url) as conn:
        assert_invariants(conn)
        row = conn.execute(
            """select (select balance from app.accounts where user_id = %s),
                      (select count(*) from app.ledger_transactions
                       where kind = 'house_round_settle' and memo ->> 'house_bet_id' = %s)""",
            [user_id, round_id],
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_cash_outs_racing_on_one_round_pay_once(fresh_db: Callable[[], str]) -> None:
    url = fresh_db()
    solo, round_id, _ = opened_round(url, 1000, 5, 2)
    with actors(url, 8, solo) as clients:
        outcomes = all_at_once(8, lambda i: clients[i].call("cashout_mines", round_id=round_id))
    paid = [o for o in outcomes if isinstance(o, dict)]
    refused = Counter(refusal(o) for o in outcomes if isinstance(o, psycopg.Error))
    win = mines_fair.win(1000, 100, 5, 2)
    assert [p["payout"] for p in paid] == [win]
    assert refused == {"round_closed": 7}
    assert settled_once(url, solo, round_id) == (INITIAL - 1000 + win, 1)


def test_reveals_and_cash_outs_racing_settle_once_in_the_order_they_ran(
    fresh_db: Callable[[], str],
) -> None:
    """Eight safe cells revealed and four cash-outs, all at once, on a round of three mines: the
    reveals that ran before the cash-out each added one cell (the n-th saw n cells), the first
    cash-out paid for exactly those, and everything after it was refused round_closed."""
    url = fresh_db()
    solo, round_id, safe = opened_round(url, 1000, 3, 1)

    def act(clients: list[Actor], i: int) -> Any:
        if i % 3 == 0:
            return clients[i].call("cashout_mines", round_id=round_id)
        return clients[i].call("reveal_mines_cell", round_id=round_id, cell=safe[1 + i])

    with actors(url, 12, solo) as clients:
        outcomes = all_at_once(12, lambda i: act(clients, i))
    answers = [o for o in outcomes if isinstance(o, dict)]
    refused = Counter(refusal(o) for o in outcomes if isinstance(o, psycopg.Error))
    cashed = [a for a in answers if a["status"] == "settled"]
    reveals = [a for a in answers if a["status"] == "created"]
    assert len(cashed) == 1 and refused == {"round_closed": 12 - 1 - len(reveals)}
    n = len(cashed[0]["revealed"])
    assert sorted(len(r["revealed"]) for r in reveals) == list(range(2, n + 1))
    assert cashed[0]["payout"] == mines_fair.win(1000, 100, 3, n)
    assert settled_once(url, solo, round_id) == (INITIAL - 1000 + cashed[0]["payout"], 1)


def test_rotations_racing_steps_and_openings_never_rotate_under_an_open_round(
    fresh_db: Callable[[], str],
) -> None:
    """A round with one safe cell; at once: a cash-out, four rotations and three openings of a new
    round. A rotation that took the pair's lock while a round was open is refused; one that
    succeeded revealed a pair whose rounds had all settled; each round names the pair it drew from
    and its mines are that pair's."""
    url = fresh_db()
    solo, round_id, _ = opened_round(url, 100, 2, 1)

    def act(clients: list[Actor], i: int) -> Any:
        if i == 0:
            return clients[i].call("cashout_mines", round_id=round_id)
        if i <= 4:
            return clients[i].call("rotate_seed", client_seed=f"rotation {i}")
        return clients[i].call("open_mines", stake=100, mines=2)

    with actors(url, 8, solo) as clients:
        outcomes = all_at_once(8, lambda i: act(clients, i))
    # the cash-out locks the pair first and would refuse a round open on a revealed pair
    # (house_history_final): a rotation that slipped in under the open round would fail it
    assert isinstance(outcomes[0], dict) and outcomes[0]["status"] == "settled"
    refused = Counter(refusal(o) for o in outcomes if isinstance(o, psycopg.Error))
    assert set(refused) <= {"round_in_progress"}
    rotated = [o for o in outcomes[1:5] if isinstance(o, dict)]
    opened_now = [o for o in outcomes[5:] if isinstance(o, dict)]
    assert len(opened_now) <= 1  # one open round per player
    with psycopg.connect(url) as conn:
        assert_invariants(conn)
        for rotation in rotated:
            revealed = rotation["revealed"]["seed_pair_id"]
            # no round of the revealed pair is open: the rotation waited or was refused
            assert conn.execute(
                """select count(*) from app.house_bets
                   where seed_pair_id = %s and status = 'created'""",
                [revealed],
            ).fetchone() == (0,)
        for made in opened_now:
            server_seed, client_seed = conn.execute(
                "select server_seed, client_seed from app.seed_pairs where id = %s",
                [made["seed_pair_id"]],
            ).fetchone() or ("", "")
            assert made["client_seed"] == client_seed
            assert made["id"] == fair.bet_id(
                fair.sha256_hex(server_seed), client_seed, made["nonce"]
            )
        # the chain of pairs: each rotation revealed the one before it
        assert conn.execute(
            "select count(*) from app.seed_pairs where user_id = %s and revealed_at is not null",
            [solo],
        ).fetchone() == (len(rotated),)
