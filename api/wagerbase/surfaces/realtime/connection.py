"""One connected Realtime client as the other parts see it: its state (channels, mailbox, the
node's limits and sockets) and the writing of frames, in order, straight to the connection while
it takes them (live/wire.py) and through ASGI when it does not.
"""

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import Coroutine, Hashable, MutableMapping
from typing import Any

from litestar import WebSocket
from litestar.datastructures import State
from litestar.exceptions import WebSocketDisconnect

from wagerbase.database import Database
from wagerbase.limits import Sockets, of_node
from wagerbase.live.hub import Hub
from wagerbase.live.who import change_feed
from wagerbase.live.wire import Wire
from wagerbase.surfaces.realtime.channels import Channel, RealtimeMailbox
from wagerbase.surfaces.realtime.frames import (
    SERIALIZERS,
    VSN_1,
    Frame,
    FrameError,
    Serializer,
    reply,
)
from wagerbase.surfaces.realtime.rooms import Allowance, Rooms, rooms_of
from wagerbase.tokens import Tokens

CLOSE_SECONDS = 5.0  # how long a close may take before the connection is left to the server
SOCKETS = "realtime_sockets"  # the app state's key for the node's open Realtime sockets


class Connection:
    """A connected client: its channels, its mailbox, and the frames it is sent."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        state: State,
        apikey: str,
        serializer: Serializer = SERIALIZERS[VSN_1],
    ) -> None:
        self.socket = socket
        self.serializer = serializer
        self.hub: Hub = state.hub
        self.db: Database = state.db
        self.tokens: Tokens = state.tokens
        self.feed = change_feed(self.db)
        self.apikey = apikey
        self.channels: dict[str, Channel] = {}
        self.node_limits = of_node(state)  # a worker's share of the node's (limits.py)
        self.limits: Sockets = self.node_limits.sockets
        if state.get(SOCKETS) is None:
            state[SOCKETS] = set()
        self.everyone: set[Connection] = state[SOCKETS]  # the node's open Realtime sockets
        self.mailbox = RealtimeMailbox()
        self.id = uuid.uuid4().hex  # names the sender of its broadcasts (rooms.py)
        self.rooms: Rooms = rooms_of(state, self.db, self.limits)
        self.tasks: set[asyncio.Task[None]] = set()  # replies and presence reads under way
        self.allowance = Allowance(self.limits.socket_messages)  # its broadcasts and presences
        self._ids = itertools.count(1)
        self._send_lock = asyncio.Lock()
        self._closed = False
        self._last_seen = time.monotonic()
        self.wire = Wire.of(socket.scope)  # None: this server has none, ASGI only (wire.py)

    async def close(self, code: int, reason: str = "") -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError, TimeoutError):
            await asyncio.wait_for(self.socket.close(code=code, reason=reason), CLOSE_SECONDS)

    async def send(self, *frames: Frame) -> None:
        async with self._send_lock:
            await self._send_locked(*frames)

    async def _send_locked(
        self, *frames: Frame, cache: MutableMapping[Hashable, Any] | None = None
    ) -> None:
        """Send the frames in order: straight to the connection while it takes them now (`cache`,
        an event's frames, shares each frame's bytes with the node's other sockets), else
        through ASGI, which waits for a slow client."""
        for frame in frames:
            if self._closed:
                return
            text = self.serializer.encode(frame)
            if self.wire is not None and self.wire.send((text,), cache):
                continue
            try:
                await self.socket.send_text(text)
            except (WebSocketDisconnect, OSError, RuntimeError):
                self._closed = True

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` beside the socket's reader (a reply that waits for the database), kept
        until it ends."""
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _drop(self, topic: str) -> Channel | None:
        """Take the channel of `topic` off the socket (left, refused, closed, joined again); its
        presence, if it tracked one, ends."""
        channel = self.channels.pop(topic, None)
        if channel is not None and channel.tracked is not None:
            self.rooms.untrack(channel.tracked.ref)
            channel.tracked = None
        return channel

    def _joined(self, topic: str) -> Channel:
        channel = self.channels.get(topic)
        if channel is None:
            raise FrameError("unmatched topic: join it first")
        return channel

    async def _reply_ok(self, topic: str, ref: str | None, join_ref: str | None) -> None:
        await self.send(reply(topic, ref, join_ref, "ok", {}))

    async def _reply_error(
        self, topic: str, ref: str | None, join_ref: str | None, reason: str
    ) -> None:
        await self.send(reply(topic, ref, join_ref, "error", {"reason": reason}))
