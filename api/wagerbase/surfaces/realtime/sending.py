"""What a Realtime client sends the others: `broadcast` and `presence` (track, untrack) frames on
a room, any topic but the engine's (docs/live.md, "Broadcast and presence").

Each is checked here, then handed to the node's Rooms (rooms.py), which writes it to the
database; every node's hub reads it back and hands it to its sockets (delivery.py). Checked: the
channel is joined; its topic is not the engine's (market:{id}, markets, admin, ...: only the
engine sends there, so no client can forge its messages); on a private channel, that the
policies on realtime.messages let the channel's token write (policies.py); the socket's
allowance (WAGERBASE_SOCKET_MESSAGES a second); the size (WAGERBASE_BROADCAST_BYTES for a
broadcast, WAGERBASE_PRESENCE_BYTES for a presence); the node's queue. Every refusal is an
error reply saying why, on the frame's topic and ref; the socket stays open.

Replies: a broadcast is answered `ok` once written when the channel joined with
`config.broadcast.ack` (Supabase's ack), and not at all otherwise (as Supabase); a presence
message is answered `ok` once written. Supabase drops a broadcast or a track its policies refuse
without a word; here the refusal is an error reply.
"""

import secrets
from typing import Any

from wagerbase.surfaces.realtime.channels import Channel, Tracked
from wagerbase.surfaces.realtime.frames import FrameError, dumps, reply
from wagerbase.surfaces.realtime.policies import cannot_write
from wagerbase.surfaces.realtime.presence import Presence
from wagerbase.surfaces.realtime.rooms import Done, Held


def engine_refusal(channel: Channel, what: str) -> str:
    """Why a client may not send on an engine topic: `what` it asked is not for clients there."""
    return f"{channel.topic} is the engine's topic, read-only here: {what}; use a topic of your own"


class Sending(Presence):
    """A socket's `broadcast` and `presence` frames."""

    def _allowed(self) -> None:
        if not self.allowance.take():
            raise FrameError(
                f"too many messages from this socket (at most {self.allowance.per_second} a "
                "second, WAGERBASE_SOCKET_MESSAGES); slow down"
            )

    def _answer(self, topic: str, ref: str | None, join_ref: str | None, ok: bool) -> Done:
        """What to call once the database wrote a message: an error reply when it could not,
        an `ok` reply when `ok` (an ack)."""

        def done(refused: str | None) -> None:
            if refused is not None:
                frame = reply(topic, ref, join_ref, "error", {"reason": refused})
            elif ok:
                frame = reply(topic, ref, join_ref, "ok", {})
            else:
                return
            self.spawn(self.send(frame))

        return done

    async def _client_broadcast(
        self, topic: str, ref: str | None, join_ref: str | None, payload: dict[str, Any]
    ) -> None:
        channel = self._joined(topic)
        if not channel.room:
            raise FrameError(
                engine_refusal(
                    channel, "only the engine broadcasts on it (nobody can forge its messages)"
                )
            )
        if not channel.permissions.write_broadcast:
            raise FrameError(cannot_write(channel.name, "broadcast"))
        self._allowed()
        event, body = payload.get("event"), payload.get("payload", {})
        if not isinstance(event, str) or not event:
            raise FrameError("a broadcast needs an event: a non-empty string")
        if isinstance(body, bytes):
            raise FrameError("binary broadcast payloads are not supported here: send JSON")
        size = len(dumps(event)) + len(dumps(body))
        most = self.limits.broadcast_bytes
        if size > most:
            raise FrameError(
                f"broadcast too large: {size} bytes of event and payload as JSON, at most {most} "
                "(WAGERBASE_BROADCAST_BYTES)"
            )
        item = {
            "op": "broadcast",
            "topic": channel.name,
            "private": channel.private,
            "event": event,
            "payload": body,
            "sender": self.id,
        }
        refused = self.rooms.submit(item, self._answer(topic, ref, join_ref, channel.ack))
        if refused is not None:
            raise FrameError(refused)

    async def _client_presence(
        self, topic: str, ref: str | None, join_ref: str | None, payload: dict[str, Any]
    ) -> None:
        channel = self._joined(topic)
        if not channel.room:
            raise FrameError(engine_refusal(channel, "presence is not available on it"))
        kind = payload.get("event")
        kind = kind.lower() if isinstance(kind, str) else kind
        if kind == "untrack":
            tracked, channel.tracked = channel.tracked, None
            if tracked is None:
                await self._reply_ok(topic, ref, join_ref)
            else:
                self.rooms.untrack(tracked.ref, self._answer(topic, ref, join_ref, True))
            return
        if kind != "track":
            raise FrameError(f"unknown presence event {kind!r}: send track or untrack")
        if not channel.permissions.write_presence:
            raise FrameError(cannot_write(channel.name, "track presence"))
        self._allowed()
        meta = payload.get("payload", {})
        if not isinstance(meta, dict):
            raise FrameError("Presence track payload must be a map")
        size, most = len(dumps(meta)), self.limits.presence_bytes
        if size > most:
            raise FrameError(
                f"presence too large: {size} bytes as JSON, at most {most} "
                "(WAGERBASE_PRESENCE_BYTES)"
            )
        if channel.tracked is not None and channel.tracked.meta == meta:
            await self._reply_ok(topic, ref, join_ref)  # nothing changed
            return
        held = Held(
            f"F{secrets.token_urlsafe(12)}",
            channel.name,
            channel.private,
            channel.presence_key,
            meta,
        )
        prev = channel.tracked.ref if channel.tracked is not None else None
        answer = self._answer(topic, ref, join_ref, True)

        def done(refused: str | None) -> None:
            if refused is not None:
                self.rooms.forget(held.ref)
                if channel.tracked is not None and channel.tracked.ref == held.ref:
                    channel.tracked = None
            answer(refused)

        refused = self.rooms.track(held, prev, done)
        if refused is not None:
            raise FrameError(refused)
        channel.tracked = Tracked(held.ref, meta)
        if not channel.presence:  # a track turns presence on, as on Supabase
            channel.presence = True
            self._sync_presence(channel)
