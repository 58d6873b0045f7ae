"""BetMarket's /ws fans out on two `serve` nodes, one database (docs/live.md): a new game reaches
every socket on both nodes; a bet through one node moves the odds everywhere and tells only the
bettor; closing and settling reach everyone, pay the winners and tell admins; markets that are not
games get the same opcodes, with their outcomes.

Waits are generous and never asserted. A socket that must NOT receive something is checked with a
marker: after the event, a bet on a separate marker game commits, and its public `odds_update`
reaches every socket through the same hub after everything committed before it. Once a socket
has the marker, a message it was not sent before will never come. The two nodes, the sockets and
the marker are fixtures of tests/live/conftest.py.
"""

from collections.abc import Callable
from typing import Any

import httpx

from tests.api.betmarket_client import User, market_version, wallet_version
from tests.live.betmarket import Marker, opcode, player
from tests.live.sockets import Socket
from tests.serving import Node


def test_a_new_game_reaches_every_socket_on_both_nodes(
    node_a: Node,
    node_b: Node,
    http_a: httpx.Client,
    boss: User,
    live_database: str,
    sockets: Callable[[Node, str], Socket],
) -> None:
    bettor = player(http_a)
    everyone = [sockets(node_a, "anonymous A"), sockets(node_b, "anonymous B")]
    for node in (node_a, node_b):
        signed_in = sockets(node, "bettor")
        signed_in.authenticate(bettor.token)
        everyone.append(signed_in)

    game_id = boss.new_game("Will it rain on the final?", category="virtual")
    game = http_a.get(f"/api/games/{game_id}").json()
    version = market_version(live_database, game_id)
    for socket in everyone:
        message = socket.expect("new_game", game_id=game_id)
        assert message == {
            "opcode": "new_game",
            "game_id": game_id,
            "question_text": "Will it rain on the final?",
            "opt1_text": "Home",
            "opt2_text": "Away",
            "category": "virtual",
            "betting_open": True,
            "odd1": game["odd1"],
            "odd2": game["odd2"],
            "cap_opt1": game["cap_opt1"],
            "cap_opt2": game["cap_opt2"],
            "version": version,
        }


def test_a_bet_through_node_a_moves_odds_everywhere_and_tells_only_the_bettor(
    node_a: Node,
    node_b: Node,
    http_a: httpx.Client,
    boss: User,
    live_database: str,
    marker: Marker,
    sockets: Callable[[Node, str], Socket],
) -> None:
    bettor, other = player(http_a), player(http_a, "other")
    game_id = boss.new_game("Derby")
    bettor_a, bettor_b = sockets(node_a, "bettor on A"), sockets(node_b, "bettor on B")
    other_b, boss_b = sockets(node_b, "other on B"), sockets(node_b, "boss on B")
    anonymous = [sockets(node_a, "anonymous A"), sockets(node_b, "anonymous B")]
    for socket, user in ((bettor_a, bettor), (bettor_b, bettor), (other_b, other), (boss_b, boss)):
        assert socket.authenticate(user.token)["opcode"] == "authenticated"

    answer = bettor.bet(game_id, 10, "opt1")
    assert answer.status_code == 201, answer.text
    placed = answer.json()
    version = market_version(live_database, game_id)
    everyone = [bettor_a, bettor_b, other_b, boss_b, *anonymous]
    for socket in everyone:
        assert socket.expect("odds_update", game_id=game_id) == {
            "opcode": "odds_update",
            "game_id": game_id,
            "odd1": placed["new_odd1"],
            "odd2": placed["new_odd2"],
            "cap_opt1": placed["new_cap_opt1"],
            "cap_opt2": placed["new_cap_opt2"],
            "total_volume": 10.0,
            "version": version,
        }
    seq = wallet_version(live_database, bettor.id)
    for socket in (bettor_a, bettor_b):
        assert socket.expect("bet_confirmed", game_id=game_id) == {
            "opcode": "bet_confirmed",
            "game_id": game_id,
            "amount": 10.0,
            "choice": "opt1",
            "odd": placed["bet_odd"],
            "bet_id": placed["bet_id"],
        }
        assert socket.expect("balance_update", balance_seq=seq) == {
            "opcode": "balance_update",
            "user_id": bettor.id,
            "balance": placed["new_balance"],
            "balance_seq": seq,
            "game_id": game_id,
        }

    others = [other_b, boss_b, *anonymous]
    marker(*others)
    for socket in others:
        socket.never_got(opcode("bet_confirmed"))
        socket.never_got(opcode("balance_update", user_id=bettor.id))
        socket.never_got(opcode("profit_update"))  # bets do not move the bookmaker's account


