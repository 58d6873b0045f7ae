"""The defects of the original BetMarket (BETMARKET_API.md, last section), one test each, proving
that Wagerbase's /api keeps the contract's shape without repeating them."""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest

from tests.api.betmarket_client import PASSWORD, User, admin, client, query, register
from tests.pgserver import unique_name
from tests.serving import Node


def test_defect_1_setting_a_result_twice_pays_nothing_the_second_time(
    http: httpx.Client, boss: User, api_database: str, node: Node
) -> None:
    game_id = boss.new_game()
    winner, loser = register(http), register(http)
    assert winner.bet(game_id, 50.0, "opt1", expected_odd=1.5).status_code == 201
    assert loser.bet(game_id, 10.0, "opt2").status_code == 201
    assert boss.settle(game_id, "opt1").status_code == 200
    assert winner.balance() == 125.0 and loser.balance() == 90.0
    profit = boss.profit()

    for result in ("opt1", "opt2"):
        again = boss.settle(game_id, result)
        assert again.status_code == 409
        assert again.json() == {"error": "The game has its result already"}
    assert winner.balance() == 125.0 and loser.balance() == 90.0
    assert boss.profit() == profit
    assert [b["payout"] for b in winner.bets(game_id)] == [75.0]
    payouts = query(
        api_database,
        "select count(*) from app.ledger_transactions where market_id = %s and kind = 'settlement'",
        [game_id],
    )
    assert payouts == [(1,)]

    # two admins racing to set the result: one pays, the other is refused
    raced = boss.new_game()
    bettor = register(http)
    assert bettor.bet(raced, 20.0, "opt2", expected_odd=1.5).status_code == 201
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda result: (
                    httpx.post(
                        f"{node.url}/api/admin/start_game",
                        json={"game_id": raced, "result": result},
                        headers=boss.headers,
                        timeout=30,
                    ).status_code
                ),
                ["opt2", "opt2", "opt1", "opt2"],
            )
        )
    assert sorted(answers) == [200, 409, 409, 409]
    assert bettor.balance() in (80.0, 110.0)  # lost, or won 20.00 * 1.5 once


def test_defect_2_money_is_exact_to_the_cent(
    http: httpx.Client, boss: User, api_database: str
) -> None:
    user = register(http)
    assert user.deposit(0.1)["new_balance"] == 100.1
    second = user.post("/api/balance", {"amount": 0.2})
    assert second.json()["new_balance"] == 100.3
    assert '"new_balance":100.3}' in second.text  # not 100.30000000000001
    balance = user.get("/api/balance")
    assert balance.text == f'{{"user_id":"{user.id}","balance":100.3}}'
    stored = query(api_database, "select balance from app.accounts where user_id = %s", [user.id])
    assert stored == [(10030,)]

    assert user.deposit(12.34)["new_balance"] == 112.64
    game_id = boss.new_game()
    for amount in (0.1, 0.2):
        assert user.bet(game_id, amount, "opt1").status_code == 201
    assert user.balance() == 112.34
    assert sorted(b["amount"] for b in user.bets(game_id)) == [0.1, 0.2]
    stakes = query(
        api_database, "select stake from app.wagers where user_id = %s order by id", [user.id]
    )
    assert stakes == [(10,), (20,)]

    for literal in ("0.001", "1.005", "0.1000000000000000001", "1e-2000"):
        raw = f'{{"amount": {literal}}}'
        refused = http.post(
            "/api/balance",
            content=raw,
            headers={**user.headers, "Content-Type": "application/json"},
        )
        assert refused.status_code == 400, (literal, refused.text)
        assert refused.json() == {"error": "amount must be a number with at most 2 decimals"}
    assert user.balance() == 112.34

    # a bet of 0.10 at 1.5 pays exactly 0.15
    exact = boss.new_game()
    assert user.bet(exact, 0.1, "opt2", expected_odd=1.5).status_code == 201
    assert boss.settle(exact, "opt2").status_code == 200
    assert [b["payout"] for b in user.bets(exact)] == [0.15]
    assert user.balance() == 112.39


