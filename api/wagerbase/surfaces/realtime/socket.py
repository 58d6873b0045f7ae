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
  is still an admin (auth.is_admin(), as every admin call checks), or be the service role. Each
  message is checked again, once per token on the node, before it goes out, so a demoted or
  deleted admin stops receiving at once, not when the token expires.
- postgres_changes on the views a client may read (realtime_changes.py), each row selected again
  as the channel's caller, so RLS decides who receives it.

Fan-out (docs/live.md, "Fan-out"): a broadcast frame is encoded once per message, topic and
serializer for all of the node's sockets, a postgres_changes row's data once per message for all
its subscribers alike (realtime_changes.py), and frames are written straight to the connection
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
import itertools
import json
import logging
import time
from collections.abc import Hashable, MutableMapping
from dataclasses import dataclass
from typing import Any

import psycopg
from litestar import WebSocket, websocket
from litestar.datastructures import State
from litestar.exceptions import WebSocketDisconnect

from wagerbase.database import Database
from wagerbase.errors import ApiError
from wagerbase.http.common import scope_client
from wagerbase.limits import Sockets, of_node, too_many_sockets, where
from wagerbase.live import hub as hub_module
from wagerbase.live.hub import SESSION_ENDED, Event, Hub, Mailbox
from wagerbase.live.who import (
    UNKNOWN_USER_REASON,
    Caller,
    TokenRefused,
    Unavailable,
    ended,
    refusal,
    who,
)
from wagerbase.live.who import change_feed as change_feed  # re-exported: tests read the feed
from wagerbase.live.wire import Wire
from wagerbase.surfaces.realtime.feed import (
    ADMIN_MESSAGE_TABLES,
    MARKET_TABLES,
    USER_TABLES,
    Binding,
    BindingError,
    ChangeFrame,
    Subscription,
    TokenUserGone,
    dumps,
    is_admin,
    parse_bindings,
)
from wagerbase.tokens import Claims, TokenError, Tokens

log = logging.getLogger("wagerbase.realtime")

PATH = "/realtime/v1/websocket"
PREFIX = "realtime:"
ADMIN_TOPIC = "realtime:admin"
PHOENIX = "phoenix"
IDLE_SECONDS = (
    60.0  # a socket that sends nothing for this long is closed (the client beats every 25 s)
)
VSN_1 = "1.0.0"
VSN_2 = "2.0.0"
CLOSE_IDLE = 1000
CLOSE_OVERFLOW = 1013  # try again later: this socket's queue overflowed
CLOSE_POLICY = 1008
CLOSE_ERROR = 1011
CLOSE_SECONDS = 5.0  # how long a close may take before the connection is left to the server
MAX_CHANNELS = 100  # per socket, as Supabase Realtime's default
MAX_BINDINGS = 100  # postgres_changes bindings per channel
SOCKETS = "realtime_sockets"  # the app state's key for the node's open Realtime sockets
RESYNC_MESSAGE = (
    "resync: messages may have been missed (the database restarted or failed over);"
    " reload what you show"
)
NOT_ADMIN = "realtime:admin is for administrators: join it with a current admin's access token"
UNKNOWN_USER = f"invalid access token: {UNKNOWN_USER_REASON}"
SESSION_ENDED_NOW = f"invalid access token: {ended({})}"
UNAVAILABLE = "the access token cannot be checked now (database unavailable); try again"


class RealtimeMailbox(Mailbox):
    """A socket's mailbox that asks the hub only for what its channels can use: market messages
    when a channel listens to a market topic or to the market views, user messages of the users
    its channels are authorized as (every user's for an admin or the service role) when a channel
    has a binding on the user views, and admin messages when a channel whose token claims admin
    joined the admin topic or binds to a view they change. The database still decides: who is an
    admin now, and each row (RLS)."""

    def __init__(self) -> None:
        super().__init__(limit=hub_module.MAILBOX_LIMIT)
        self.users: frozenset[str] = frozenset()
        self.every_user = False
        self.markets = False
        self.admin_messages = False
        self.dropped = asyncio.Event()  # the hub dropped it: close, even if the writer is stuck

    def offer(self, event: Event) -> bool:
        accepted = super().offer(event)
        if not accepted:
            self.dropped.set()
        return accepted

    def wants(self, event: Event) -> bool:
        if event.type == SESSION_ENDED:
            return self.ends_a_session(event)
        if event.audience == "user":
            return self.every_user or event.payload.get("user_id") in self.users
        if event.audience == "market":
            return self.markets
        if event.audience == "admin":
            return self.admin_messages
        return event.audience == "system"