def test_closing_and_settling_reach_everyone_and_pay_the_winners_and_tell_admins(
    node_a: Node,
    node_b: Node,
    http_a: httpx.Client,
    http_b: httpx.Client,
    boss: User,
    live_database: str,
    marker: Marker,
    sockets: Callable[[Node, str], Socket],
) -> None:
    winner, loser = player(http_a, "winner"), player(http_a, "loser")
    game_id = boss.new_game("Final")
    winner_a, winner_b = sockets(node_a, "winner on A"), sockets(node_b, "winner on B")
    loser_b = sockets(node_b, "loser on B")
    boss_a, boss_b = sockets(node_a, "boss on A"), sockets(node_b, "boss on B")
    anonymous = [sockets(node_a, "anonymous A"), sockets(node_b, "anonymous B")]
    for socket, user in (
        (winner_a, winner),
        (winner_b, winner),
        (loser_b, loser),
        (boss_a, boss),
        (boss_b, boss),
    ):
        assert socket.authenticate(user.token)["opcode"] == "authenticated"
    won = winner.bet(game_id, 20, "opt2")
    assert won.status_code == 201, won.text
    assert loser.bet(game_id, 30, "opt1").status_code == 201
    everyone = [winner_a, winner_b, loser_b, boss_a, boss_b, *anonymous]

    boss_on_b = User(http_b, boss.name, boss.id, boss.token)
    assert boss_on_b.stop_betting(game_id).status_code == 200
    closed_at = market_version(live_database, game_id)
    for socket in everyone:
        assert socket.expect("betting_closed", game_id=game_id) == {
            "opcode": "betting_closed",
            "game_id": game_id,
            "version": closed_at,
        }

    assert boss.settle(game_id, "opt2").status_code == 200
    settled_at = market_version(live_database, game_id)
    assert settled_at > closed_at
    for socket in everyone:
        assert socket.expect("game_result", game_id=game_id) == {
            "opcode": "game_result",
            "game_id": game_id,
            "result": "opt2",
            "version": settled_at,
        }
    seq = wallet_version(live_database, winner.id)
    balance = winner.balance()
    assert balance > won.json()["new_balance"]
    for socket in (winner_a, winner_b):
        assert socket.expect("balance_update", balance_seq=seq) == {
            "opcode": "balance_update",
            "user_id": winner.id,
            "balance": balance,
            "balance_seq": seq,
            "game_id": game_id,
        }
    profit = boss.profit()
    for socket in (boss_a, boss_b):
        assert socket.expect("profit_update", profit=profit) == {
            "opcode": "profit_update",
            "profit": profit,
        }

    others = [winner_a, winner_b, loser_b, *anonymous]
    marker(*others)
    for socket in others:
        socket.never_got(opcode("profit_update"))
    loser_seq = wallet_version(live_database, loser.id)
    loser_b.never_got(
        lambda m: m.get("opcode") == "balance_update" and m["balance_seq"] > loser_seq
    )
    loser_b.never_got(opcode("balance_update", user_id=winner.id))


