"""The Supabase Realtime subset on `/realtime/v1/websocket`: Phoenix channels, as the official
clients speak it (../shared/SUPABASE_COMPAT.md, section 5; docs/live.md), in both of Phoenix's
JSON serializers, chosen by the `vsn` query parameter at the upgrade: 1.0.0 (the default, and
supabase-py's) frames are objects `{"topic", "event", "payload", "ref", "join_ref"}`, 2.0.0
(realtime-js's default) frames are arrays `[join_ref, ref, topic, event, payload]`, plus the binary
user broadcast push realtime-js sends for `channel.send({type: "broadcast", ...})`. The serializer
only encodes and decodes: every frame goes through the same handling whatever the version.

One socket carries many channels, one per topic. Each channel is authorized by the
`access_token` of its join (verified like every other token; `access_token` frames re-authorize
it), and the database is asked who the token belongs to now (wagerbase.live.who): a token whose
user does not exist or was deleted, or whose session ended, is refused like a bad token, and who
is an admin is the database's answer, not the claim. When the engine says a session ended
(its `session_ended` message, hub.py), every channel joined with that session's tokens is closed
at once with the reason. A channel may carry:

- broadcast: the engine's public market messages on `realtime:market:{id}` (that market) and
  `realtime:markets` (every market), as `broadcast` frames whose `event` is the engine's type
  (`odds`, `created`, `opened`, `closed`, `settled`, `voided`) and whose payload is the engine's
  message, with the market `version`. These topics belong to the engine: broadcasts sent by
  clients are refused, so nobody can forge odds for others.
- broadcast: the engine's admin messages on `realtime:admin` (`profit`, `wager_pending`,
  `wager_decided`, `settlement_*`, `side_effect_failed`, `withdrawal_pending`,
  `withdrawal_decided`), `event` the engine's type and `payload`
  its message. Only an admin joins it: the join's token must claim admin and belong to a user who
  is still an admin (public.acts_as_admin(), as every admin call checks), or be the service
  role. Each message is checked again, once per token on the node, before it goes out, so a
  demoted or deleted admin stops receiving at once, not when the token expires.
- postgres_changes on the views a client may read (changes.py, bindings.py, feed.py), each row
  selected again as the channel's caller, so RLS decides who receives it.
- on a room (any topic but the engine's): what its clients send each other, across every node
  (sending.py, rooms.py, presence.py): broadcasts (`config.broadcast.self` and `ack` as
  Supabase's) and presence (`track`, `untrack`; `presence_state`, then `presence_diff`). A
  channel joined with `config.private: true` is authorized by the policies on realtime.messages
  (policies.py); a public one lets whoever joined send and receive. Every message is bounded
  (WAGERBASE_BROADCAST_BYTES, WAGERBASE_SOCKET_MESSAGES a second, WAGERBASE_PRESENCE_BYTES,
  WAGERBASE_TOPIC_PRESENCES a channel), each refusal an error reply that says why.

Fan-out (docs/live.md, "Fan-out"): a broadcast frame is encoded once per message, topic and
serializer for all of the node's sockets, a postgres_changes row's data once per message for all
its subscribers alike (feed.py), and frames are written straight to the connection
(live/wire.py) rather than through ASGI. A socket whose pump is idle takes a market message at
once from the hub (`_send_now`), when it is only broadcasts for it: no postgres_changes to
select, no token expired.

The socket's mailbox on the node's hub (hub.py) is bounded: when it overflows, or its oldest
message waited too long (hub.MAX_LAG_SECONDS), the socket is closed with 1013 (try again later).
When the hub resyncs (docs/live.md, "The event stream") every channel gets a `system` frame (and
market topics a `resync` broadcast): reload what you show.

Subscriptions are bounded (limits.Sockets): at most 100 channels and 100 postgres_changes bindings
a channel, and WAGERBASE_SOCKET_BINDINGS bindings in all, on one socket (a join past them is
refused for good: error reply, then phx_close); at most WAGERBASE_MAX_CHANNELS channels on the node
(a join past it is refused for now: error reply, the client joins again later); at most
WAGERBASE_MAX_SOCKETS sockets on the node, with BetMarket's (one more is accepted and closed at
once with 1013 and a reason).
"""

