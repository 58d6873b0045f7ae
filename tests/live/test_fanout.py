"""Fan-out: frames written straight to each socket's connection (live/wire.py) are the frames
uvicorn's ASGI send would write, shared frames are made once per message, and a socket whose
client stops reading costs the others nothing: it is queued, then dropped, while every other
socket gets every message.

The in-process server runs in the test's event loop (the hub is never started: the test publishes
into it), with the node's own Litestar (app.App), which keeps each socket's raw ASGI send. What a
Wire relies on in uvicorn and websockets is checked by
tests/library_patches/test_uvicorn_websockets.py."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from litestar import WebSocket, websocket
from litestar.datastructures import State
from websockets.asyncio.client import ClientConnection, connect

from tests.serving import free_port, new_secret
from wagerbase.app import App
from wagerbase.database import Database
from wagerbase.live import hub as hub_module
from wagerbase.live.hub import Event, Hub
from wagerbase.live.wire import Wire
from wagerbase.surfaces.realtime import socket as realtime
from wagerbase.surfaces.realtime.frames import SERIALIZERS, ChangeFrame, Serializer, Shared, dumps
from wagerbase.tokens import Tokens

WAIT = 30.0  # generous: how long to wait for what must come


@dataclass
class Served:
    url: str
    hub: Hub
    tokens: Tokens


@websocket("/echo")
async def echo_both_ways(socket: WebSocket[Any, Any, Any]) -> None:
    """Sends each text it receives twice: through a Wire, then through ASGI."""
    await socket.accept()
    found = Wire.of(socket.scope)
    assert found is not None
    while True:
        text = await socket.receive_text()
        assert found.send((text,), {})
        await socket.send_text(text)


@asynccontextmanager
async def served(*, compression: bool = False) -> AsyncIterator[Served]:
    tokens = Tokens(new_secret())
    hub = Hub("postgresql://unused")
    app = App(
        route_handlers=[realtime.realtime_socket, echo_both_ways],
        state=State({"db": Database("postgresql://unused"), "tokens": tokens, "hub": hub}),
    )
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ws_per_message_deflate=compression,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield Served(f"ws://127.0.0.1:{port}", hub, tokens)
    finally:
        server.should_exit = True
        await task


def run(scenario: Any) -> None:
    asyncio.run(asyncio.wait_for(scenario, 180))


@pytest.mark.parametrize("compression", [False, True])
def test_a_wire_writes_the_frames_asgi_would_with_or_without_compression(
    compression: bool,
) -> None:
    async def scenario() -> None:
        async with (
            served(compression=compression) as server,
            connect(server.url + "/echo", open_timeout=WAIT) as client,
        ):
            negotiated = [str(e.name) for e in client.protocol.extensions]
            assert negotiated == (["permessage-deflate"] if compression else [])
            for text in ("odds 1", json.dumps({"opcode": "odds_update", "é": "ü" * 500})):
                await client.send(text)
                assert [await client.recv(), await client.recv()] == [text, text]

    run(scenario())


@pytest.mark.parametrize("serializer", list(SERIALIZERS.values()))
def test_a_shared_postgres_changes_frame_is_the_frame_it_stands_for(
    serializer: Serializer,
) -> None:
    data = Shared({"table": "outcomes", "record": {"id": 1, "label": 'a "quoted" é'}})
    frame = ChangeFrame("realtime:markets", [3, 7], data)
    assert json.loads(serializer.encode(frame)) == json.loads(serializer.encode(frame.as_dict()))
    assert serializer.encode(frame) == serializer.encode(frame.as_dict())
    assert data.text == dumps(data.value)


async def _join(client: ClientConnection, apikey: str) -> None:
    join = {
        "topic": "realtime:markets",
        "event": "phx_join",
        "payload": {"access_token": apikey, "config": {}},
        "ref": "1",
        "join_ref": "1",
    }
    await client.send(json.dumps(join))
    while True:
        frame = json.loads(await asyncio.wait_for(client.recv(), WAIT))
        if frame["event"] == "phx_reply":
            assert frame["payload"]["status"] == "ok", frame
            return


def test_a_socket_whose_client_stops_reading_is_dropped_and_the_others_get_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Messages of 64 KB until the stalled client's connection stops taking more: its socket is
    then queued, overflows and is dropped; the reading one gets every message, in order."""
    monkeypatch.setattr(hub_module, "MAILBOX_LIMIT", 5)
    pad = "x" * 64 * 1024
    messages = 600  # 38 MB: more than a loopback connection's buffers hold

    async def scenario() -> None:
        async with served() as server:
            apikey = server.tokens.role_key("anon")
            url = f"{server.url}/realtime/v1/websocket?apikey={apikey}&vsn=1.0.0"
            async with (
                connect(url, open_timeout=WAIT, max_size=None) as reader,
                connect(url, open_timeout=WAIT, max_size=None, max_queue=1) as stalled,
            ):
                await _join(reader, apikey)
                await _join(stalled, apikey)
                assert server.hub.sockets == 2
                received: list[int] = []

                async def read() -> None:
                    while len(received) < messages:
                        frame = json.loads(await reader.recv())
                        if frame["event"] == "broadcast":
                            received.append(frame["payload"]["payload"]["version"])

                reading = asyncio.create_task(read())
                for version in range(messages):
                    # each on a market of its own: nothing is coalesced
                    payload = {"type": "odds", "market_id": version, "version": version, "pad": pad}
                    server.hub.publish(Event("market", payload))
                    await asyncio.sleep(0)  # the reader reads as it goes; the stalled one never
                await asyncio.wait_for(reading, WAIT)
                assert received == list(range(messages))
                assert server.hub.sockets == 1  # the stalled one was dropped

    run(scenario())
