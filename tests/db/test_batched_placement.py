"""A batch of placements on one market (server.place_wagers, rpc/31_placement.sql) decides each
wager exactly as its own call of place_wager, made in the same order, would have.

- The replayed sequence: the same placements, with refusals of every kind mixed in, run once one
  call at a time (each as the API runs a request: the session checked, the caller's role, one
  call, one commit) on one copy of a database, and once in batches (consecutive placements on one
  market, batches of varying size) on another copy: every answer is the same (the same JSON, or
  the same SQLSTATE, key, detail and hint), and so are the books, row for row.
- Idempotency keys inside and across batches: a key sent twice in one batch replays the first
  answer or is a conflict, a key refused the first time is free for the next, and a batch's keys
  replay through a single call (and a single call's through a batch).
- Many clients at once, batches mixed with single calls on shared markets and users: no deadlock,
  the ledger balances to the minor unit, and every acknowledged wager is there once.
- Only the API's login role may call it.

The users, markets and placement sequence, the two ways of running them and the books compared
are in tests/db/batches.py.
"""

import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.db.batches import (
    SEED,
    USERS,
    acknowledged_keys,
    as_caller,
    batch,
    books,
    build,
    claims,
    in_batches,
    normal,
    one_at_a_time,
    one_at_a_time_on,
    sequence,
    uid,
)
from tests.db.invariants import assert_invariants
from tests.pgserver import Connection


@pytest.mark.parametrize("sizes", [[64], [3, 1, 5, 2, 7]])
def test_each_wager_of_a_batch_gets_the_answer_of_its_own_call(
    fresh_db: Callable[[], str], sizes: list[int]
) -> None:
    alone, together = fresh_db(), fresh_db()
    markets = build(alone)
    assert build(together) == markets
    placements = sequence(markets)

    expected = one_at_a_time(alone, placements)
    got = in_batches(together, placements, sizes)

    for p, want, have in zip(placements, expected, got, strict=True):
        assert normal(have) == normal(want), p
    seen = Counter(a[2] if a[0] == "refused" else "ok" for a in expected)
    assert set(seen) == {
        "ok", "idempotency_conflict", "self_excluded", "daily_stake_limit_reached",
        "insufficient_funds", "stake_above_cap", "payout_above_maximum", "invalid_amount",
        "outcome_not_found", "odds_changed", "unknown_user", "session_ended",
        "permission denied for function place_wager", "not_authenticated",
        "invalid_idempotency_key", "market_not_open", "market_not_found",
    }  # fmt: skip
    assert sum(1 for a in expected if a[0] == "ok" and a[1]["replayed"]) == 3
    assert books(together) == books(alone)


def test_keys_replay_inside_and_across_batches(fresh_db: Callable[[], str]) -> None:
    url = fresh_db()
    m = build(url)
    fixed, (f1, f2) = m["fixed"]
    first = {"who": "alice", "market_id": fixed, "outcome_id": f1, "stake": 100, "key": "k"}
    with psycopg.connect(url) as conn:
        answers = batch(
            conn,
            fixed,
            [
                first,
                {**first},  # the same: a replay of the first, in the same batch
                {**first, "stake": 101},  # other arguments: a conflict
                {**first, "who": "bob"},  # another user's key of the same name: their own
                {**first, "key": "r", "stake": 10**6},  # refused: its key is not kept
                {**first, "key": "r", "stake": 50},  # so this one takes it
            ],
        )
        assert [a[0] for a in answers] == ["ok", "ok", "refused", "ok", "refused", "ok"]
        placed, replay = answers[0][1], answers[1][1]
        assert replay == {**placed, "replayed": True} and placed["replayed"] is False
        assert answers[2][2] == "idempotency_conflict"
        assert json.loads(answers[2][3])["arguments"]["stake"] == 100
        assert answers[3][1]["user_id"] == str(uid(USERS["bob"]))
        assert answers[4][2] == "stake_above_cap"
        assert answers[5][1]["stake"] == 50

        # across batches, and through a single call
        again = batch(conn, fixed, [first, {**first, "key": "r", "stake": 50}])
        assert again[0] == ("ok", {**placed, "replayed": True})
        assert again[1][1]["replayed"] is True and again[1][1]["wager_id"] == answers[5][1]["id"]
        single = as_caller(
            conn,
            claims("alice"),
            "select public.place_wager(%s, %s, 100, null, 'k')",
            [fixed, f1],
        )
        assert single == {**placed, "replayed": True}
        alone = as_caller(
            conn, claims("alice"), "select public.place_wager(%s, %s, 70, null, 's')", [fixed, f2]
        )
        conn.commit()
        assert batch(conn, fixed, [{**first, "outcome_id": f2, "stake": 70, "key": "s"}]) == [
            ("ok", {**alone, "replayed": True})
        ]
        [(replays, count)] = conn.execute(
            "select replays, (select count(*) from app.wagers where idempotency_key = 'k'"
            " and user_id = %s) from app.idempotency_keys where key = 'k' and user_id = %s",
            [uid(USERS["alice"])] * 2,
        ).fetchall()
        assert (replays, count) == (3, 1)
        assert_invariants(conn)