import asyncio
import contextlib
import logging
import time
from typing import Any

import psycopg
from litestar import WebSocket, websocket
from litestar.datastructures import State
from litestar.exceptions import WebSocketDisconnect

from wagerbase.errors import ApiError
from wagerbase.http.common import scope_client
from wagerbase.limits import too_many_sockets
from wagerbase.live.hub import Hub
from wagerbase.live.who import Unavailable
from wagerbase.surfaces.realtime.connection import CLOSE_SECONDS
from wagerbase.surfaces.realtime.delivery import Delivery
from wagerbase.surfaces.realtime.frames import (
    PHOENIX,
    SERIALIZERS,
    VSN_1,
    VSN_2,
    DecodeError,
    FrameError,
    Serializer,
)
from wagerbase.surfaces.realtime.joins import Joins
from wagerbase.surfaces.realtime.sending import Sending
from wagerbase.tokens import TokenError, Tokens

log = logging.getLogger("wagerbase.realtime")

PATH = "/realtime/v1/websocket"
IDLE_SECONDS = (
    60.0  # a socket that sends nothing for this long is closed (the client beats every 25 s)
)
CLOSE_IDLE = 1000
CLOSE_OVERFLOW = 1013  # try again later: this socket's queue overflowed
CLOSE_POLICY = 1008
CLOSE_ERROR = 1011
UNAVAILABLE = "the access token cannot be checked now (database unavailable); try again"


