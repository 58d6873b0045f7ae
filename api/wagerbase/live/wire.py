"""Writing a socket's text frames straight to its connection, past Litestar's and uvicorn's ASGI
send.

Sending a message through ASGI costs a socket four wrappers (Litestar's WebSocket, its send
wrappers, uvicorn's `send`), each an awaited call, before websockets frames it and the transport
writes it; at 1,000 sockets that was most of a node's CPU per update (docs/performance.md). A
`Wire` does what uvicorn's `send` does for a text message, synchronously: websockets frames it
(its own ServerProtocol, so every check of the connection's state still applies) and the bytes go
to the transport. Where the frame is the same for every socket (no extension that keeps state
between messages, as permessage-deflate with context takeover does; the node declines
permessage-deflate unless WAGERBASE_WS_COMPRESSION is on), it is built once per message and
cached on the event (`Event.frames`), and each socket only writes those bytes.

A Wire writes only when uvicorn's own `send` would at once: the handshake done, no close sent or
received, the connection open, and its transport not paused (uvicorn's `writable`, cleared while
the transport's buffer is above its high-water mark, WRITE_BUFFER_BYTES: the client reads
slowly). Otherwise `send` answers False and the caller sends through ASGI, which waits for the
client, or queues.

The raw ASGI `send` is the bound `send` of uvicorn's WebSocketsSansIOProtocol: `App` (app.py's
Litestar) keeps it in the connection's scope (`RAW_SEND`). Anything else (Litestar's test
client, another WebSocket implementation) has no Wire, and its sockets use ASGI only. Every
private part this relies on, of uvicorn's protocol (`UvicornWebSocket`) and of websockets (a
connection's extensions, permessage-deflate's settings, `Frame.serialize`), is reached through
library_patches/uvicorn_websockets.py, which refuses to load when they are gone;
tests/library_patches/test_uvicorn_websockets.py fails when they change.
"""

import contextlib
import logging
import socket
from collections.abc import Hashable, Mapping, MutableMapping, Sequence
from typing import Any

from wagerbase.library_patches import UvicornWebSocket, extensions_of, frame_signature, text_frame

log = logging.getLogger("wagerbase.live")

RAW_SEND = "wagerbase.raw_send"  # the scope's key for the server's own ASGI send
WRITE_BUFFER_BYTES = 16 * 1024  # a socket's transport pauses past this (Wire's heading)
SEND_BUFFER_BYTES = 64 * 1024  # its kernel send buffer (SO_SNDBUF; the kernel doubles it)


class Wire:
    """One socket's way to write text frames to its client's connection (the module's heading).

    It also bounds how much of the socket's output waits in buffers, where nothing can coalesce
    it: the transport pauses past WRITE_BUFFER_BYTES (asyncio's default is 64 KiB), and the
    kernel keeps at most about twice SEND_BUFFER_BYTES (it would grow the buffer to megabytes).
    Past that the socket's messages wait in its mailbox, where odds coalesce and age is watched
    (hub.py): a client that reads slowly gets fresher odds sooner instead of a backlog."""

    def __init__(self, uvicorn: UvicornWebSocket) -> None:
        self.uvicorn = uvicorn  # the connection as uvicorn serves it
        self._signature: Hashable | None = None
        self._known = False
        transport = uvicorn.transport
        transport.set_write_buffer_limits(high=WRITE_BUFFER_BYTES)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)

    @classmethod
    def of(cls, scope: Mapping[str, object]) -> "Wire | None":
        """The socket's Wire, or None when it is not served by uvicorn's websockets protocol."""
        uvicorn = UvicornWebSocket.behind(scope.get(RAW_SEND))
        return None if uvicorn is None else cls(uvicorn)

    @property
    def ready(self) -> bool:
        """Whether uvicorn's send would write now, without waiting: the connection is open (so
        the handshake was answered with 101: websockets is OPEN only then, and until a close is
        sent or received), uvicorn sent no close of its own and saw no disconnect, and the
        transport is not paused (library_patches.UvicornWebSocket.writes_at_once)."""
        return self.uvicorn.writes_at_once

    def send(
        self, texts: Sequence[str], cache: MutableMapping[Hashable, Any] | None = None
    ) -> bool:
        """Write each text as a text frame, in order, if the connection takes them now; False
        when it does not, and then none is written (the caller sends them through ASGI, or
        queues them). `cache` (an Event's frames) keeps each frame's bytes for every other
        socket that frames it the same way."""
        if not self.ready:
            return False
        conn = self.uvicorn.connection
        transport = self.uvicorn.transport
        if not self._known:  # the extensions are settled once the handshake is done
            self._signature = frame_signature(extensions_of(conn))
            self._known = True
        for text in texts:
            if self._signature is None or cache is None:
                conn.send_text(text.encode())
                data = b"".join(conn.data_to_send())
            else:
                key = ("wire", text, self._signature)
                shared: bytes | None = cache.get(key)
                if shared is None:
                    shared = text_frame(text, extensions_of(conn))
                    cache[key] = shared
                data = shared
            transport.write(data)
        return True