@dataclass
class Channel:
    topic: str
    join_ref: str | None
    token: str
    claims: Claims
    caller: Caller  # who the database says the token belongs to, at the join or access_token
    subscription: Subscription
    market_id: int | None
    all_markets: bool

    @property
    def name(self) -> str:
        return self.topic.removeprefix(PREFIX)

    @property
    def admin(self) -> bool:
        """The admin topic, which carries the engine's admin messages."""
        return self.topic == ADMIN_TOPIC

    @property
    def bindings(self) -> list[Binding]:
        return self.subscription.bindings

    @property
    def session_id(self) -> str | None:
        """The session of the channel's token (None for the anon and service keys)."""
        session = self.claims.get("session_id")
        return session if isinstance(session, str) else None

    def expired(self, now: float) -> bool:
        exp = self.claims.get("exp")
        return isinstance(exp, int | float) and exp <= now


def _market_topic(topic: str) -> tuple[int | None, bool]:
    name = topic.removeprefix(PREFIX)
    if name == "markets":
        return None, True
    kind, _, ident = name.partition(":")
    if kind == "market" and ident.isdigit():
        return int(ident), False
    return None, False


def _push(topic: str, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"event": event, "topic": topic, "ref": None, "payload": payload}


@dataclass(frozen=True)
class Encoded:
    """A frame already encoded by the socket's serializer (a broadcast, made once per message and
    topic for every socket of the node that speaks the same serializer)."""

    topic: str
    text: str


Frame = dict[str, Any] | ChangeFrame | Encoded


def _topic(frame: Frame) -> str:
    return frame["topic"] if isinstance(frame, dict) else frame.topic


