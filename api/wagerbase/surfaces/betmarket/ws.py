"""/ws: BetMarket's WebSocket protocol (../shared/BETMARKET_API.md, docs/live.md) on the hub.

Each socket gets a mailbox from this node's hub (wagerbase.live.hub): public market messages from
the moment it connects, its user's messages once it authenticates, admin messages if that user is
an admin. Who the user is comes from the database, not from the token alone (wagerbase.live.who):
`authenticate` refuses a token whose user does not exist or was deleted, or whose session ended,
and takes `is_admin` from `public.acts_as_admin()`, and every admin message is checked again
before it goes out, so an admin demoted or deleted while connected gets nothing more from the next
one on.
When the engine says the socket's session ended (`session_ended`, hub.py), the socket becomes
anonymous at once and is told so (`{"opcode": "session_ended", ...}`); it stays open for the
public messages, as one that never authenticated.

Two tasks serve a socket: one reads the client's messages (`authenticate`, `keepalive`; anything
else is answered with an `error`, never a crash) and closes the socket when the client says
nothing for the idle timeout; the other takes events from the mailbox, translates them into
BetMarket's messages (ws_messages.py, once per event for all of a node's sockets) and sends them
as JSON text frames.

A socket whose writer is idle sends a market or system message at once, from the hub's
`publish`, straight to its connection (`Session._send_now`); user and admin messages, which may
need the database first, go through the writer.

A slow socket never slows the hub: the hub writes to it at once only while its connection takes
more without waiting (live/wire.py), and otherwise only queues into the bounded mailbox; when the
mailbox overflows, or its oldest message waited too long (hub.MAX_LAG_SECONDS), the hub drops it
and this socket is closed with 1013 ("try again later"), even if its writer is stuck sending to
a client that stopped reading.
"""

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Hashable
from typing import Any

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from wagerbase.database import Database
from wagerbase.http.common import scope_client
from wagerbase.limits import too_many_sockets
from wagerbase.live.hub import SESSION_ENDED, Event, Hub, Mailbox
from wagerbase.live.who import TokenRefused, Unavailable, admits, ended, who
from wagerbase.live.wire import Wire
from wagerbase.surfaces.betmarket.ws_messages import Message, Translator, translator
from wagerbase.tokens import Claims, TokenError, Tokens

log = logging.getLogger("wagerbase.live.ws")

IDLE_ENV = "WAGERBASE_WS_IDLE_SECONDS"
IDLE_SECONDS = 60.0
CLOSE_IDLE = 1000  # normal closure, reason "idle timeout"
CLOSE_OVERFLOW = 1013  # try again later: the client fell too far behind
CLOSE_ERROR = 1011  # a bug on our side
CLOSE_SECONDS = 5.0  # how long a close may take before the connection is left to the server


def idle_seconds() -> float:
    """The idle timeout: WAGERBASE_WS_IDLE_SECONDS if set to a positive number, else 60."""
    raw = os.environ.get(IDLE_ENV, "").strip()
    if not raw:
        return IDLE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        log.warning("%s=%r is not a positive number of seconds; using %s", IDLE_ENV, raw, 60)
        return IDLE_SECONDS
    return value


class SocketMailbox(Mailbox):
    """A mailbox that says when the hub dropped it, so a stuck writer is not waited for."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = asyncio.Event()

    def offer(self, event: Event) -> bool:
        accepted = super().offer(event)
        if not accepted:
            self.dropped.set()
        return accepted


def _error(message: str) -> Message:
    return {"opcode": "error", "message": message}


def session_ended_message(event: Event) -> Message:
    """What a socket whose session ended is told: the engine's reason, and what to do."""
    return {
        "opcode": SESSION_ENDED,
        "reason": event.payload.get("reason"),
        "message": ended(event.payload),
    }


