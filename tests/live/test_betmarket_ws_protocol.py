"""BetMarket's /ws protocol (docs/live.md), with real WebSocket clients on `serve` nodes: keepalive
and errors on an open socket, authenticate naming the user (and admins) and refusing bad tokens, a
deleted user's token refused, and an admin demoted while connected getting no more admin
messages.

Waits are generous and never asserted. A socket that must NOT receive something is checked with a
marker: after the event, a bet on a separate marker game commits, and its public `odds_update`
reaches every socket through the same hub after everything committed before it. Once a socket
has the marker, a message it was not sent before will never come. The two nodes, the sockets and
the marker are fixtures of tests/live/conftest.py.
"""

import time
import uuid
from collections.abc import Callable

import httpx
import jwt

from tests.api.betmarket_client import User, admin, query
from tests.live.betmarket import Marker, opcode, player
from tests.live.sockets import Socket
from tests.serving import Node, new_secret
from wagerbase.live.who import UNKNOWN_USER_REASON
from wagerbase.tokens import Tokens

# The protocol ------------------------------------------------------------------------------------


def test_keepalive_is_echoed_and_anything_else_is_an_error_on_an_open_socket(
    node_a: Node, sockets: Callable[[Node, str], Socket]
) -> None:
    socket = sockets(node_a, "anonymous")
    assert socket.request({"opcode": "keepalive"}) == {"opcode": "keepalive"}
    for bad in (
        "not json {",
        "[1, 2]",
        '"keepalive"',
        "{}",
        {"opcode": "subscribe", "topic": "odds"},
        {"opcode": 7},
        "[" * 100_000,
        b'{"opcode": "keepalive"}',
    ):
        answer = socket.request(bad)
        assert answer["opcode"] == "error", (bad, answer)
        assert isinstance(answer["message"], str) and answer["message"]
    assert socket.request({"opcode": "keepalive"}) == {"opcode": "keepalive"}


def test_authenticate_names_the_user_and_admins_and_refuses_bad_tokens(
    node_a: Node,
    node_b: Node,
    http_a: httpx.Client,
    boss: User,
    secret: str,
    marker: Marker,
    sockets: Callable[[Node, str], Socket],
) -> None:
    bettor = player(http_a)
    socket = sockets(node_b, "bettor")
    marker(socket)  # the sign-up grant's news have passed: nothing older arrives once signed in
    assert socket.authenticate(bettor.token) == {
        "opcode": "authenticated",
        "user_id": bettor.id,
        "is_admin": False,
    }
    assert sockets(node_a, "boss").authenticate(boss.token) == {
        "opcode": "authenticated",
        "user_id": boss.id,
        "is_admin": True,
    }

    now = int(time.time())
    claims = jwt.decode(bettor.token, options={"verify_signature": False})
    user = {"id": bettor.id, "app_metadata": {"role": "admin"}}
    bad_tokens = {
        "garbage": "not a token",
        "forged": Tokens(new_secret()).access_token(user, uuid.uuid4())[0],
        "expired": jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, secret, "HS256"),
        "alg none": jwt.encode({**claims, "app_metadata": {"role": "admin"}}, "", "none"),
        "anon key": node_a.anon_key,
    }
    for name, token in bad_tokens.items():
        answer = socket.authenticate(token)
        assert answer["opcode"] == "error", (name, answer)
        assert answer["message"], name
    assert socket.request({"opcode": "authenticate"})["opcode"] == "error"
    assert socket.request({"opcode": "keepalive"}) == {"opcode": "keepalive"}  # still open

    # a failed authentication leaves the socket anonymous: the bettor's news no longer reach it
    bettor.deposit(5)
    marker(socket)
    socket.never_got(opcode("balance_update"))


def test_a_deleted_user_s_token_is_refused_and_the_socket_hears_nothing_of_theirs(
    node_a: Node,
    node_b: Node,
    http_a: httpx.Client,
    boss: User,
    live_database: str,
    marker: Marker,
    sockets: Callable[[Node, str], Socket],
) -> None:
    """The token is still valid and signed; the database says its user is gone (unknown_user)."""
    leaving = player(http_a, "leaving")
    game = boss.new_game("Voided after the deletion")
    assert leaving.bet(game, 5, "opt1").status_code == 201
    before = sockets(node_a, "authenticated before")
    marker(before)  # the bet's news have passed: only newer ones could follow the sign-in
    assert before.authenticate(leaving.token)["opcode"] == "authenticated"
    query(
        live_database,
        "update auth.users set deleted_at = now() where id = %s returning id",
        [leaving.id],
    )

    refused = f"authentication failed: {UNKNOWN_USER_REASON}"
    after = sockets(node_b, "authenticated after")
    assert after.authenticate(leaving.token) == {"opcode": "error", "message": refused}
    assert before.authenticate(leaving.token) == {"opcode": "error", "message": refused}
    assert after.request({"opcode": "keepalive"}) == {"opcode": "keepalive"}  # still open

    # the refund of their voided wager moves their wallet: neither socket hears of it
    voided = http_a.post(
        "/rest/v1/rpc/void_market",
        json={"market_id": game, "reason": "user deleted"},
        headers={"apikey": node_a.anon_key, "Authorization": f"Bearer {node_a.service_key}"},
    )
    assert voided.status_code == 200, voided.text
    marker(before, after)
    for socket in (before, after):
        socket.expect("game_voided", game_id=game)
        socket.never_got(opcode("balance_update"))


def test_an_admin_demoted_while_connected_gets_no_more_admin_messages(
    node_a: Node,
    node_b: Node,
    http_a: httpx.Client,
    boss: User,
    live_database: str,
    marker: Marker,
    sockets: Callable[[Node, str], Socket],
) -> None:
    """Each admin message is checked again at the database before it goes out: the demoted admin's
    socket, still authenticated with a token that says admin, gets no profit_update from the
    demotion on, and gets them again once promoted again; authenticating again says is_admin
    false."""
    deputy = admin(http_a, live_database)
    kept, demoted = sockets(node_a, "boss"), sockets(node_b, "deputy")
    assert kept.authenticate(boss.token)["is_admin"] is True
    assert demoted.authenticate(deputy.token) == {
        "opcode": "authenticated",
        "user_id": deputy.id,
        "is_admin": True,
    }
    bettor = player(http_a)
    games = [boss.new_game(f"Demotion {n}") for n in range(3)]
    for game in games:
        assert bettor.bet(game, 10, "opt1").status_code == 201

    def settle(game: int) -> float:
        """The house wins the bettor's stake; its new profit."""
        assert boss.stop_betting(game).status_code == 200
        assert boss.settle(game, "opt2").status_code == 200
        return boss.profit()

    def set_admin(admin_role: bool) -> None:
        query(live_database, "select app._set_admin(%s, %s)", [deputy.name, admin_role])

    def profits(socket: Socket) -> list[float]:
        return [m["profit"] for m in socket.seen if m.get("opcode") == "profit_update"]

    first = settle(games[0])
    for socket in (kept, demoted):
        socket.expect("profit_update", profit=first)

    set_admin(False)
    second = settle(games[1])
    assert second != first
    kept.expect("profit_update", profit=second)
    marker(demoted)  # everything committed before the marker reached the demoted socket
    assert profits(demoted) == [first]

    set_admin(True)  # the same socket and token: the next message is checked again
    third = settle(games[2])
    demoted.expect("profit_update", profit=third)
    assert profits(demoted) == [first, third]

    set_admin(False)
    assert demoted.authenticate(deputy.token) == {
        "opcode": "authenticated",
        "user_id": deputy.id,
        "is_admin": False,
    }