def test_markets_that_are_not_games_get_the_same_opcodes_with_outcomes(
    node_a: Node,
    node_b: Node,
    http_a: httpx.Client,
    boss: User,
    live_database: str,
    sockets: Callable[[Node, str], Socket],
) -> None:
    def rpc(user: User, name: str, body: dict[str, Any]) -> Any:
        answer = user.post(f"/rest/v1/rpc/{name}", body, headers={"apikey": node_a.anon_key})
        assert answer.status_code == 200, answer.text
        return answer.json()

    bettor = player(http_a)
    watcher, own = sockets(node_b, "anonymous B"), sockets(node_a, "bettor on A")
    assert own.authenticate(bettor.token)["opcode"] == "authenticated"

    three = rpc(boss, "create_market", {"title": "Podium", "outcomes": ["Ann", "Bo", "Cy"]})
    pool = rpc(
        boss,
        "create_market",
        {"title": "Pool", "outcomes": ["Yes", "No"], "kind": "parimutuel"},
    )
    for market, labels, kind in (
        (three, ["Ann", "Bo", "Cy"], "fixed_odds"),
        (pool, ["Yes", "No"], "parimutuel"),
    ):
        for socket in (watcher, own):
            message = socket.expect("new_game", market_id=market["id"])
            assert "game_id" not in message and "odd1" not in message
            assert message["kind"] == kind
            assert message["question_text"] == market["title"]
            assert message["betting_open"] is True
            assert message["version"] == market_version(live_database, market["id"])
            assert [o["label"] for o in message["outcomes"]] == labels
            assert [o["outcome_id"] for o in message["outcomes"]] == [
                o["outcome_id"] for o in market["outcomes"]
            ]
            assert {tuple(sorted(o)) for o in message["outcomes"]} == {
                ("cap", "label", "odds", "outcome_id", "pool", "position", "share")
            }

    second = three["outcomes"][1]["outcome_id"]
    wager = rpc(
        bettor, "place_wager", {"market_id": three["id"], "outcome_id": second, "stake": 1250}
    )
    version = market_version(live_database, three["id"])
    quotes = http_a.get(
        "/rest/v1/outcomes",
        params={"market_id": f"eq.{three['id']}", "order": "position"},
        headers={"apikey": node_a.anon_key},
    ).json()
    for socket in (watcher, own):
        update = socket.expect("odds_update", market_id=three["id"], version=version)
        assert update["total_volume"] == 12.5
        assert update["outcomes"] == [
            {
                "outcome_id": q["id"],
                "position": q["position"],
                "odds": q["odds"],
                "cap": q["cap"] / 100,
                "pool": q["pool"] / 100,
                "share": q["share"],
            }
            for q in quotes
        ]
    assert own.expect("bet_confirmed", market_id=three["id"]) == {
        "opcode": "bet_confirmed",
        "market_id": three["id"],
        "outcome_id": second,
        "position": 2,
        "amount": 12.5,
        "odd": wager["odds"],
        "bet_id": wager["wager_id"],
    }

    rpc(
        bettor,
        "place_wager",
        {"market_id": pool["id"], "outcome_id": pool["outcomes"][0]["outcome_id"], "stake": 500},
    )
    update = watcher.expect("odds_update", market_id=pool["id"])
    assert [o["cap"] for o in update["outcomes"]] == [None, None]
    assert [o["pool"] for o in update["outcomes"]] == [5.0, 0.0]
    confirmed = own.expect("bet_confirmed", market_id=pool["id"])
    assert confirmed["position"] == 1 and confirmed["amount"] == 5.0

    rpc(boss, "void_market", {"market_id": pool["id"], "reason": "called off"})
    voided = market_version(live_database, pool["id"])
    for socket in (watcher, own):
        assert socket.expect("game_voided", market_id=pool["id"]) == {
            "opcode": "game_voided",
            "market_id": pool["id"],
            "kind": "parimutuel",
            "version": voided,
        }
    seq = wallet_version(live_database, bettor.id)
    refund = own.expect("balance_update", balance_seq=seq)
    assert refund["game_id"] == pool["id"] and refund["balance"] == bettor.balance()

    rpc(boss, "settle_market", {"market_id": three["id"], "outcome_id": second})
    settled = market_version(live_database, three["id"])
    for socket in (watcher, own):
        closed = socket.expect("betting_closed", market_id=three["id"])
        assert closed["version"] < settled
        assert socket.expect("game_result", market_id=three["id"]) == {
            "opcode": "game_result",
            "market_id": three["id"],
            "kind": "fixed_odds",
            "winning_outcome_id": second,
            "winning_position": 2,
            "version": settled,
        }
