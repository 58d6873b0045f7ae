"""BetMarket's REST contract (../shared/BETMARKET_API.md) over HTTP against a running node: games,
bets at the seed's worked numbers, balance, history, admin, and the error answers (its auth in
test_betmarket_auth.py)."""

import time

import httpx

from tests.api.betmarket_client import BET_FIELDS, GAME_FIELDS, User, register
from tests.serving import Node

# Games --------------------------------------------------------------------------------------------


def test_a_new_game_is_listed_newest_first_with_the_seeds_quotes(
    http: httpx.Client, boss: User
) -> None:
    older = boss.new_game("Older question?")
    game_id = boss.new_game("Will it rain on Sunday?", category="virtual")
    listed = http.get("/api/games")
    assert listed.status_code == 200
    games = listed.json()["games"]
    ids = [g["game_id"] for g in games]
    assert ids.index(game_id) < ids.index(older)
    game = next(g for g in games if g["game_id"] == game_id)
    assert set(game) == GAME_FIELDS
    assert game == {
        "game_id": game_id,
        "question_text": "Will it rain on Sunday?",
        "opt1_text": "Home",
        "opt2_text": "Away",
        "category": "virtual",
        "result": None,
        "betting_open": True,
        "tot_opt1": 0.0,
        "tot_opt2": 0.0,
        "odd1": 1.5,
        "odd2": 1.5,
        "cap_opt1": 100.0,
        "cap_opt2": 100.0,
        "created_at": game["created_at"],
    }
    assert abs(game["created_at"] - time.time()) < 120
    one = http.get(f"/api/games/{game_id}")
    assert one.status_code == 200 and one.json() == game


def test_unknown_or_malformed_game_ids_are_404(http: httpx.Client) -> None:
    for game_id in ("999999999", "abc", "-1", "0", "1.5", "99999999999999999999", "\uff11"):
        answer = http.get(f"/api/games/{game_id}")
        assert answer.status_code == 404, (game_id, answer.text)
        assert answer.json() == {"error": "Game not found"}


# Betting ------------------------------------------------------------------------------------------


def test_bets_move_the_odds_and_caps_as_in_the_seed(http: httpx.Client, boss: User) -> None:
    game_id = boss.new_game()
    ana = register(http)
    placed = ana.bet(game_id, 100.0, "opt1", expected_odd=1.5)
    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert set(body) == {
        "message",
        "bet_id",
        "new_balance",
        "bet_odd",
        "new_odd1",
        "new_odd2",
        "new_cap_opt1",
        "new_cap_opt2",
    }
    assert body["bet_odd"] == 1.5 and body["new_balance"] == 0.0
    assert (body["new_odd1"], body["new_odd2"]) == (1.25, 2.0)
    assert (body["new_cap_opt1"], body["new_cap_opt2"]) == (10.0, 150.0)
    game = http.get(f"/api/games/{game_id}").json()
    assert (game["tot_opt1"], game["tot_opt2"], game["odd1"], game["odd2"]) == (100.0, 0, 1.25, 2.0)
    assert (game["cap_opt1"], game["cap_opt2"]) == (10.0, 150.0)

    # without expected_odd: allowed at the live odds, which the answer reports
    ben = register(http)
    free = ben.bet(game_id, 20.0, "opt2")
    assert free.status_code == 201, free.text
    assert free.json()["bet_odd"] == 2.0
    assert [b["odd"] for b in ben.bets(game_id)] == [2.0]


def test_stale_odds_are_refused_with_the_current_odd(http: httpx.Client, boss: User) -> None:
    game_id = boss.new_game()
    assert register(http).bet(game_id, 100.0, "opt1").status_code == 201
    cy = register(http)
    stale = cy.bet(game_id, 5.0, "opt1", expected_odd=1.5)
    assert stale.status_code == 409
    body = stale.json()
    assert body["error"] == "Odds have changed"
    assert body["current_odd"] == 1.25 and body["expected_odd"] == 1.5
    assert isinstance(body["message"], str) and body["message"]
    assert cy.balance() == 100.0 and cy.bets(game_id) == []
    # within the 0.01 tolerance the bet goes through at the live odd
    close = cy.bet(game_id, 5.0, "opt1", expected_odd=1.255)
    assert close.status_code == 201 and close.json()["bet_odd"] == 1.25


def test_a_stake_above_the_cap_is_refused_with_max_cap(http: httpx.Client, boss: User) -> None:
    game_id = boss.new_game()
    assert register(http).bet(game_id, 100.0, "opt1").status_code == 201
    dee = register(http)
    over = dee.bet(game_id, 10.01, "opt1", expected_odd=1.25)
    assert over.status_code == 400
    assert over.json() == {"error": "Amount exceeds cap", "max_cap": 10.0}
    assert dee.balance() == 100.0
    assert dee.bet(game_id, 10.0, "opt1", expected_odd=1.25).status_code == 201