def test_defect_3_deposits_are_bounded_recorded_and_idempotent(
    http: httpx.Client, api_database: str
) -> None:
    user = register(http)
    over = user.post("/api/balance", {"amount": 10000.01})
    assert over.status_code == 400
    assert over.json() == {"error": "Amount exceeds the maximum", "max_amount": 10000.0}
    for amount in (0, -50, 1e12):
        assert user.post("/api/balance", {"amount": amount}).status_code == 400
    assert user.balance() == 100.0
    assert user.deposit(10000.0)["new_balance"] == 10100.0

    key = {"Idempotency-Key": unique_name("deposit")}
    first = user.post("/api/balance", {"amount": 5.5}, headers=key)
    retry = user.post("/api/balance", {"amount": 5.5}, headers=key)
    assert first.status_code == retry.status_code == 200
    assert (
        first.json()
        == retry.json()
        == {
            "user_id": user.id,
            "amount_added": 5.5,
            "new_balance": 10105.5,
        }
    )
    assert "idempotent-replayed" not in first.headers
    assert retry.headers["idempotent-replayed"] == "true"
    assert user.balance() == 10105.5
    other = user.post("/api/balance", {"amount": 6.0}, headers=key)
    assert other.status_code == 409 and other.json()["error"]
    assert user.balance() == 10105.5

    entries = query(
        api_database,
        "select kind, amount, balance_before, balance_after from app.ledger_entries "
        "where user_id = %s order by id",
        [user.id],
    )
    assert entries == [
        ("grant", 10000, 0, 10000),
        ("deposit", 1000000, 10000, 1010000),
        ("deposit", 550, 1010000, 1010550),
    ]
    unbalanced = query(
        api_database,
        "select e.transaction_id from app.ledger_entries as e where e.transaction_id in "
        "(select transaction_id from app.ledger_entries where user_id = %s) "
        "group by e.transaction_id having sum(e.amount) <> 0",
        [user.id],
    )
    assert unbalanced == []


def test_defect_4_the_registration_body_cannot_make_an_admin(
    http: httpx.Client, node: Node, api_database: str
) -> None:
    for extra in (
        {"isAdmin": True},
        {"is_admin": True, "role": "admin", "app_metadata": {"role": "admin"}},
    ):
        name = unique_name("mallory")
        answer = http.post(
            "/api/auth/register", json={"username": name, "password": PASSWORD, **extra}
        )
        assert answer.status_code == 200, answer.text  # extra fields are ignored
        body = answer.json()
        assert body["isAdmin"] is False
        claims = jwt.decode(body["token"], node.jwt_secret, ["HS256"], audience="authenticated")
        assert claims["role"] == "authenticated" and "role" not in claims["app_metadata"]
        mallory = User(http, name, body["id"], body["token"])
        assert mallory.get("/api/admin/profit").status_code == 403
        login = http.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert login.json()["isAdmin"] is False
        stored = query(
            api_database, "select raw_app_meta_data from auth.users where id = %s", [body["id"]]
        )
        assert "role" not in stored[0][0]


def test_defect_5_a_missing_expected_odd_is_allowed_and_the_odds_used_are_recorded(
    http: httpx.Client, boss: User, api_database: str
) -> None:
    game_id = boss.new_game()
    assert register(http).bet(game_id, 30.0, "opt1").status_code == 201
    live = http.get(f"/api/games/{game_id}").json()["odd2"]
    user = register(http)
    placed = user.bet(game_id, 10.0, "opt2")
    assert placed.status_code == 201
    assert placed.json()["bet_odd"] == live == 1.65
    checked = user.bet(game_id, 10.0, "opt2", expected_odd=placed.json()["new_odd2"])
    assert checked.status_code == 201

    history = user.bets(game_id)
    assert [b["odd"] for b in history] == [checked.json()["bet_odd"], 1.65]
    recorded = query(
        api_database,
        "select odds::text, expected_odds::text from app.wagers where id in (%s, %s) order by id",
        [placed.json()["bet_id"], checked.json()["bet_id"]],
    )
    assert recorded[0] == ("1.6500", None)
    assert recorded[1][1] is not None and recorded[1][0] == recorded[1][1]