class RealtimeSocket(Joins, Delivery, Sending):
    """One connected client: its channels, its mailbox, and the frames both ways."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        state: State,
        apikey: str,
        serializer: Serializer = SERIALIZERS[VSN_1],
    ) -> None:
        super().__init__(socket, state, apikey, serializer)
        if self.wire is not None:
            self.mailbox.send_now = self._send_now

    # lifecycle ---------------------------------------------------------------------------------

    async def run(self) -> None:
        self.everyone.add(self)
        try:
            await self._serve()
        finally:
            self.everyone.discard(self)
            for topic in list(self.channels):  # their presences end
                self._drop(topic)
            for task in list(self.tasks):
                task.cancel()

    async def _serve(self) -> None:
        self.hub.subscribe(self.mailbox, scope_client(self.socket.scope))
        reader = asyncio.create_task(self._read(), name="realtime-read")
        pump = asyncio.create_task(self._pump(), name="realtime-pump")
        idle = asyncio.create_task(self._watchdog(), name="realtime-idle")
        dropped = asyncio.create_task(self.mailbox.dropped.wait(), name="realtime-dropped")
        tasks = {reader, pump, idle, dropped}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.hub.unsubscribe(self.mailbox)
            for task in tasks:  # a writer stuck on a client that stopped reading is cancelled
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        failed = [t for t in done if not t.cancelled() and t.exception() is not None]
        if dropped in done or (pump in done and not failed):
            log.warning("realtime: closing a socket whose queue overflowed")
            await self.close(CLOSE_OVERFLOW, "too far behind; reconnect")
        elif idle in done and not failed:
            log.info("realtime: closing a socket silent for %.0f s", IDLE_SECONDS)
            await self.close(CLOSE_IDLE, "heartbeat timeout")
        elif failed:
            log.error("realtime: unexpected error", exc_info=failed[0].exception())
            await self.close(CLOSE_ERROR, "internal error")
        else:
            await self.close(1000)  # the client left

    async def _watchdog(self) -> None:
        """Returns once the client has been silent for IDLE_SECONDS."""
        while True:
            idle = time.monotonic() - self._last_seen
            if idle >= IDLE_SECONDS:
                return
            await asyncio.sleep(IDLE_SECONDS - idle)

    # client -> server --------------------------------------------------------------------------

    async def _read(self) -> None:
        """Returns when the client went away."""
        while not self._closed:
            try:
                message = await self.socket.receive()
            except WebSocketDisconnect:
                return
            if message["type"] == "websocket.disconnect":
                return
            if message["type"] != "websocket.receive":
                continue
            self._last_seen = time.monotonic()
            text: str | None = message.get("text")
            await self._frame(text if text is not None else message.get("bytes") or b"")

    async def _frame(self, data: str | bytes) -> None:
        try:
            frame = self.serializer.decode(data)
        except DecodeError as exc:
            await self._reply_error(exc.topic, exc.ref, exc.join_ref, exc.reason)
            return
        ref, join_ref = frame.get("ref"), frame.get("join_ref")
        ref = None if ref is None else str(ref)
        join_ref = None if join_ref is None else str(join_ref)
        topic, event, payload = frame.get("topic"), frame.get("event"), frame.get("payload")
        if not isinstance(topic, str) or not isinstance(event, str):
            where = topic if isinstance(topic, str) else PHOENIX
            await self._reply_error(where, ref, join_ref, "a frame needs a topic and an event")
            return
        if payload is None:
            payload = {}
        try:
            if not isinstance(payload, dict):
                raise FrameError("the payload must be a JSON object")
            await self._dispatch(topic, event, ref, join_ref, payload)
        except FrameError as exc:
            await self._reply_error(topic, ref, join_ref, exc.reason)
        except Unavailable:
            # not permanent: no phx_close, so the client joins (or sends its token) again
            await self._reply_error(topic, ref, join_ref, UNAVAILABLE)
        except ApiError as exc:  # the node is busy (a limit of its own, admission.py): later
            await self._reply_error(topic, ref, join_ref, exc.message)
        except psycopg.Error:
            await self._reply_error(topic, ref, join_ref, "the database is unavailable; try again")
        except Exception:
            log.exception("realtime: %s on %s failed", event, topic)
            await self._reply_error(topic, ref, join_ref, "internal error")

    async def _dispatch(
        self, topic: str, event: str, ref: str | None, join_ref: str | None, payload: dict[str, Any]
    ) -> None:
        if event == "heartbeat" and topic == PHOENIX:
            await self._reply_ok(topic, ref, join_ref)
        elif event == "phx_join":
            await self._join(topic, ref, join_ref, payload)
        elif event == "phx_leave":
            self._drop(topic)
            self.mailbox.follow(self.channels.values())
            await self._reply_ok(topic, ref, join_ref)
        elif event == "access_token":
            await self._access_token(topic, ref, join_ref, payload)
        elif event == "broadcast":
            await self._client_broadcast(topic, ref, join_ref, payload)
        elif event == "presence":
            await self._client_presence(topic, ref, join_ref, payload)
        else:
            raise FrameError(f"unknown event {event!r}")


async def _close_at_once(socket: WebSocket[Any, Any, Any], code: int, reason: str) -> None:
    with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError, TimeoutError):
        await asyncio.wait_for(socket.close(code=code, reason=reason), CLOSE_SECONDS)


@websocket(PATH, name="supabase_realtime")
async def realtime_socket(socket: WebSocket[Any, Any, Any], state: State) -> None:
    """Supabase Realtime (Phoenix channels, serializer `vsn` 1.0.0 or 2.0.0): broadcast on the
    market topics and, for admins, the admin topic; postgres_changes on the readable views.
    `apikey` (the anon or service key, or any valid token) is required in the query string; each
    channel is authorized by its join's access_token. Another `vsn` is accepted, then closed with
    1008 and a reason saying why."""
    tokens: Tokens = state.tokens
    apikey = socket.query_params.get("apikey") or ""
    vsn = socket.query_params.get("vsn", VSN_1)
    try:
        tokens.verify(apikey)
    except TokenError:
        await socket.close(code=CLOSE_POLICY, reason="a valid apikey is required")
        return
    await socket.accept()
    hub: Hub = state.hub
    refused = too_many_sockets(state, hub.sockets, hub.sockets_of(scope_client(socket.scope)))
    if refused is not None:
        await _close_at_once(socket, CLOSE_OVERFLOW, refused)
        return
    serializer = SERIALIZERS.get(vsn)
    if serializer is None:
        shown = vsn[:16].encode("ascii", "replace").decode()  # a close reason is <= 123 bytes
        reason = f"unsupported vsn {shown!r}: use {VSN_1} or {VSN_2}"
        await _close_at_once(socket, CLOSE_POLICY, reason)
        return
    await RealtimeSocket(socket, state, apikey, serializer).run()


route_handlers = [realtime_socket]