def test_insufficient_balance_and_bad_amounts_are_400(http: httpx.Client, boss: User) -> None:
    game_id = boss.new_game()
    eve = register(http)
    assert eve.bet(game_id, 60.0, "opt1").status_code == 201
    poor = eve.bet(game_id, 40.01, "opt2")  # the cap on opt2 is 137.50 now
    assert poor.status_code == 400 and poor.json() == {"error": "Insufficient balance"}
    assert eve.balance() == 40.0
    json_headers = {**eve.headers, "Content-Type": "application/json"}
    for amount in ("0.001", "-5", "0", '"10"', "true", "null", "1e400", "1e30", "[1]", "1e-400"):
        raw = f'{{"game_id": {game_id}, "amount": {amount}, "choice": "opt1"}}'
        refused = http.post("/api/bet", content=raw, headers=json_headers)
        assert refused.status_code == 400, (amount, refused.text)
        assert refused.json()["error"], amount
    assert eve.balance() == 40.0 and len(eve.bets()) == 1


def test_bad_bodies_are_400_with_an_error(http: httpx.Client, boss: User) -> None:
    game_id = boss.new_game()
    fay = register(http)
    json_headers = {**fay.headers, "Content-Type": "application/json"}
    for raw in (b"{", b"", b"[]", b"null", b'"x"', b'{"game_id": 1, "amount": NaN}'):
        answer = http.post("/api/bet", content=raw, headers=json_headers)
        assert answer.status_code == 400, (raw, answer.text)
        assert set(answer.json()) == {"error"}
    for body in (
        {"amount": 1, "choice": "opt1"},
        {"game_id": game_id, "amount": 1},
        {"game_id": game_id, "amount": 1, "choice": "opt3"},
        {"game_id": str(game_id), "amount": 1, "choice": "opt1"},
        {"game_id": game_id, "amount": 1, "choice": "opt1", "expected_odd": "1.5"},
        {"game_id": game_id, "amount": 1, "choice": "opt1", "extra": True},
    ):
        answer = fay.post("/api/bet", body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"]
    assert fay.bets() == []


# Balance ------------------------------------------------------------------------------------------


def test_balance_starts_at_100_and_deposits_add_to_it(http: httpx.Client) -> None:
    gil = register(http)
    first = gil.get("/api/balance")
    assert first.status_code == 200 and first.json() == {"user_id": gil.id, "balance": 100.0}
    added = gil.post("/api/balance", {"amount": 50.25})
    assert added.status_code == 200
    assert added.json() == {"user_id": gil.id, "amount_added": 50.25, "new_balance": 150.25}
    assert gil.balance() == 150.25
    for amount in (0, -1, 0.001, "5", None, 10000.01):
        refused = gil.post("/api/balance", {"amount": amount})
        assert refused.status_code == 400 and refused.json()["error"], amount
    assert gil.balance() == 150.25


# History and settlement ---------------------------------------------------------------------------


def test_history_shows_won_and_payout_after_settlement(http: httpx.Client, boss: User) -> None:
    game_id = boss.new_game("Final score over 2.5?")
    winner, loser = register(http), register(http)
    assert winner.bet(game_id, 40.0, "opt2", expected_odd=1.5).status_code == 201
    assert loser.bet(game_id, 30.0, "opt1").status_code == 201

    (open_bet,) = winner.bets(game_id)
    assert set(open_bet) == BET_FIELDS
    assert open_bet["won"] is None and open_bet["payout"] is None
    assert open_bet["betting_open"] is True and open_bet["game_result"] is None

    stopped = boss.stop_betting(game_id)
    assert stopped.status_code == 200
    assert stopped.json() == {"message": stopped.json()["message"], "game_id": game_id}
    assert http.get(f"/api/games/{game_id}").json()["betting_open"] is False
    settled = boss.settle(game_id, "opt2")
    assert settled.status_code == 200
    assert settled.json() == {
        "message": settled.json()["message"],
        "game_id": game_id,
        "result": "opt2",
    }

    (won,) = winner.bets(game_id)
    assert won == {
        "bet_id": open_bet["bet_id"],
        "user_id": winner.id,
        "game_id": game_id,
        "amount": 40.0,
        "choice": "opt2",
        "odd": 1.5,
        "placed_at": open_bet["placed_at"],
        "game_question": "Final score over 2.5?",
        "game_category": "real",
        "opt1_text": "Home",
        "opt2_text": "Away",
        "game_result": "opt2",
        "betting_open": False,
        "won": True,
        "payout": 60.0,
    }
    (lost,) = loser.bets(game_id)
    assert lost["won"] is False and lost["payout"] == 0.0 and lost["odd"] == 1.7
    assert winner.balance() == 120.0 and loser.balance() == 70.0
    assert http.get(f"/api/games/{game_id}").json()["result"] == "opt2"

    # a second settlement pays nothing and says why
    again = boss.settle(game_id, "opt1")
    assert again.status_code == 409 and again.json()["error"]
    assert winner.balance() == 120.0 and loser.balance() == 70.0


def test_user_bets_lists_every_game_newest_first(http: httpx.Client, boss: User) -> None:
    first, second = boss.new_game(), boss.new_game()
    hal = register(http)
    assert hal.bet(first, 1.0, "opt1").status_code == 201
    assert hal.bet(second, 2.0, "opt2").status_code == 201
    assert [(b["game_id"], b["amount"]) for b in hal.bets()] == [(second, 2.0), (first, 1.0)]
    assert [b["game_id"] for b in hal.bets(first)] == [first]
    assert hal.bets(999999999) == []
    assert hal.get("/api/user/bets/abc").status_code == 404


# Admin --------------------------------------------------------------------------------------------


def test_profit_is_stakes_kept_minus_winnings_paid(http: httpx.Client, boss: User) -> None:
    before = boss.profit()
    game_id = boss.new_game()
    ida, jo = register(http), register(http)
    assert ida.bet(game_id, 100.0, "opt1", expected_odd=1.5).status_code == 201
    assert jo.bet(game_id, 50.0, "opt2", expected_odd=2.0).status_code == 201
    assert boss.settle(game_id, "opt2").status_code == 200  # settles an open game too
    # staked 150.00, paid 50.00 * 2.0 = 100.00
    assert round(boss.profit() - before, 2) == 50.0
    assert jo.balance() == 150.0 and ida.balance() == 0.0


def test_admin_calls_are_403_for_a_player_and_401_anonymous(
    http: httpx.Client, boss: User, node: Node
) -> None:
    game_id = boss.new_game()
    kim = register(http)
    calls = [
        (
            "post",
            "/api/admin/game",
            {"question_text": "Q?", "opt1_text": "A", "opt2_text": "B", "category": "real"},
        ),
        ("post", "/api/admin/stop_betting", {"game_id": game_id}),
        ("post", "/api/admin/start_game", {"game_id": game_id, "result": "opt1"}),
        ("get", "/api/admin/profit", None),
    ]
    for method, path, body in calls:
        as_player = kim.get(path) if method == "get" else kim.post(path, body)
        assert as_player.status_code == 403 and as_player.json()["error"], path
        for headers in ({}, {"Authorization": f"Bearer {node.anon_key}"}):
            anonymous = http.request(method, path, json=body, headers=headers)
            assert anonymous.status_code == 401 and anonymous.json()["error"], path
    game = http.get(f"/api/games/{game_id}").json()
    assert game["betting_open"] is True and game["result"] is None


def test_admin_refusals(http: httpx.Client, boss: User) -> None:
    game_id = boss.new_game()
    assert boss.stop_betting(999999999).status_code == 404
    assert boss.settle(999999999, "opt1").status_code == 404
    assert boss.stop_betting(game_id).status_code == 200
    again = boss.stop_betting(game_id)
    assert again.status_code == 409 and again.json()["error"]
    same = boss.post(
        "/api/admin/game",
        {"question_text": "Q?", "opt1_text": "Same", "opt2_text": "same", "category": "real"},
    )
    assert same.status_code == 400 and same.json()["error"]
    for body in (
        {"question_text": "Q?", "opt1_text": "A", "opt2_text": "B", "category": "other"},
        {"question_text": "Q?", "opt1_text": "A", "opt2_text": "B"},
        {"question_text": "", "opt1_text": "A", "opt2_text": "B", "category": "real"},
    ):
        refused = boss.post("/api/admin/game", body)
        assert refused.status_code == 400 and refused.json()["error"], body
    assert boss.settle(game_id, "opt3").status_code == 400


def test_options_lists_every_method_of_a_path(http: httpx.Client) -> None:
    for path, allowed in (("/api/balance", "GET, OPTIONS, POST"), ("/api/bet", "OPTIONS, POST")):
        answer = http.options(path)
        assert answer.status_code == 204 and answer.headers["allow"] == allowed


def test_openapi_documents_the_contract(http: httpx.Client) -> None:
    schema = http.get("/schema/openapi.json").json()
    bet = schema["paths"]["/api/bet"]["post"]
    assert set(bet["responses"]) >= {"201", "400", "401", "404", "409"}
    ref = bet["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    body = schema["components"]["schemas"][ref]
    assert body["properties"]["amount"] == {"type": "number"}
    assert sorted(body["required"]) == ["amount", "choice", "game_id"]
    game = schema["components"]["schemas"]["Game"]
    assert set(game["properties"]) == GAME_FIELDS
    assert game["properties"]["odd1"]["type"] == "number"
    for path in (
        "/api/games",
        "/api/games/{game_id}",
        "/api/balance",
        "/api/user/bets",
        "/api/admin/game",
        "/api/admin/stop_betting",
        "/api/admin/start_game",
        "/api/admin/profit",
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/logout",
    ):
        assert path in schema["paths"], path