def test_defect_6_closed_unknown_and_forbidden_are_4xx_never_500(
    http: httpx.Client, boss: User, api_database: str
) -> None:
    user = register(http)
    closed = boss.new_game()
    assert boss.stop_betting(closed).status_code == 200
    settled = boss.new_game()
    assert boss.settle(settled, "opt1").status_code == 200
    for game_id in (closed, settled):
        for choice in ("opt1", "opt2"):
            refused = user.bet(game_id, 1.0, choice, expected_odd=1.5)
            assert refused.status_code == 400
            assert refused.json() == {"error": "Betting is closed"}
    for game_id in (999999999, 0, -4, 2**63 - 1, 2**64):
        unknown = user.bet(game_id, 1.0, "opt1")
        assert unknown.status_code == 404 and unknown.json() == {"error": "Game not found"}

    # a market that is not a BetMarket game (three outcomes) is no game here
    with psycopg.connect(api_database) as conn, conn.transaction():
        conn.execute("set local role service_role")
        conn.execute(
            "select set_config('request.jwt.claims', %s, true)",
            [json.dumps({"role": "service_role"})],
        )
        row = conn.execute(
            "select (public.create_market('Three-way', '[\"A\", \"B\", \"C\"]') ->> 'id')::bigint"
        ).fetchone()
    assert row is not None
    three_way = row[0]
    assert user.bet(three_way, 1.0, "opt1").status_code == 404
    assert http.get(f"/api/games/{three_way}").status_code == 404
    assert three_way not in [g["game_id"] for g in http.get("/api/games").json()["games"]]
    assert boss.settle(three_way, "opt1").status_code == 404
    assert boss.stop_betting(three_way).status_code == 404

    game_id = boss.new_game()
    for path, body in (
        (
            "/api/admin/game",
            {"question_text": "Q?", "opt1_text": "A", "opt2_text": "B", "category": "real"},
        ),
        ("/api/admin/stop_betting", {"game_id": game_id}),
        ("/api/admin/start_game", {"game_id": game_id, "result": "opt1"}),
        ("/api/admin/stop_betting", {"game_id": 999999999}),
    ):
        forbidden = user.post(path, body)
        assert forbidden.status_code == 403, (path, forbidden.text)
        assert forbidden.json() == {"error": "Admins only"}
    assert user.get("/api/admin/profit").status_code == 403
    assert user.balance() == 100.0


def test_defect_7_restarting_the_node_keeps_balances_and_bets(
    api_database: str, node: Node, tmp_path: Path
) -> None:
    first = Node(api_database, node.jwt_secret, tmp_path / "first.log").start()
    try:
        with client(first.url) as http:
            boss = admin(http, api_database)
            game_id = boss.new_game("Survives a restart?")
            user = register(http)
            user.deposit(25.5)
            assert user.bet(game_id, 20.0, "opt1", expected_odd=1.5).status_code == 201
            balance, bets = user.balance(), user.bets()
            game = http.get(f"/api/games/{game_id}").json()
    finally:
        first.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{first.url}/health", timeout=2)
    assert balance == 105.5 and len(bets) == 1

    second = Node(api_database, node.jwt_secret, tmp_path / "second.log").start()
    try:
        with client(second.url) as http:
            again = User(http, user.name, user.id, user.token)  # the token from the first node
            assert again.balance() == balance
            assert again.bets() == bets
            assert http.get(f"/api/games/{game_id}").json() == game
            login = http.post("/api/auth/login", json={"username": user.name, "password": PASSWORD})
            assert login.status_code == 200 and login.json()["id"] == user.id
    finally:
        second.stop()