class Session:
    """One open socket."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        hub: Hub,
        tokens: Tokens,
        codec: Translator,
        db: Database | None,
    ) -> None:
        self.socket = socket
        self.hub = hub
        self.tokens = tokens
        self.codec = codec
        self.db = db
        self.mailbox = SocketMailbox()
        self.claims: Claims | None = None  # the authenticated token's, for the admin checks
        self.expires_at: float | None = None
        self.idle = idle_seconds()
        self._sending = asyncio.Lock()
        self.wire = Wire.of(socket.scope)  # None: this server has none, ASGI only (wire.py)
        if self.wire is not None:
            self.mailbox.send_now = self._send_now

    async def run(self) -> None:
        # subscribed before the handshake completes: a client that is connected hears everything
        # committed after that
        self.hub.subscribe(self.mailbox, scope_client(self.socket.scope))
        try:
            await self.socket.accept()
            reader = asyncio.create_task(self._read(), name="ws-read")
            writer = asyncio.create_task(self._write(), name="ws-write")
            dropped = asyncio.create_task(self.mailbox.dropped.wait(), name="ws-dropped")
            tasks = {reader, writer, dropped}
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            closing = self._closing(done, reader, writer, dropped)
            if closing is not None:
                await self._close(*closing)
        finally:
            self.hub.unsubscribe(self.mailbox)

    def _closing(
        self,
        done: set[asyncio.Task[Any]],
        reader: asyncio.Task[Any],
        writer: asyncio.Task[Any],
        dropped: asyncio.Task[Any],
    ) -> tuple[int, str] | None:
        """The close code and reason, or None when the client went away."""
        if dropped in done:
            return CLOSE_OVERFLOW, "too far behind; reconnect"
        for task in (reader, writer):
            if task not in done:
                continue
            exc = task.exception()
            if exc is not None:
                log.error("ws: unexpected error", exc_info=exc)
                return CLOSE_ERROR, "internal error"
            result: tuple[int, str] | None = task.result()
            return result
        return None

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError, TimeoutError):
            await asyncio.wait_for(self.socket.close(code, reason), timeout=CLOSE_SECONDS)

    async def _send(self, text: str, frames: dict[Hashable, Any] | None = None) -> None:
        """Send one message: straight to the connection when it takes it now (`frames`, an
        event's, shares the frame's bytes with the node's other sockets), else through ASGI,
        which waits for a slow client."""
        async with self._sending:
            if self.wire is None or not self.wire.send((text,), frames):
                await self.socket.send_text(text)

    def _send_now(self, event: Event) -> bool:
        """The mailbox's `send_now` (hub.py): a market or system message, the same for every
        socket, written at once when nothing else is being sent; False for any other (the writer
        checks the socket's user first) or when the connection does not take it now."""
        if event.audience not in ("market", "system") or self._sending.locked():
            return False
        assert self.wire is not None
        text = self.codec.encode_now(event)
        return text is None or self.wire.send((text,), event.frames)

    async def _reply(self, message: Message) -> None:
        await self._send(json.dumps(message, ensure_ascii=False))

    # the client's messages -----------------------------------------------------------------------

    async def _read(self) -> tuple[int, str] | None:
        while True:
            try:
                received = await asyncio.wait_for(self.socket.receive(), timeout=self.idle)
            except TimeoutError:
                return CLOSE_IDLE, "idle timeout"
            except WebSocketDisconnect:
                return None
            if received["type"] != "websocket.receive":
                return None
            text = received.get("text")
            reply = _error("send JSON in text frames") if text is None else await self.handle(text)
            try:
                await self._reply(reply)
            except (WebSocketDisconnect, OSError, RuntimeError):
                return None

    async def handle(self, text: str) -> Message:
        """The answer to one client message."""
        try:
            message = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return _error(f"malformed JSON: {exc}")
        if not isinstance(message, dict):
            return _error('a message is a JSON object with an "opcode"')
        opcode = message.get("opcode")
        if opcode == "keepalive":
            return {"opcode": "keepalive"}
        if opcode == "authenticate":
            return await self.authenticate(message.get("token"))
        if opcode is None:
            return _error('a message needs an "opcode"')
        return _error(f"unknown opcode {str(opcode)[:100]!r}: send authenticate or keepalive")

    async def authenticate(self, token: Any) -> Message:
        """Identify the socket's user, as the database knows them now; a failure leaves the
        socket open, anonymous."""
        self._forget()
        if not isinstance(token, str) or not token:
            return _error("authenticate needs a token")
        try:
            claims = self.tokens.verify(token)
        except TokenError as exc:
            return _error(f"authentication failed: {exc.reason}")
        if claims.get("role") != "authenticated":
            return _error("authentication failed: send a user's access token")
        try:
            caller = await who(self.db, claims)
        except TokenRefused as exc:
            return _error(f"authentication failed: {exc.reason}")
        except Unavailable:
            return _error("authentication failed: the token cannot be checked now; try again")
        user_id = caller.user_id or str(claims["sub"])
        session = claims.get("session_id")
        if not isinstance(session, str) or self.hub.ended_recently(session):
            # ended after the database said it was live (no await since: nothing slips between)
            return _error(f"authentication failed: {ended({})}")
        # identified before the answer goes out: whatever commits after the client reads
        # `authenticated` reaches this socket
        self.mailbox.identify(user_id, caller.admin)
        self.mailbox.sessions = frozenset({session})
        self.claims, self.expires_at = claims, float(claims["exp"])
        return {"opcode": "authenticated", "user_id": user_id, "is_admin": caller.admin}

    def _forget(self) -> None:
        """Anonymous from now on: no user, admin or session messages are routed here."""
        self.mailbox.identify(None, False)
        self.mailbox.sessions = frozenset()
        self.claims = self.expires_at = None

    # the server's messages -----------------------------------------------------------------------

    async def _write(self) -> tuple[int, str] | None:
        while True:
            event = await self.mailbox.get()
            if event is None:
                return CLOSE_OVERFLOW, "too far behind; reconnect"
            try:
                if event.type == SESSION_ENDED:
                    if self.mailbox.ends_a_session(event):  # not an earlier token's session
                        self._forget()
                        await self._reply(session_ended_message(event))
                    continue
                if event.audience in ("user", "admin"):
                    if self.expires_at is not None and time.time() >= self.expires_at:
                        self._forget()
                        await self._reply(_error("token expired: authenticate again"))
                    if not self.mailbox.wants(event):
                        continue  # queued before the socket signed out or changed user
                text = await self.codec.encode(event)
                if text is None:
                    continue
                if event.audience == "admin" and not await self._still_admin(event):
                    continue
                await self._send(text, event.frames)
            except (WebSocketDisconnect, OSError, RuntimeError):
                return None

    async def _still_admin(self, event: Event) -> bool:
        """Whether the socket's user is still an admin, asked again for this admin message (once
        per message and token on the node); a token changed meanwhile gets nothing of it."""
        claims = self.claims
        if claims is None:
            return False
        allowed = await admits(self.db, event, claims)
        return allowed and self.claims is claims and self.mailbox.is_admin


@websocket("/ws", name="betmarket_ws")
async def betmarket_ws(socket: WebSocket[Any, Any, Any]) -> None:
    """BetMarket's live updates: authenticate, keepalive; odds, games, balances, bets, profit.
    Past the node's socket limit (WAGERBASE_MAX_SOCKETS, with Realtime's) a socket gets an error
    message and is closed at once with 1013."""
    state = socket.app.state
    hub: Hub = state.hub
    reason = too_many_sockets(state, hub.sockets, hub.sockets_of(scope_client(socket.scope)))
    if reason is not None:
        await socket.accept()
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
            await socket.send_text(json.dumps(_error(reason)))
            await socket.close(code=CLOSE_OVERFLOW, reason=reason)
        return
    await Session(socket, state.hub, state.tokens, translator(state), state.get("db")).run()
