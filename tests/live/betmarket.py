"""What the tests of BetMarket's /ws (docs/live.md) on `serve` nodes share: a node for as long as
a fixture needs it, a player with a wallet, a predicate on an opcode, and the Marker: bets on a
game of its own whose odds_update, on every socket, follows all that committed before it."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.api.betmarket_client import User, market_version, register
from tests.live.sockets import Predicate, Socket
from tests.serving import Node, serving


def running_node(database: str, secret: str, log: Path) -> Iterator[Node]:
    """A `wagerbase serve` node on `database` for as long as the generator runs."""
    with serving(Node(database, secret, log)) as started:
        yield started


def player(http: httpx.Client, prefix: str = "bettor") -> User:
    """A registered user whose wallet exists (made with the initial balance)."""
    user = register(http, prefix)
    user.balance()
    return user


def opcode(name: str, **fields: Any) -> Predicate:
    return lambda m: m.get("opcode") == name and all(m.get(k) == v for k, v in fields.items())


class Marker:
    """Bets of 1.0 on a game of its own: each one's odds_update follows, on every socket, all that
    committed before it."""

    def __init__(self, http: httpx.Client, boss: User, database: str) -> None:
        self.database = database
        self.user = player(http, "marker")
        self.user.deposit(1000)
        self.game = boss.new_game("Marker game")

    def __call__(self, *sockets: Socket) -> None:
        answer = self.user.bet(self.game, 1.0, "opt1")
        assert answer.status_code == 201, answer.text
        version = market_version(self.database, self.game)
        for socket in sockets:
            socket.expect("odds_update", game_id=self.game, version=version)
