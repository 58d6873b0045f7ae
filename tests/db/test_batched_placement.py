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
"""

import json
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from tests.db.invariants import assert_invariants
from tests.pgserver import Connection

Answer = tuple[Any, ...]
FAR = "2999-01-01T00:00:00+00:00"
SEED = 20261204


def uid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


# users: (name, number, admin); each has a session numbered 1000 + number
USERS = {
    "alice": 1, "bob": 2, "carol": 3, "dave": 4, "erin": 5, "frank": 6, "gina": 7, "hank": 8,
    "boss": 9,
}  # fmt: skip
WITH_WALLET = ("alice", "bob", "carol", "dave", "gina", "hank")


def claims(name: str) -> dict[str, Any]:
    """The claims of a verified access token of this user (or of none: `anon`, `nosub`)."""
    if name == "anon":
        return {"role": "anon"}
    if name == "nosub":
        return {"role": "authenticated"}
    number = USERS[name]
    return {
        "sub": str(uid(number)),
        "role": "authenticated",
        "aud": "authenticated",
        "session_id": str(uid(1000 + number)),
        "app_metadata": {"role": "admin"} if name == "boss" else {},
    }


def as_caller(conn: Connection, who: dict[str, Any], query: str, params: Any = None) -> Any:
    conn.execute(
        "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
        [who["role"], json.dumps(who)],
    )
    row = conn.execute(query, params).fetchone()
    conn.execute("reset role")
    return None if row is None else row[0]


def build(url: str) -> dict[str, Any]:
    """The same users, sessions, wallets, limits and markets on every copy, committed; the
    markets' ids and outcome ids."""
    with psycopg.connect(url) as conn:
        for name, number in USERS.items():
            meta = {"provider": "email", "role": "admin"} if name == "boss" else {}
            conn.execute(
                "insert into auth.users (id, email, raw_app_meta_data) values (%s, %s, %s)",
                [uid(number), f"{name}@example.test", json.dumps(meta)],
            )
            conn.execute(
                "insert into app.profiles (user_id, username) values (%s, %s)", [uid(number), name]
            )
            conn.execute(
                "select app._start_session(%s, %s, %s)",
                [uid(number), uid(1000 + number), f"hash-{name}"],
            )
        for name in WITH_WALLET:
            conn.execute("select app._ensure_wallet(%s)", [uid(USERS[name])])
        conn.execute(
            "insert into app.play_limits (user_id, self_excluded_until) values (%s, %s)",
            [uid(USERS["carol"]), FAR],
        )
        conn.execute(
            "insert into app.play_limits (user_id, daily_stake_limit) values (%s, 300)",
            [uid(USERS["dave"])],
        )
        conn.execute(
            "update auth.users set deleted_at = '2020-01-01' where id = %s", [uid(USERS["gina"])]
        )
        conn.execute(
            "update app.sessions set ended_at = '2020-01-01', ended_reason = 'signed_out'"
            " where user_id = %s",
            [uid(USERS["hank"])],
        )
        boss = claims("boss")
        made: dict[str, Any] = {}
        for name, kind, options in (
            ("fixed", "fixed_odds", {"min_cap": 200, "margin": 500, "max_payout": 400}),
            ("pari", "parimutuel", {}),
            ("held", "fixed_odds", {"requires_approval": True}),
            ("closed", "fixed_odds", {}),
            ("draft", "fixed_odds", {"status": "draft"}),
        ):
            market = as_caller(
                conn,
                boss,
                "select public.create_market(title => %s, outcomes => %s, kind => %s,"
                " options => %s)",
                [name, json.dumps(["a", "b"]), kind, json.dumps(options)],
            )
            made[name] = (market["id"], [o["outcome_id"] for o in market["outcomes"]])
        as_caller(conn, boss, "select public.close_market(%s)", [made["closed"][0]])
        conn.commit()
    return made


