"""BetMarket's /ws timeouts and backpressure (docs/live.md): a socket that says nothing for the idle
timeout is closed, and a socket whose mailbox overflows is closed with "try again later" (1013)."""

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.datastructures import State

from tests.live.betmarket import player, running_node
from tests.live.sockets import WAIT, Socket
from tests.serving import Node, new_secret
from wagerbase.live.hub import MAILBOX_LIMIT, Event, Hub
from wagerbase.surfaces.betmarket.ws import IDLE_ENV, betmarket_ws
from wagerbase.tokens import Tokens

# Timeouts and backpressure -----------------------------------------------------------------------


@pytest.fixture
def impatient_node(
    live_database: str, secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Node]:
    monkeypatch.setenv(IDLE_ENV, "2")
    yield from running_node(live_database, secret, tmp_path / "impatient.log")


def test_a_socket_that_says_nothing_for_the_idle_timeout_is_closed(
    impatient_node: Node, http_a: httpx.Client, sockets: Callable[[Node, str], Socket]
) -> None:
    token = player(http_a).token  # signed up first: on a loaded machine that can take the 2 s
    socket = sockets(impatient_node, "quiet")
    assert socket.authenticate(token)["opcode"] == "authenticated"
    assert socket.closed(timeout=60) == (1000, "idle timeout")


def test_a_socket_whose_mailbox_overflows_is_closed_with_try_again_later() -> None:
    """In process: the hub fills a socket's mailbox before its writer runs even once."""

    async def scenario() -> list[dict[str, Any]]:
        hub = Hub("postgresql://unused")
        app = Litestar(
            route_handlers=[betmarket_ws],
            state=State({"hub": hub, "tokens": Tokens(new_secret()), "db": None}),
        )
        incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        sent: list[dict[str, Any]] = []
        accepted, closed = asyncio.Event(), asyncio.Event()

        async def receive() -> dict[str, Any]:
            return await incoming.get()

        async def send(message: Any) -> None:
            sent.append(message)
            if message["type"] == "websocket.accept":
                accepted.set()
            if message["type"] == "websocket.close":
                closed.set()

        scope: Any = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "ws",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "root_path": "",
            "path": "/ws",
            "raw_path": b"/ws",
            "query_string": b"",
            "headers": [],
            "subprotocols": [],
            "state": {},
        }
        await incoming.put({"type": "websocket.connect"})
        served = asyncio.create_task(app(scope, receive, send))  # type: ignore[arg-type]
        await asyncio.wait_for(accepted.wait(), WAIT)
        assert hub.sockets == 1
        for n in range(MAILBOX_LIMIT + 1):
            hub.publish(Event("market", {"type": "closed", "market_id": n, "version": 2}))
        await asyncio.wait_for(closed.wait(), WAIT)
        assert hub.sockets == 0
        await incoming.put({"type": "websocket.disconnect", "code": 1013})
        await asyncio.wait_for(served, WAIT)
        return sent

    sent = asyncio.run(scenario())
    assert sent[-1]["type"] == "websocket.close"
    assert sent[-1]["code"] == 1013
    assert len(sent) < MAILBOX_LIMIT