def test_only_the_api_login_role_may_batch_placements(conn: Connection) -> None:
    for role in ("anon", "authenticated", "service_role"):
        with pytest.raises(psycopg.Error) as caught, conn.transaction():
            conn.execute(f"set local role {role}")
            conn.execute("select * from server.place_wagers(1, '[]')")
        assert caught.value.sqlstate == "42501"


def test_batches_and_single_calls_at_once_keep_the_books(fresh_db: Callable[[], str]) -> None:
    """Eight clients on two markets and shared users, half sending batches of 2 to 12, half
    single calls, some keys sent again: every acknowledged wager is there once, replays name the
    first answer's wager, and the ledger balances."""
    url = fresh_db()
    m = build(url)
    rng = random.Random(SEED)
    names = ["alice", "bob", "dave", "erin", "frank", "boss"]
    markets = [m["fixed"], m["pari"]]
    acknowledged: list[tuple[str, dict[str, Any]]] = []
    problems: list[BaseException] = []
    lock = threading.Lock()
    plans = []
    for client in range(8):
        plan: list[tuple[int, list[dict[str, Any]]]] = []
        for step in range(12):
            market, outcomes = markets[rng.randrange(2)]
            size = rng.randint(2, 12) if client % 2 == 0 else 1
            wagers = []
            for j in range(size):
                key = f"c{client}-{step}-{j}"
                if rng.random() < 0.15 and acknowledged_keys(plan):
                    key = rng.choice(acknowledged_keys(plan))
                wagers.append(
                    {
                        "who": rng.choice(names),
                        "market_id": market,
                        "outcome_id": rng.choice(outcomes),
                        "stake": rng.randint(1, 40),
                        "key": key,
                    }
                )
            plan.append((market, wagers))
        plans.append(plan)

    def run(client: int) -> None:
        try:
            with psycopg.connect(url) as conn:
                for market, wagers in plans[client]:
                    if len(wagers) > 1:
                        answers = batch(conn, market, wagers)
                    else:
                        answers = one_at_a_time_on(conn, wagers)
                    with lock:
                        for p, a in zip(wagers, answers, strict=True):
                            if a[0] == "ok":
                                acknowledged.append((p["who"], a[1]))
                            else:
                                assert a[1] != "40P01", a
        except BaseException as exc:  # reported below
            problems.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not problems, problems
    assert acknowledged
    with psycopg.connect(url) as conn:
        assert_invariants(conn)
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                "select id, user_id::text, idempotency_key, stake from app.wagers"
            ).fetchall()
        }
        first = {a["wager_id"] for _, a in acknowledged if not a["replayed"]}
        assert set(rows) == first
        for who, a in acknowledged:
            assert rows[a["wager_id"]] == (str(uid(USERS[who])), a["idempotency_key"], a["stake"])
        keys = Counter((row[0], row[1]) for row in rows.values())
        assert max(keys.values()) == 1