class FrameError(Exception):
    """A frame this server answers with an error reply; `reason` goes to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DecodeError(FrameError):
    """A frame the serializer could not read: answered on `topic` (`phoenix` when unknown) with
    whatever refs could be read."""

    def __init__(
        self,
        reason: str,
        topic: str = PHOENIX,
        ref: str | None = None,
        join_ref: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.topic, self.ref, self.join_ref = topic, ref, join_ref


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise DecodeError("the frame is not JSON") from None


class SerializerV1:
    """Phoenix's V1 JSON serializer: every frame a text JSON object with the message's fields."""

    vsn = VSN_1

    def encode(self, frame: Frame) -> str:
        if isinstance(frame, Encoded):
            return frame.text
        if isinstance(frame, ChangeFrame):  # as dumps(frame.as_dict()), the data encoded once
            return (
                f'{{"event":"postgres_changes","topic":{dumps(frame.topic)},"ref":null,'
                f'"payload":{{"ids":{dumps(frame.ids)},"data":{frame.data.text}}}}}'
            )
        return dumps(frame)

    def decode(self, data: str | bytes) -> dict[str, Any]:
        if isinstance(data, bytes):
            raise DecodeError("binary frames are not supported")
        frame = _json(data)
        if not isinstance(frame, dict):
            raise DecodeError("a frame must be a JSON object")
        return frame


class SerializerV2:
    """Phoenix's V2 JSON serializer, as realtime-js implements it (lib/serializer.js): text frames
    are JSON arrays `[join_ref, ref, topic, event, payload]` both ways; a client may also send a
    binary user broadcast push. The server sends only text frames (the client decodes them as
    well as its binary broadcasts)."""

    vsn = VSN_2
    USER_BROADCAST_PUSH = 3  # kind byte
    META_LENGTH = 7  # kind, five field lengths and the payload encoding
    JSON_ENCODING = 1  # else 0: raw bytes

    def encode(self, frame: Frame) -> str:
        if isinstance(frame, Encoded):
            return frame.text
        if isinstance(frame, ChangeFrame):  # as encoding frame.as_dict(), the data encoded once
            return (
                f'[null,null,{dumps(frame.topic)},"postgres_changes",'
                f'{{"ids":{dumps(frame.ids)},"data":{frame.data.text}}}]'
            )
        return dumps(
            [
                frame.get("join_ref"),
                frame.get("ref"),
                frame["topic"],
                frame["event"],
                frame["payload"],
            ]
        )

    def decode(self, data: str | bytes) -> dict[str, Any]:
        if isinstance(data, bytes):
            return self._decode_broadcast_push(data)
        frame = _json(data)
        if not isinstance(frame, list) or len(frame) != 5:
            raise DecodeError("a frame must be a JSON array [join_ref, ref, topic, event, payload]")
        return dict(zip(("join_ref", "ref", "topic", "event", "payload"), frame, strict=True))

    def _decode_broadcast_push(self, data: bytes) -> dict[str, Any]:
        """`kind=3, len(join_ref), len(ref), len(topic), len(event), len(metadata), encoding`, then
        those five strings (one byte a character), then the payload (JSON text or raw bytes)."""
        if len(data) < self.META_LENGTH or data[0] != self.USER_BROADCAST_PUSH:
            raise DecodeError("the only binary frame accepted is a user broadcast push (kind 3)")
        offset = self.META_LENGTH
        fields = []
        for size in data[1:6]:
            if offset + size > len(data):
                raise DecodeError("truncated binary frame")
            fields.append(data[offset : offset + size].decode("latin-1"))
            offset += size
        join_ref, ref, topic, event, metadata = fields
        where = (topic or PHOENIX, ref or None, join_ref or None)
        body: Any = data[offset:]
        try:
            meta = json.loads(metadata) if metadata else {}
            if data[6] == self.JSON_ENCODING:
                body = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            raise DecodeError("the broadcast's payload or metadata is not JSON", *where) from None
        payload = {**(meta if isinstance(meta, dict) else {}), "type": "broadcast"}
        payload |= {"event": event, "payload": body}
        return {
            "join_ref": where[2],
            "ref": where[1],
            "topic": topic,
            "event": "broadcast",
            "payload": payload,
        }


Serializer = SerializerV1 | SerializerV2
SERIALIZERS: dict[str, Serializer] = {VSN_1: SerializerV1(), VSN_2: SerializerV2()}


class RealtimeSocket:
    """One connected client: its channels, its mailbox, and the frames both ways."""

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
        self.everyone: set[RealtimeSocket] = state[SOCKETS]  # the node's open Realtime sockets
        self.mailbox = RealtimeMailbox()
        self._ids = itertools.count(1)
        self._send_lock = asyncio.Lock()
        self._closed = False
        self._last_seen = time.monotonic()
        self.wire = Wire.of(socket.scope)  # None: this server has none, ASGI only (wire.py)
        if self.wire is not None:
            self.mailbox.send_now = self._send_now

    # lifecycle ---------------------------------------------------------------------------------

    async def run(self) -> None:
        self.everyone.add(self)
        try:
            await self._serve()
        finally:
            self.everyone.discard(self)

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

    def _send_now(self, event: Event) -> bool:
        """The mailbox's `send_now` (hub.py): a market message whose frames on this socket are
        broadcasts only (no channel's bindings have a change to select, no channel's token
        expired), written at once when nothing else is being sent; False for anything else, or
        when the connection does not take it now (the pump then delivers it)."""
        if event.audience != "market" or self._send_lock.locked() or self._closed:
            return False
        channels = list(self.channels.values())
        now = time.time()
        if any(c.expired(now) for c in channels):
            return False
        if any(
            c.bindings and self.feed.has_changes(event, c.claims, [c.subscription])
            for c in channels
        ):
            return False
        texts = [frame.text for frame in self._market_broadcasts(event, channels)]
        return not texts or self.wire is None or self.wire.send(texts, event.frames)

    def _broadcast(self, topic: str, name: str, payload: dict[str, Any], event: Event) -> Encoded:
        """The broadcast of `event` on `topic` (event `name`, `payload`), encoded once per message,
        topic and serializer for every socket of the node."""
        key = ("realtime", self.serializer.vsn, topic, name)
        text = event.frames.get(key)
        if text is None:
            message = {"type": "broadcast", "event": name, "payload": payload}
            text = event.frames[key] = self.serializer.encode(_push(topic, "broadcast", message))
        return Encoded(topic, text)

    def _market_broadcasts(self, event: Event, channels: list[Channel]) -> list[Encoded]:
        market_id = event.payload.get("market_id")
        return [
            self._broadcast(channel.topic, event.type, event.payload, event)
            for channel in channels
            if channel.all_markets
            or (channel.market_id is not None and channel.market_id == market_id)
        ]

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
            self.channels.pop(topic, None)
            self._reidentify()
            await self._reply_ok(topic, ref, join_ref)
        elif event == "access_token":
            await self._access_token(topic, ref, join_ref, payload)
        elif event == "broadcast":
            self._joined(topic)
            raise FrameError(
                "broadcast topics are read-only here: only the engine publishes on them"
            )
        elif event == "presence":
            self._joined(topic)
            raise FrameError("presence is not supported")
        else:
            raise FrameError(f"unknown event {event!r}")

    def _joined(self, topic: str) -> Channel:
        channel = self.channels.get(topic)
        if channel is None:
            raise FrameError("unmatched topic: join it first")
        return channel

    async def _join(
        self, topic: str, ref: str | None, join_ref: str | None, payload: dict[str, Any]
    ) -> None:
        if not topic.startswith(PREFIX) or topic == PREFIX:
            raise FrameError("unmatched topic: topics are realtime:<name>")
        token = payload.get("access_token") or self.apikey
        config = payload.get("config") or {}
        try:
            if not isinstance(token, str):
                raise FrameError("access_token must be a string")
            claims = self._verify(token)
            caller = await self._who(claims)
            if not isinstance(config, dict):
                raise FrameError("config must be an object")
            if config.get("private"):
                raise FrameError("private channels are not supported; join without private")
            raw = config.get("postgres_changes")
            if topic not in self.channels and len(self.channels) >= MAX_CHANNELS:
                raise FrameError(f"too many channels on this socket (at most {MAX_CHANNELS})")
            if isinstance(raw, list) and len(raw) > MAX_BINDINGS:
                raise FrameError(f"too many postgres_changes bindings (at most {MAX_BINDINGS})")
            others = sum(len(c.bindings) for t, c in self.channels.items() if t != topic)
            most = self.limits.socket_bindings
            if isinstance(raw, list) and others + len(raw) > most:
                raise FrameError(
                    f"too many postgres_changes bindings on this socket: {others} already, at "
                    f"most {most} in all (WAGERBASE_SOCKET_BINDINGS)"
                )
            if topic not in self.channels and self._node_channels() >= self.limits.channels:
                # not this socket's doing: refused for now, without phx_close (joined again later)
                await self._reply_error(topic, ref, join_ref, self._node_full())
                return
            try:
                bindings = await parse_bindings(raw, self.feed.catalog, self.db, self._ids)
            except BindingError as exc:
                raise FrameError(f"invalid postgres_changes binding: {exc}") from exc
            if topic == ADMIN_TOPIC and not caller.admin:
                raise FrameError(NOT_ADMIN)
        except FrameError as exc:
            # permanent: refuse the join and close the channel, so the client stops retrying
            self.channels.pop(topic, None)
            self._reidentify()
            await self.send(
                self._reply(topic, ref, join_ref, "error", {"reason": exc.reason}),
                {**_push(topic, "phx_close", {}), "join_ref": join_ref},
            )
            return
        market_id, all_markets = _market_topic(topic)
        channel = Channel(
            topic,
            join_ref,
            token,
            claims,
            caller,
            Subscription(topic, bindings),
            market_id,
            all_markets,
        )
        response: dict[str, Any] = {}
        if isinstance(raw, list):
            response["postgres_changes"] = [b.echo for b in bindings]
        frames = [self._reply(topic, ref, join_ref, "ok", response)]
        if bindings:
            frames.append(
                _push(
                    topic,
                    "system",
                    {
                        "channel": channel.name,
                        "extension": "postgres_changes",
                        "message": "Subscribed to PostgreSQL",
                        "status": "ok",
                    },
                )
            )
        async with self._send_lock:  # the reply goes out before any push on this channel
            if self.hub.ended_recently(channel.session_id):
                # ended after the database said it was live (no await since: nothing slips by);
                # refused as a join that cannot succeed is
                self.channels.pop(topic, None)
                frames = [
                    self._reply(topic, ref, join_ref, "error", {"reason": SESSION_ENDED_NOW}),
                    {**_push(topic, "phx_close", {}), "join_ref": join_ref},
                ]
            else:
                self.channels[topic] = channel
            self._reidentify()
            await self._send_locked(*frames)

    async def _access_token(
        self, topic: str, ref: str | None, join_ref: str | None, payload: dict[str, Any]
    ) -> None:
        channel = self._joined(topic)
        token = payload.get("access_token") or self.apikey
        try:
            if not isinstance(token, str):
                raise FrameError("access_token must be a string")
            claims = self._verify(token)
            caller = await self._who(claims)
            if channel.admin and not caller.admin:
                raise FrameError(NOT_ADMIN)
            if self.hub.ended_recently(claims.get("session_id")):
                raise FrameError(SESSION_ENDED_NOW)  # since the database said it was live
        except FrameError as exc:
            self.channels.pop(topic, None)
            self._reidentify()
            await self.send(
                self._reply(topic, ref, join_ref, "error", {"reason": exc.reason}),
                {**_push(topic, "phx_close", {}), "join_ref": channel.join_ref},
            )
            return
        channel.token, channel.claims, channel.caller = token, claims, caller
        self._reidentify()
        await self._reply_ok(topic, ref, join_ref)

    def _node_channels(self) -> int:
        return sum(len(socket.channels) for socket in self.everyone)

    def _node_full(self) -> str:
        return (
            f"too many channels on {where(self.node_limits.workers)} (at most "
            f"{self.limits.channels}, {self.node_limits.setting('WAGERBASE_MAX_CHANNELS')}); "
            "try again later"
        )

    def _verify(self, token: str) -> Claims:
        try:
            return self.tokens.verify(token)
        except TokenError as exc:
            raise FrameError(f"invalid access token: {exc.reason}") from exc

    async def _who(self, claims: Claims) -> Caller:
        """Who the database says the verified token belongs to now; a user who does not exist or
        was deleted, or a session that ended, is refused as a bad token is. Raises FrameError,
        Unavailable."""
        try:
            return await who(self.db, claims)
        except TokenRefused as exc:
            raise FrameError(f"invalid access token: {exc.reason}") from None

    def _reidentify(self) -> None:
        """Tell the mailbox which messages this socket's channels can use, and who it is."""
        users: set[str] = set()
        every_user = markets = admin = admin_messages = False
        first: str | None = None
        for channel in self.channels.values():
            sub = channel.caller.user_id
            if channel.claims.get("role") == "authenticated" and isinstance(sub, str):
                first = first or sub
            # the database's answer at the join (or access_token), not the claim alone; each
            # admin message and each row is still checked again before it goes out
            admin = admin or (channel.caller.admin and is_admin(channel.claims))
            markets = markets or channel.market_id is not None or channel.all_markets
            privileged = channel.caller.admin
            admin_messages = admin_messages or (channel.admin and privileged)
            for binding in channel.bindings:
                if binding.table is None or binding.table in MARKET_TABLES:
                    markets = True
                if binding.table is None or binding.table in USER_TABLES:
                    if isinstance(sub, str):
                        users.add(sub)
                    every_user = every_user or privileged
                if binding.table is None or binding.table in ADMIN_MESSAGE_TABLES:
                    admin_messages = admin_messages or privileged
        self.mailbox.users, self.mailbox.every_user = frozenset(users), every_user
        self.mailbox.markets, self.mailbox.admin_messages = markets, admin_messages
        self.mailbox.sessions = frozenset(
            c.session_id for c in self.channels.values() if c.session_id is not None
        )
        self.mailbox.identify(first, admin)

    # replies -----------------------------------------------------------------------------------

    @staticmethod
    def _reply(
        topic: str, ref: str | None, join_ref: str | None, status: str, response: dict[str, Any]
    ) -> dict[str, Any]:
        frame: dict[str, Any] = {
            "event": "phx_reply",
            "topic": topic,
            "ref": ref,
            "payload": {"status": status, "response": response},
        }
        if join_ref is not None:
            frame["join_ref"] = join_ref
        return frame

    async def _reply_ok(self, topic: str, ref: str | None, join_ref: str | None) -> None:
        await self.send(self._reply(topic, ref, join_ref, "ok", {}))

    async def _reply_error(
        self, topic: str, ref: str | None, join_ref: str | None, reason: str
    ) -> None:
        await self.send(self._reply(topic, ref, join_ref, "error", {"reason": reason}))

    # server -> client --------------------------------------------------------------------------

    async def _pump(self) -> None:
        """Returns when the mailbox overflowed."""
        while True:
            event = await self.mailbox.get()
            if event is None:
                return
            try:
                await self._deliver(event)
            except Exception:
                log.exception("realtime: could not deliver %s", event.type)

    async def _deliver(self, event: Event) -> None:
        if event.type == SESSION_ENDED:
            await self._end_sessions(event)
            return
        await self._expire(time.time())
        channels = list(self.channels.values())
        if event.audience == "system":
            if event.type == "resync":
                await self.send(*self._resync(channels, event))
            return
        frames: list[Frame] = []
        if event.audience == "admin":
            frames += await self._admin_broadcasts(event, channels)
        if event.audience == "market":
            frames += self._market_broadcasts(event, channels)
        tokens = {id(c): c.token for c in channels}
        by_token: dict[str, list[Channel]] = {}
        for channel in channels:
            if channel.bindings:
                by_token.setdefault(channel.token, []).append(channel)
        for group in by_token.values():
            try:
                frames += await self.feed.frames(
                    event, group[0].claims, [c.subscription for c in group]
                )
            except TokenUserGone as exc:
                # joined before their user was deleted, or their session ended: closed as a
                # refused token is
                refused = refusal(exc.error)
                reason = refused.reason if refused is not None else UNKNOWN_USER_REASON
                await self._close(group, f"invalid access token: {reason}")
        if frames:
            async with self._send_lock:
                # a channel that left, re-joined or changed token meanwhile gets nothing of this
                live = {c.topic for c in self.channels.values() if tokens.get(id(c)) == c.token}
                await self._send_locked(
                    *(f for f in frames if _topic(f) in live), cache=event.frames
                )

    async def _admin_broadcasts(self, event: Event, channels: list[Channel]) -> list[Encoded]:
        """The admin message as a broadcast on the admin topic, if its token is an admin's now."""
        frames = []
        for channel in channels:
            if channel.admin and await self.feed.admits(event, channel.claims):
                frames.append(self._broadcast(channel.topic, event.type, event.payload, event))
        return frames

    def _resync(self, channels: list[Channel], event: Event) -> list[dict[str, Any]]:
        frames = []
        for channel in channels:
            frames.append(
                _push(
                    channel.topic,
                    "system",
                    {
                        "channel": channel.name,
                        "extension": "system",
                        "message": RESYNC_MESSAGE,
                        "status": "ok",
                    },
                )
            )
            if channel.market_id is not None or channel.all_markets or channel.admin:
                frames.append(
                    _push(
                        channel.topic,
                        "broadcast",
                        {"type": "broadcast", "event": "resync", "payload": dict(event.payload)},
                    )
                )
        return frames

    async def _end_sessions(self, event: Event) -> None:
        """Close the channels joined with the tokens of the sessions the engine says ended."""
        ended_ids = event.ended_sessions
        closing = [c for c in self.channels.values() if c.session_id in ended_ids]
        if closing:
            await self._close(closing, f"invalid access token: {ended(event.payload)}")

    async def _expire(self, now: float) -> None:
        """Close the channels whose token expired (as Supabase Realtime does)."""
        expired = [c for c in self.channels.values() if c.expired(now)]
        if expired:
            await self._close(
                expired, "Token has expired: send a fresh access_token and join again"
            )

    async def _close(self, channels: list[Channel], message: str) -> None:
        """End these channels: a system error saying why, then phx_close."""
        for channel in channels:
            self.channels.pop(channel.topic, None)
        self._reidentify()
        frames = []
        for channel in channels:
            frames.append(
                _push(
                    channel.topic,
                    "system",
                    {
                        "channel": channel.name,
                        "extension": "system",
                        "message": message,
                        "status": "error",
                    },
                )
            )
            frames.append({**_push(channel.topic, "phx_close", {}), "join_ref": channel.join_ref})
        await self.send(*frames)


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
