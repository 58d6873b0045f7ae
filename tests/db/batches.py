"""What the batched-placement tests (test_batched_placement.py) run: the users (each with a session)
and markets of a fresh database, the replayed sequence of placements with refusals of every kind,
the placements run one call at a time (as the API runs a request) or in batches
(server.place_wagers), the answers made comparable, and the books read row for row."""

import json
import uuid
from decimal import Decimal
from typing import Any

import psycopg

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
