"""uvicorn's WebSocket protocol and websockets' frames (library_patches, sections 4 and 5): the
code a Wire stands in for is the code it was written for and a uvicorn WebSocket is found behind
its protocol's send; a text frame's bytes made once are the frame the connection itself would
write, and never shared where permessage-deflate keeps its context; each guard refuses a library
that changed."""

import asyncio
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import Protocol
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from tests.library_patches.helpers import digest, ok
from wagerbase import library_patches
from wagerbase.library_patches import WEBSOCKET_ATTRIBUTES, UvicornWebSocket

# ---- 4. uvicorn: writing to a WebSocket's connection -----------------------------------------

# sha256 (first 16 hex digits) of the source of each method, in uvicorn 0.55.0: Wire writes a text
# message as `send` does, when `send` would at once, and finds the protocol behind the `send`
# that run_asgi hands the app
KNOWN_WEBSOCKET = {
    "__init__": "631dcd744eab875f",
    "send": "3b8afeb81b9b9ae8",
    "run_asgi": "662375aa38d9044c",
}


@pytest.mark.parametrize("name", list(KNOWN_WEBSOCKET))
def test_the_uvicorn_code_a_wire_stands_in_for_is_the_one_it_was_written_for(name: str) -> None:
    assert digest(WebSocketsSansIOProtocol, name) == KNOWN_WEBSOCKET[name], (
        f"uvicorn's WebSocketsSansIOProtocol.{name} changed: check "
        "wagerbase/library_patches/ (UvicornWebSocket) and live/wire.py against it"
    )


def test_wire_relies_on_what_uvicorn_s_websocket_protocol_still_has() -> None:
    names = set(WebSocketsSansIOProtocol.__init__.__code__.co_names)
    assert set(WEBSOCKET_ATTRIBUTES) <= names
    assert callable(WebSocketsSansIOProtocol.send)


def test_a_uvicorn_websocket_is_found_behind_its_protocol_s_send_only() -> None:
    config = uvicorn.Config(ok, ws="websockets-sansio")
    config.load()

    async def scenario() -> None:
        state = uvicorn.server.ServerState()
        protocol = WebSocketsSansIOProtocol(config=config, server_state=state, app_state={})
        found = UvicornWebSocket.behind(protocol.send)
        assert found is not None and found.protocol is protocol
        assert found.connection is protocol.conn
        assert not found.writes_at_once  # no handshake yet: the connection is not open
        for other in (None, ok, H11Protocol.data_received, object()):
            assert UvicornWebSocket.behind(other) is None

    asyncio.run(scenario())


def test_the_websocket_guard_refuses_a_protocol_that_changed() -> None:
    library_patches.require_websocket_protocol_internals()  # the installed one

    class NoWritable:
        def __init__(self) -> None:
            self.conn = self.transport = self.close_sent = self.disconnected = None

        async def send(self, message: Any) -> None: ...

    class NoSend:
        def __init__(self) -> None:
            self.conn = self.transport = self.writable = None
            self.close_sent = self.disconnected = False

    for protocol in (NoWritable, NoSend):
        with pytest.raises(ImportError, match="close_sent, disconnected and its send"):
            library_patches.require_websocket_protocol_internals(protocol)


# ---- 5. websockets: a text frame's bytes made once -------------------------------------------


def handshake(server_no_context_takeover: bool | None) -> tuple[ServerProtocol, ClientProtocol]:
    """A server and a client connection of websockets' own (sans-I/O), the handshake done:
    with permessage-deflate, with or without context takeover on the server's side, or with no
    extension (None)."""
    compress = server_no_context_takeover is not None
    client = ClientProtocol(
        parse_uri("ws://localhost/"),
        extensions=[ClientPerMessageDeflateFactory()] if compress else None,
    )
    server = ServerProtocol(
        extensions=[
            # as uvicorn negotiates it (WAGERBASE_WS_COMPRESSION)
            ServerPerMessageDeflateFactory(
                server_no_context_takeover=bool(server_no_context_takeover),
                server_max_window_bits=12,
                client_max_window_bits=12,
                compress_settings={"memLevel": 5},
            )
        ]
        if compress
        else None
    )
    client.send_request(client.connect())
    server.receive_data(b"".join(client.data_to_send()))
    [request] = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    client.receive_data(b"".join(server.data_to_send()))
    assert client.events_received()
    return server, client


TEXT = '{"opcode": "odds_update", "odds": [1.46, 2.75], "label": "é"}' * 3


@pytest.mark.parametrize("no_context_takeover", [None, True], ids=["plain", "deflate-no-context"])
def test_a_shared_frame_is_the_frame_the_connection_itself_would_write(
    no_context_takeover: bool | None,
) -> None:
    server, client = handshake(no_context_takeover)
    extensions = library_patches.extensions_of(server)
    assert [type(e) for e in extensions] == (
        [] if no_context_takeover is None else [PerMessageDeflate]
    )
    assert library_patches.frame_signature(extensions) is not None
    shared = library_patches.text_frame(TEXT, extensions)
    for _ in range(2):  # the same frame for every message: nothing carried from one to the next
        server.send_text(TEXT.encode())
        assert b"".join(server.data_to_send()) == shared
    client.receive_data(shared)
    [received] = client.events_received()  # and the client reads it
    assert isinstance(received, Frame)
    assert (received.opcode, bytes(received.data).decode()) == (Opcode.TEXT, TEXT)


def test_a_frame_is_never_shared_where_permessage_deflate_keeps_its_context() -> None:
    server, _ = handshake(False)
    extensions = library_patches.extensions_of(server)
    assert library_patches.frame_signature(extensions) is None
    frames = []
    for _ in range(2):
        server.send_text(TEXT.encode())
        frames.append(b"".join(server.data_to_send()))
    assert frames[0] != frames[1]  # why: the second message is compressed with the first


def test_frames_are_shared_only_where_no_extension_keeps_state() -> None:
    assert library_patches.frame_signature([]) == ()
    no_context = PerMessageDeflate(False, True, 15, 12, {"memLevel": 5})
    assert library_patches.frame_signature([no_context]) == (
        ("permessage-deflate", 12, (("memLevel", 5),)),
    )
    with_context = PerMessageDeflate(False, False, 15, 12, {"memLevel": 5})
    assert library_patches.frame_signature([with_context]) is None


def test_the_frames_guard_refuses_a_websockets_that_changed() -> None:
    library_patches.require_websocket_frames()  # the installed one

    class MaskedOnly(Frame):
        def serialize(self, *, mask: bool) -> bytes:  # type: ignore[override]
            return b""

    class Renamed(PerMessageDeflate):
        def __init__(self) -> None:
            self.no_context_takeover = True
            self.local_max_window_bits = 15
            self.compress_settings: dict[Any, Any] = {}

    class NoExtensions:
        def __init__(self) -> None:
            self.state = None

    for frame, deflate, protocol in [
        (MaskedOnly, PerMessageDeflate, Protocol),
        (Frame, Renamed, Protocol),
        (Frame, PerMessageDeflate, NoExtensions),
    ]:
        with pytest.raises(ImportError, match=r"Frame\.serialize\(mask=, extensions=\)"):
            library_patches.require_websocket_frames(frame, deflate, protocol)