def sequence(m: dict[str, Any]) -> list[dict[str, Any]]:
    """The placements, in order: accepted ones and refusals of every kind, on five markets."""
    fixed, (f1, f2) = m["fixed"][0], m["fixed"][1]
    pari, (p1, p2) = m["pari"][0], m["pari"][1]
    held, (h1, _) = m["held"][0], m["held"][1]

    def w(
        who: str, market: int, outcome: int | None, stake: int | None, **more: Any
    ) -> dict[str, Any]:
        return {"who": who, "market_id": market, "outcome_id": outcome, "stake": stake, **more}

    return [
        w("erin", pari, p2, 20000, key="e0"),  # insufficient_funds, a new user: no wallet kept
        w("alice", pari, p1, 20000, key="a3"),  # insufficient_funds
        w("alice", pari, p1, 110, key="a3"),  # the key refused above is free again
        w("alice", fixed, f1, 100, key="a1"),
        w("bob", fixed, f2, 150, key="b1"),
        w("alice", fixed, f1, 100, key="a1"),  # a replay
        w("alice", fixed, f1, 120, key="a1"),  # idempotency_conflict
        w("carol", fixed, f1, 100, key="c1"),  # self_excluded
        w("dave", fixed, f2, 200, key="d1"),
        w("dave", fixed, f2, 200, key="d2"),  # daily_stake_limit_reached
        w("erin", fixed, f1, 20000, key="e1"),  # stake_above_cap, a new user: no wallet kept
        w("erin", fixed, f1, 100, key="e2"),  # the wallet made, with its grant
        w("frank", fixed, f1, 5000, key="f1"),  # stake_above_cap
        w("alice", fixed, f1, 300, key="a2"),  # payout_above_maximum
        w("bob", fixed, f1, 0, key="b2"),  # invalid_amount
        w("bob", fixed, f1, None, key="b3"),  # invalid_amount
        w("bob", fixed, f1, 10**16, key="b4"),  # invalid_amount (too large)
        w("bob", fixed, p1, 100, key="b5"),  # outcome_not_found
        w("bob", fixed, f1, 100, key="b6", expected_odds=Decimal("9.99")),  # odds_changed
        w("gina", fixed, f1, 100, key="g1"),  # unknown_user (deleted)
        w("hank", fixed, f1, 100, key="h1"),  # session_ended
        w("anon", fixed, f1, 100, key="n1"),  # 42501
        w("nosub", fixed, f1, 100, key="n2"),  # not_authenticated
        w("bob", fixed, f1, 100, key="x" * 201),  # invalid_idempotency_key
        w("frank", fixed, f2, 100, key="f2"),
        w("bob", fixed, f1, 130),  # no key
        w("bob", fixed, f1, 140, expected_odds=Decimal("1.5")),
        w("bob", fixed, f2, 9000, key="b7"),
        w("bob", fixed, f2, 900, key="b8"),  # insufficient_funds after the one above
        w("alice", pari, p1, 100, key="a4"),
        w("bob", pari, p2, 200, key="b9"),
        w("alice", pari, p1, 100, key="a1"),  # the key of another placement: a conflict
        w("erin", pari, p2, 50, key="e3"),
        w("dave", pari, p1, 100, key="d3"),  # exactly at the limit
        w("dave", pari, p1, 1, key="d4"),  # daily_stake_limit_reached
        w("bob", held, h1, 100, key="b10"),  # pending
        w("alice", held, h1, 100, key="a5"),  # pending
        w("alice", m["closed"][0], m["closed"][1][0], 100, key="a6"),  # market_not_open
        w("alice", m["draft"][0], m["draft"][1][0], 100, key="a7"),  # market_not_found
        w("boss", m["draft"][0], m["draft"][1][0], 100, key="s1"),  # market_not_open (admin)
        w("alice", 10**9, None, 100, key="a8"),  # market_not_found
        w("alice", fixed, f1, 100, key="a1"),  # a replay across batches
        w("bob", fixed, f2, 150, key="b1"),  # a replay across batches
        w("erin", fixed, f2, 100, key="e4"),
    ]


def arguments(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "outcome_id": p["outcome_id"],
        "stake": p["stake"],
        "expected_odds": None if p.get("expected_odds") is None else str(p["expected_odds"]),
        "idempotency_key": p.get("key"),
    }


def refused(error: psycopg.Error) -> Answer:
    diag = error.diag
    return ("refused", error.sqlstate, diag.message_primary, diag.message_detail, diag.message_hint)


