"""/ws: BetMarket's WebSocket protocol (../shared/BETMARKET_API.md, docs/live.md) on the hub.

Each socket gets a mailbox from this node's hub (wagerbase.live.hub): public market messages from
the moment it connects, its user's messages once it authenticates, admin messages if that user is
an admin. Who the user is comes from the database, not from the token alone (wagerbase.live.who):
`authenticate` refuses a token whose user does not exist or was deleted, or whose session ended,
and takes `is_admin` from `auth.is_admin()`, and every admin message is checked again before it
goes out, so an admin demoted or deleted while connected gets nothing more from the next one on.
When the engine says the socket's session ended (`session_ended`, hub.py), the socket becomes
anonymous at once and is told so (`{"opcode": "session_ended", ...}`); it stays open for the
public messages, as one that never authenticated.

Two tasks serve a socket: one reads the client's messages (`authenticate`, `keepalive`; anything
else is answered with an `error`, never a crash) and closes the socket when the client says
nothing for the idle timeout; the other takes events from the mailbox, translates them into
BetMarket's messages and sends them as JSON text frames.

An event is translated once per node (per worker process), whatever the number of sockets that
receive it: the JSON text is kept on the event (`Event.frames`), and so are the bytes of its
WebSocket frame (live/wire.py). A socket whose writer is idle sends a market or system message at
once, from the hub's `publish`, straight to its connection (`Session._send_now`); user and admin
messages, which may need the database first, go through the writer.

Money is sent in major units, odds as numbers, exactly as /api answers them
(wagerbase.http.betmarket). A two-outcome fixed-odds market is a BetMarket game and its
messages carry `game_id`, `odd1`, `odd2`, `cap_opt1`, `cap_opt2`; any other market gets the same
opcodes with `market_id` and a list of `outcomes`. Every market message carries the market's
`version`, every `balance_update` the wallet's version as `balance_seq`.

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
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

import psycopg
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from wagerbase.database import Database
from wagerbase.errors import ApiError
from wagerbase.http.common import scope_client
from wagerbase.limits import too_many_sockets
from wagerbase.live.hub import SESSION_ENDED, Event, Hub, Mailbox
from wagerbase.live.who import TokenRefused, Unavailable, admits, ended, who
from wagerbase.live.wire import Wire
from wagerbase.surfaces.betmarket.answers import major, odds
from wagerbase.tokens import Claims, TokenError, Tokens, anon_claims

log = logging.getLogger("wagerbase.live.ws")

IDLE_ENV = "WAGERBASE_WS_IDLE_SECONDS"
IDLE_SECONDS = 60.0
CLOSE_IDLE = 1000  # normal closure, reason "idle timeout"
CLOSE_OVERFLOW = 1013  # try again later: the client fell too far behind
CLOSE_ERROR = 1011  # a bug on our side
CLOSE_SECONDS = 5.0  # how long a close may take before the connection is left to the server
TEXT = "betmarket"  # the key of an event's JSON text in its frames (Event.frames)
GAMES_CACHE = 65536  # markets whose kind is remembered (a market's kind and outcomes never change)

Message = dict[str, Any]


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


# Translation: hub events -> BetMarket messages ------------------------------------------------


def _money(value: Any) -> float | None:
    return None if value is None else major(int(value))


def _odds(value: Any) -> float | None:
    return None if value is None else odds(value)


def _outcomes(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return sorted(payload.get("outcomes") or [], key=lambda outcome: int(outcome["position"]))


def is_game(payload: Mapping[str, Any]) -> bool:
    """A market message of a BetMarket game, as the engine says (`betmarket_game`)."""
    return payload.get("betmarket_game") is True


def _outcome(outcome: Mapping[str, Any], labels: Mapping[int, Any] | None = None) -> Message:
    quoted: Message = {
        "outcome_id": outcome["outcome_id"],
        "position": outcome["position"],
        "odds": _odds(outcome.get("odds")),
        "cap": _money(outcome.get("cap")),
        "pool": _money(outcome.get("pool")),
        "share": float(outcome.get("share") or 0),
    }
    if labels is not None:
        quoted["label"] = labels.get(int(outcome["position"]))
    return quoted


def _quotes(payload: Mapping[str, Any]) -> Message:
    """odd1, odd2, cap_opt1, cap_opt2 of a game."""
    first, second = _outcomes(payload)
    return {
        "odd1": _odds(first.get("odds")),
        "odd2": _odds(second.get("odds")),
        "cap_opt1": _money(first.get("cap")),
        "cap_opt2": _money(second.get("cap")),
    }


def market_message(payload: Mapping[str, Any]) -> Message | None:
    """The message of a `wagerbase_market` event, or None for a type BetMarket has no word for."""
    kind = payload.get("type")
    game = is_game(payload)
    ref: Message = (
        {"game_id": payload["market_id"]}
        if game
        else {"market_id": payload["market_id"], "kind": payload.get("kind")}
    )
    version = payload["version"]
    if kind == "odds":
        numbers = (
            _quotes(payload) if game else {"outcomes": [_outcome(o) for o in _outcomes(payload)]}
        )
        return {
            "opcode": "odds_update",
            **ref,
            **numbers,
            "total_volume": _money(payload.get("total_pool") or 0),
            "version": version,
        }
    if kind in ("created", "opened"):
        market: Mapping[str, Any] = payload.get("market") or {}
        labels = {int(o["position"]): o.get("label") for o in market.get("outcomes") or []}
        details: Message = {
            "question_text": market.get("title"),
            **({"opt1_text": labels.get(1), "opt2_text": labels.get(2)} if game else {}),
            "category": market.get("category"),
            "betting_open": market.get("accepting_wagers") is True,
        }
        numbers = (
            _quotes(payload)
            if game
            else {
                "outcomes": [_outcome(o, labels) for o in _outcomes(payload)],
                "total_volume": _money(payload.get("total_pool") or 0),
            }
        )
        return {"opcode": "new_game", **ref, **details, **numbers, "version": version}
    if kind == "closed":
        return {"opcode": "betting_closed", **ref, "version": version}
    if kind == "settled":
        position = payload.get("winning_position")
        result: Message = (
            {"result": f"opt{position}"}
            if game
            else {
                "winning_outcome_id": payload.get("winning_outcome_id"),
                "winning_position": position,
            }
        )
        return {"opcode": "game_result", **ref, **result, "version": version}
    if kind == "voided":
        return {"opcode": "game_voided", **ref, "version": version}
    return None


def user_message(payload: Mapping[str, Any], game: bool | None) -> Message | None:
    """The message of a `wagerbase_user` event. `game` says whether the wager's market is a
    BetMarket game (None: unknown, then positions 1 and 2 are taken for opt1 and opt2)."""
    kind = payload.get("type")
    if kind == "balance":
        message: Message = {
            "opcode": "balance_update",
            "user_id": payload["user_id"],
            "balance": _money(payload["balance"]),
            "balance_seq": payload["version"],
        }
        if payload.get("market_id") is not None:
            message["game_id"] = payload["market_id"]
        return message
    accepted = kind == "wager_approved" or (
        kind == "wager_placed" and payload.get("approval", "accepted") == "accepted"
    )
    if accepted:
        position = payload.get("position")
        if game is None:
            game = position in (1, 2)
        ref: Message = (
            {"game_id": payload["market_id"]}
            if game
            else {
                "market_id": payload["market_id"],
                "outcome_id": payload.get("outcome_id"),
                "position": position,
            }
        )
        return {
            "opcode": "bet_confirmed",
            **ref,
            "amount": _money(payload["stake"]),
            **({"choice": f"opt{position}"} if game else {}),
            "odd": _odds(payload.get("odds")),
            "bet_id": payload["id"],
        }
    return None


def admin_message(payload: Mapping[str, Any]) -> Message | None:
    if payload.get("type") == "profit":
        return {"opcode": "profit_update", "profit": _money(payload["profit"])}
    return None


def system_message(payload: Mapping[str, Any]) -> Message | None:
    if payload.get("type") == "resync":
        return {"opcode": "resync", "reason": payload.get("reason")}
    return None


# read as anon: whether a market is a BetMarket game is public (drafts send no message)
_GAME_SQL = "select betmarket_game from public.markets where id = %s"


class Translator:
    """Hub events as JSON text, once per event for all of a node's sockets (kept on the event)."""

    def __init__(self, db: Database | None) -> None:
        self._db = db
        self._games: OrderedDict[int, bool] = OrderedDict()
        self._lookups: dict[int, asyncio.Future[bool | None]] = {}

    async def encode(self, event: Event) -> str | None:
        """The JSON text of the event's message; None when it has none."""
        if TEXT in event.frames:
            return event.frames[TEXT]  # type: ignore[no-any-return]
        game = None
        if event.audience == "user" and event.type in ("wager_placed", "wager_approved"):
            game = await self.market_is_game(event.payload.get("market_id"))
        return self._encode(event, game)

    def encode_now(self, event: Event) -> str | None:
        """The JSON text of a message that needs nothing from the database (a market, admin or
        system message; a user message's market kind may have to be read: `encode`)."""
        if TEXT in event.frames:
            return event.frames[TEXT]  # type: ignore[no-any-return]
        return self._encode(event, None)

    def _encode(self, event: Event, game: bool | None) -> str | None:
        try:
            message = self.translate(event, game)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            log.warning("ws: cannot translate a %s %s message: %r", event.audience, event.type, exc)
            message = None
        text = None if message is None else json.dumps(message, ensure_ascii=False)
        event.frames[TEXT] = text
        return text

    def translate(self, event: Event, game: bool | None = None) -> Message | None:
        """The event's message; `game` says whether a wager's market is a game (user messages;
        market_is_game)."""
        payload = event.payload
        if event.audience == "market":
            if payload.get("market_id") is not None and "betmarket_game" in payload:
                self._remember(int(payload["market_id"]), is_game(payload))
            return market_message(payload)
        if event.audience == "user":
            return user_message(payload, game)
        if event.audience == "admin":
            return admin_message(payload)
        if event.audience == "system":
            return system_message(payload)
        return None

    def _remember(self, market_id: int, game: bool) -> None:
        self._games[market_id] = game
        self._games.move_to_end(market_id)
        while len(self._games) > GAMES_CACHE:
            self._games.popitem(last=False)

    async def market_is_game(self, market_id: Any) -> bool | None:
        """Whether the market is a two-outcome fixed-odds one: remembered from its market
        messages, else read once; None if that cannot be told."""
        if not isinstance(market_id, int):
            return None
        known = self._games.get(market_id)
        if known is not None:
            return known
        pending = self._lookups.get(market_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._lookups[market_id] = pending
            game: bool | None = None
            try:
                game = await self._read_kind(market_id)
            finally:  # waiters get an answer even if this reader was cancelled
                del self._lookups[market_id]
                pending.set_result(game)
            if game is not None:
                self._remember(market_id, game)
            return game
        return await asyncio.shield(pending)

    async def _read_kind(self, market_id: int) -> bool | None:
        if self._db is None:
            return None
        try:
            async with self._db.as_caller(anon_claims(), read_only=True, lane="live") as conn:
                row = await (await conn.execute(_GAME_SQL, [market_id])).fetchone()
        except (psycopg.Error, OSError, ApiError) as exc:
            log.warning("ws: cannot read market %s: %s", market_id, exc)
            return None
        if row is None:
            return None
        return bool(row["betmarket_game"])


def translator(state: Any) -> Translator:
    """The node's translator, made on first use and kept in the app's state."""
    found = state.get("betmarket_ws")
    if found is None:
        found = Translator(state.get("db"))
        state["betmarket_ws"] = found
    assert isinstance(found, Translator)
    return found


# Sockets ---------------------------------------------------------------------------------------


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
