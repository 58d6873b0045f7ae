"""Hub events as BetMarket's /ws messages (../shared/BETMARKET_API.md, docs/live.md).

An event is translated once per node (per worker process), whatever the number of sockets that
receive it: the JSON text is kept on the event (`Event.frames`), and so are the bytes of its
WebSocket frame (live/wire.py).

Money is sent in major units, odds as numbers, exactly as /api answers them (answers.py). A
two-outcome fixed-odds market is a BetMarket game and its messages carry `game_id`, `odd1`,
`odd2`, `cap_opt1`, `cap_opt2`; any other market gets the same opcodes with `market_id` and a
list of `outcomes`. Every market message carries the market's `version`, every `balance_update`
the wallet's version as `balance_seq`. Whether a market is a game is the engine's to say: its
market messages and the markets view carry `betmarket_game`.
"""

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import psycopg

from wagerbase.database import Database
from wagerbase.errors import ApiError
from wagerbase.live.hub import Event
from wagerbase.sql_files import statements
from wagerbase.surfaces.betmarket.answers import major, odds
from wagerbase.tokens import anon_claims

log = logging.getLogger("wagerbase.live.ws")

TEXT = "betmarket"  # the key of an event's JSON text in its frames (Event.frames)
GAMES_CACHE = 65536  # markets whose kind is remembered (a market's kind and outcomes never change)
_SQL = statements(__package__, "ws_messages.sql")

Message = dict[str, Any]

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
                found = await conn.execute(_SQL["is_game"], {"market_id": market_id})
                row = await found.fetchone()
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
