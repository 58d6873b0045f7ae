"""The database restarts under a connected node: the hub reconnects by itself, tells its sockets to
resynchronise, and they keep receiving updates; the pool drops its dead connections, so the next
wager goes through. On a server of its own, so the restart disturbs no other test."""

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.api.betmarket_client import admin, client, register
from tests.live.sockets import Socket
from tests.serving import Node, new_secret
from wagerbase.operations.embedded import EmbeddedServer

WAIT = 30.0


def _bet_until_accepted(user_bet: Callable[..., httpx.Response], game_id: int) -> httpx.Response:
    """Right after the restart the first request may meet a connection the pool has not yet
    found dead; the API answers that with a retryable 503. Retry a few times, never forever."""
    deadline = time.monotonic() + WAIT
    while True:
        answer = user_bet(game_id, 5.0, "opt1")
        if answer.status_code != 503 or time.monotonic() > deadline:
            return answer
        time.sleep(0.5)


def test_the_hub_recovers_after_the_database_restarts(
    own_server: EmbeddedServer, tmp_path: Path
) -> None:
    node = Node(own_server.url, new_secret(), tmp_path / "serve.log").start()
    try:
        with client(node.url) as http:
            boss = admin(http, own_server.url)
            bettor = register(http, "steady")
            game = boss.new_game("Still standing after a crash?")
            socket = Socket(node, "watcher")
            try:
                first = bettor.bet(game, 5.0, "opt1")
                assert first.status_code == 201, first.text
                socket.expect("odds_update", game_id=game)

                own_server.restart("immediate")

                socket.expect("resync", timeout=WAIT)
                again = _bet_until_accepted(bettor.bet, game)
                assert again.status_code == 201, again.text
                update = socket.expect("odds_update", timeout=WAIT, game_id=game, total_volume=10.0)
                assert update["odd1"] == again.json()["new_odd1"]
            finally:
                socket.close()
    finally:
        node.stop()