def normal(answer: Answer) -> Answer:
    """An answer without the wager's created_at (each transaction's own now())."""
    if answer[0] != "ok":
        return answer
    value = dict(answer[1])
    value.pop("created_at", None)
    return ("ok", value)


def one_at_a_time(url: str, placements: list[dict[str, Any]]) -> list[Answer]:
    with psycopg.connect(url) as conn:
        return one_at_a_time_on(conn, placements)


def batch(conn: Connection, market_id: int, placements: list[dict[str, Any]]) -> list[Answer]:
    """One batch through server.place_wagers, as the API's login role, committed."""
    wagers = [{**arguments(p), "claims": claims(p["who"])} for p in placements]
    conn.execute("set local role authenticator")
    rows = conn.execute(
        "select result, sqlstate, message, detail, hint"
        " from server.place_wagers(%s, %s::jsonb) order by place",
        [market_id, json.dumps(wagers)],
    ).fetchall()
    conn.commit()
    assert len(rows) == len(placements)
    return [("ok", r[0]) if r[1] is None else ("refused", *r[1:]) for r in rows]


def in_batches(url: str, placements: list[dict[str, Any]], sizes: list[int]) -> list[Answer]:
    """The placements in order, in batches: each run of placements on one market cut into
    batches of the sizes given, in turn."""
    answers: list[Answer] = []
    turn = 0
    with psycopg.connect(url) as conn:
        i = 0
        while i < len(placements):
            market = placements[i]["market_id"]
            size = sizes[turn % len(sizes)]
            turn += 1
            taken: list[dict[str, Any]] = []
            while (
                i < len(placements) and placements[i]["market_id"] == market and len(taken) < size
            ):
                taken.append(placements[i])
                i += 1
            answers.extend(batch(conn, market, taken))
    return answers


BOOKS = {
    "wagers": "select id, user_id, market_id, outcome_id, stake, odds, potential_payout,"
    " expected_odds, approval, accepted_version, settlement, idempotency_key"
    " from app.wagers order by id",
    "outcomes": "select id, pool, liability, wager_count from app.outcomes order by id",
    "markets": "select id, status, version, total_pool from app.markets order by id",
    "accounts": "select kind, user_id, market_id, balance, version from app.accounts"
    " order by kind, user_id, market_id",
    # each account's history in order (a refused call's rolled-back wallet used up ids, so
    # accounts and ledger rows are compared by what they are, not by their ids)
    "entries": "select a.kind, a.user_id, a.market_id, e.account_version, e.kind, e.amount,"
    " e.balance_before, e.balance_after, t.kind, t.market_id, t.wager_id, t.actor, t.memo"
    " from app.ledger_entries as e"
    " inner join app.accounts as a on e.account_id = a.id"
    " inner join app.ledger_transactions as t on e.transaction_id = t.id"
    " order by a.kind, a.user_id, a.market_id, e.account_version",
    "keys": "select user_id, key, operation, arguments, result - 'created_at', replays"
    " from app.idempotency_keys order by user_id, key",
}


def books(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        assert_invariants(conn)
        return {name: conn.execute(query).fetchall() for name, query in BOOKS.items()}


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


def acknowledged_keys(plan: list[tuple[int, list[dict[str, Any]]]]) -> list[str]:
    return [w["key"] for _, wagers in plan for w in wagers]


def one_at_a_time_on(conn: Connection, placements: list[dict[str, Any]]) -> list[Answer]:
    """Each placement as the API runs a request alone: the session checked, then the caller's
    role and claims, one call of place_wager, one commit."""
    answers: list[Answer] = []
    for p in placements:
        who = claims(p["who"])
        try:
            conn.execute("select server.check_session(%s::jsonb)", [json.dumps(who)])
            value = as_caller(
                conn,
                who,
                "select public.place_wager(market_id => %s, outcome_id => %s, stake => %s,"
                " expected_odds => %s::numeric, idempotency_key => %s)",
                [p["market_id"], *arguments(p).values()],
            )
            conn.commit()
            answers.append(("ok", value))
        except psycopg.Error as error:
            conn.rollback()
            answers.append(refused(error))
    return answers
