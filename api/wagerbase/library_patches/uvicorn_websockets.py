"""uvicorn's WebSocket protocol (4.) and websockets' frames (5.): what live/wire.py uses to write a
text frame, made once for every socket, straight to each socket's connection. The package's
docstring says what every reliance is and how it is checked."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Hashable, Sequence

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions import Extension
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol

from wagerbase.library_patches.guards import init_sets

# ---- 4. uvicorn: writing to a WebSocket's connection -----------------------------------------

# what UvicornWebSocket reads of uvicorn's protocol: its websockets connection, its transport,
# and the state its `send` checks before writing
WEBSOCKET_ATTRIBUTES = ("conn", "transport", "writable", "close_sent", "disconnected")


def require_websocket_protocol_internals(protocol: type = WebSocketsSansIOProtocol) -> None:
    """Refuse to load unless uvicorn's WebSocketsSansIOProtocol still has what
    UvicornWebSocket uses."""
    if not init_sets(protocol, WEBSOCKET_ATTRIBUTES) or not callable(
        getattr(protocol, "send", None)
    ):
        raise ImportError(
            "wagerbase.live.wire writes to uvicorn's WebSocketsSansIOProtocol, whose internals "
            f"changed: it needs the attributes {', '.join(WEBSOCKET_ATTRIBUTES)} and its send"
        )


require_websocket_protocol_internals()


class UvicornWebSocket:
    """uvicorn 0.55: one WebSocket connection served by `WebSocketsSansIOProtocol`, as much of
    it as live/wire.py's Wire uses.

    Private part: the protocol's attributes named in WEBSOCKET_ATTRIBUTES, and that the ASGI
    `send` uvicorn hands the app is the protocol's own bound `send` (so the protocol is its
    `__self__`; app.App keeps that send in the socket's scope).

    Why: sending a message through ASGI costs a socket four awaited wrappers (Litestar's
    WebSocket, its send wrappers, uvicorn's `send`) before websockets frames it; at 1,000
    sockets that was most of a node's CPU per update (docs/performance.md). A Wire writes a
    text frame's bytes to the transport itself, only when uvicorn's `send` would write at once
    (`writes_at_once`). Without it: every message goes through ASGI (Wire.of answers None, as
    under any other server), which is correct and about twice as costly."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self.protocol = protocol

    @classmethod
    def behind(cls, send: object) -> UvicornWebSocket | None:
        """The connection whose protocol's bound `send` this ASGI send is; None when it is not
        uvicorn's websockets protocol's (another server, Litestar's test client)."""
        protocol = getattr(send, "__self__", None)
        if isinstance(protocol, WebSocketsSansIOProtocol):
            return cls(protocol)
        return None

    @property
    def transport(self) -> asyncio.Transport:
        return self.protocol.transport

    @property
    def connection(self) -> ServerProtocol:
        """websockets' sans-I/O connection (its documented API from there on: `state`,
        `send_text`, `data_to_send`)."""
        return self.protocol.conn

    @property
    def writes_at_once(self) -> bool:
        """Whether uvicorn's `send` would write now, without waiting: the connection is open (so
        the handshake was answered with 101: websockets is OPEN only then, and until a close is
        sent or received), uvicorn sent no close of its own and saw no disconnect, and the
        transport is not paused (`writable`, cleared while its buffer is above its high-water
        mark)."""
        p = self.protocol
        return bool(
            p.writable.is_set()
            and p.conn.state is State.OPEN
            and not p.close_sent
            and not p.disconnected
            and not p.transport.is_closing()
        )


# ---- 5. websockets: a text frame's bytes made once -------------------------------------------

# what frame_signature reads of websockets' permessage-deflate extension
DEFLATE_ATTRIBUTES = ("local_no_context_takeover", "local_max_window_bits", "compress_settings")


def require_websocket_frames(
    frame: type = Frame, deflate: type = PerMessageDeflate, protocol: type = Protocol
) -> None:
    """Refuse to load unless websockets still serializes a frame with a connection's
    extensions as text_frame asks, and its permessage-deflate and connections keep what
    frame_signature and extensions_of read."""
    serialize = getattr(frame, "serialize", None)
    parameters = inspect.signature(serialize).parameters if callable(serialize) else {}
    if (
        not {"mask", "extensions"} <= set(parameters)
        or not init_sets(deflate, DEFLATE_ATTRIBUTES)
        or not init_sets(protocol, ("extensions",))
    ):
        raise ImportError(
            "wagerbase.live.wire frames text with websockets' Frame.serialize(mask=, "
            "extensions=) and reads a connection's extensions and permessage-deflate's "
            f"{', '.join(DEFLATE_ATTRIBUTES)}, which changed"
        )


require_websocket_frames()


def extensions_of(connection: Protocol) -> list[Extension]:
    """websockets 15: the extensions a connection negotiated (its undocumented attribute
    `extensions`, set once the handshake is done). Used with frame_signature and text_frame:
    see text_frame."""
    return connection.extensions


def frame_signature(extensions: Sequence[Extension]) -> Hashable | None:
    """websockets 15: what a text frame's bytes depend on besides its text, when that is the
    same for every socket with these extensions: none, or permessage-deflate without context
    takeover (by its window and settings). None when each socket must frame its own (an
    extension with state: permessage-deflate with context takeover compresses each message
    with what came before).

    Private part: `PerMessageDeflate` (websockets documents only its factories) and its
    attributes `local_no_context_takeover`, `local_max_window_bits` and `compress_settings`.
    Without it: no frame could be shared, or, wrong, a frame shared where it must not be."""
    parts: list[Hashable] = []
    for extension in extensions:
        if not (isinstance(extension, PerMessageDeflate) and extension.local_no_context_takeover):
            return None
        settings = tuple(sorted(extension.compress_settings.items()))
        parts.append((extension.name, extension.local_max_window_bits, settings))
    return tuple(parts)


def text_frame(text: str, extensions: Sequence[Extension]) -> bytes:
    """websockets 15: the bytes of one unmasked text frame of `text` (a server's), encoded by
    these extensions, as the connection's own `send_text` would make them when frame_signature
    is not None.

    Private part: `Frame.serialize(mask=, extensions=)` (websockets documents the Frame class,
    not this method). Why: a message to every socket of a market is framed once per worker, not
    once per socket (docs/live.md; live/wire.py caches it on the message). Without it: each
    socket frames every message itself."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=extensions)
