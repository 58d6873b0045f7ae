"""Joining a channel (`phx_join`) and authorizing it again (`access_token`): the token verified,
the database asked who it belongs to now (wagerbase.live.who), the join's config and bindings
checked (bindings.py), a private channel's policies asked (policies.py), the socket's and the
node's limits (limits.Sockets).
"""

import uuid
from dataclasses import dataclass
from typing import Any

from wagerbase.limits import where
from wagerbase.live.who import (
    UNKNOWN_USER_REASON,
    Caller,
    TokenRefused,
    ended,
    who,
)
from wagerbase.surfaces.realtime.bindings import BindingError, Subscription, parse_bindings
from wagerbase.surfaces.realtime.channels import (
    ADMIN_TOPIC,
    PREFIX,
    Channel,
    engine_topic,
    market_topic,
)
from wagerbase.surfaces.realtime.frames import FrameError, push, reply
from wagerbase.surfaces.realtime.policies import (
    OPEN,
    NotAvailable,
    Permissions,
    cannot_read,
    permissions,
)
from wagerbase.surfaces.realtime.presence import Presence
from wagerbase.tokens import Claims, TokenError

MAX_CHANNELS = 100  # per socket, as Supabase Realtime's default
MAX_BINDINGS = 100  # postgres_changes bindings per channel
MAX_NAME = 255  # characters of a topic's name, and of a presence key
NOT_ADMIN = "realtime:admin is for administrators: join it with a current admin's access token"
UNKNOWN_USER = f"invalid access token: {UNKNOWN_USER_REASON}"
SESSION_ENDED_NOW = f"invalid access token: {ended({})}"


@dataclass(frozen=True)
class Options:
    """What a join's `config` asks of a channel, besides its postgres_changes."""

    private: bool
    self_broadcast: bool
    ack: bool
    presence: bool
    presence_key: str

    @classmethod
    def of(cls, config: dict[str, Any], name: str) -> "Options":
        """Read leniently, as Supabase does (a missing or malformed part is its default); an
        engine topic takes neither private nor presence. Raises FrameError."""
        broadcast = config.get("broadcast") if isinstance(config.get("broadcast"), dict) else {}
        presence = config.get("presence") if isinstance(config.get("presence"), dict) else {}
        assert isinstance(broadcast, dict) and isinstance(presence, dict)
        key = presence.get("key")
        if not isinstance(key, str) or not key:
            key = str(uuid.uuid4())  # as Supabase: a key of the join's own
        if len(key) > MAX_NAME:
            raise FrameError(f"config.presence.key is too long (at most {MAX_NAME} characters)")
        options = cls(
            config.get("private") is True,
            broadcast.get("self") is True,
            broadcast.get("ack") is True,
            presence.get("enabled") is True,
            key,
        )
        if engine_topic(name) and options.private:
            raise FrameError(
                f"realtime:{name} is the engine's topic: join it without private (only the "
                "engine sends on it, and anyone may listen)"
            )
        if engine_topic(name) and options.presence:
            raise FrameError(
                f"presence is not available on the engine's topics (realtime:{name}): use a "
                "topic of your own"
            )
        return options


class Joins(Presence):
    """A socket's `phx_join` and `access_token` frames."""

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
            if len(topic) - len(PREFIX) > MAX_NAME:
                raise FrameError(f"the topic's name is too long (at most {MAX_NAME} characters)")
            name = topic.removeprefix(PREFIX)
            options = Options.of(config, name)
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
            allowed = await self._permissions(claims, name) if options.private else OPEN
            if not allowed.readable:
                raise FrameError(cannot_read(name))
        except FrameError as exc:
            # permanent: refuse the join and close the channel, so the client stops retrying
            self._drop(topic)
            self.mailbox.follow(self.channels.values())
            await self.send(
                reply(topic, ref, join_ref, "error", {"reason": exc.reason}),
                {**push(topic, "phx_close", {}), "join_ref": join_ref},
            )
            return
        market_id, all_markets = market_topic(topic)
        channel = Channel(
            topic,
            join_ref,
            token,
            claims,
            caller,
            Subscription(topic, bindings),
            market_id,
            all_markets,
            private=options.private,
            permissions=allowed,
            self_broadcast=options.self_broadcast,
            ack=options.ack,
            presence_key=options.presence_key,
            presence=options.presence,
            held=[] if options.presence and allowed.read_presence else None,
        )
        response: dict[str, Any] = {}
        if isinstance(raw, list):
            response["postgres_changes"] = [b.echo for b in bindings]
        frames = [reply(topic, ref, join_ref, "ok", response)]
        if bindings:
            frames.append(
                push(
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
            self._drop(topic)  # a join again replaces the channel (its presence ends)
            joined = not self.hub.ended_recently(channel.session_id)
            if joined:
                self.channels[topic] = channel
            else:
                # ended after the database said it was live (no await since: nothing slips by);
                # refused as a join that cannot succeed is
                frames = [
                    reply(topic, ref, join_ref, "error", {"reason": SESSION_ENDED_NOW}),
                    {**push(topic, "phx_close", {}), "join_ref": join_ref},
                ]
            self.mailbox.follow(self.channels.values())
            await self._send_locked(*frames)
        if joined:
            self._sync_presence(channel)  # its presence_state, after the reply

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
            allowed = channel.permissions
            if channel.private:
                allowed = await self._permissions(claims, channel.name)
                if not allowed.readable:  # Supabase's words when a token loses the right
                    raise FrameError(
                        "You no longer have permission to read from this Channel topic: "
                        + channel.name
                    )
            if self.hub.ended_recently(claims.get("session_id")):
                raise FrameError(SESSION_ENDED_NOW)  # since the database said it was live
        except FrameError as exc:
            self._drop(topic)
            self.mailbox.follow(self.channels.values())
            await self.send(
                reply(topic, ref, join_ref, "error", {"reason": exc.reason}),
                {**push(topic, "phx_close", {}), "join_ref": channel.join_ref},
            )
            return
        channel.token, channel.claims, channel.caller = token, claims, caller
        channel.permissions = allowed
        self.mailbox.follow(self.channels.values())
        await self._reply_ok(topic, ref, join_ref)

    async def _permissions(self, claims: Claims, name: str) -> Permissions:
        """What the token may do on the private channel `name`, by the policies on
        realtime.messages. Raises FrameError, Unavailable."""
        try:
            allowed = await permissions(self.db, claims, name)
        except NotAvailable as exc:
            raise FrameError(str(exc)) from None
        except TokenRefused as exc:
            raise FrameError(f"invalid access token: {exc.reason}") from None
        return allowed

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
