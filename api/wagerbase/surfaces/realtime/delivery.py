"""What a Realtime socket is sent of the engine's messages: broadcasts on the market and admin
topics (each encoded once per message, topic and serializer for every socket of the node),
postgres_changes (feed.py), resyncs, and the closing of channels whose token expired or whose
session ended; and of what clients send each other on its rooms (sending.py, rooms.py):
their broadcasts and the presence diffs.
"""

import logging
import time
from typing import Any

from wagerbase.live.hub import SESSION_ENDED, Event
from wagerbase.live.who import UNKNOWN_USER_REASON, ended, refusal
from wagerbase.surfaces.realtime.channels import PREFIX, Channel, engine_topic
from wagerbase.surfaces.realtime.feed import TokenUserGone
from wagerbase.surfaces.realtime.frames import Encoded, Frame, push, topic_of
from wagerbase.surfaces.realtime.presence import Presence

log = logging.getLogger("wagerbase.realtime")

RESYNC_MESSAGE = (
    "resync: messages may have been missed (the database restarted or failed over);"
    " reload what you show"
)


class Delivery(Presence):
    """The engine's messages, as frames for the socket's channels."""

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

    def _broadcast(self, topic: str, name: str, payload: Any, event: Event) -> Encoded:
        """The broadcast of `event` on `topic` (event `name`, `payload`), encoded once per message,
        topic and serializer for every socket of the node."""
        key = ("realtime", self.serializer.vsn, topic, name)
        text = event.frames.get(key)
        if text is None:
            message = {"type": "broadcast", "event": name, "payload": payload}
            text = event.frames[key] = self.serializer.encode(push(topic, "broadcast", message))
        return Encoded(topic, text)

    def _market_broadcasts(self, event: Event, channels: list[Channel]) -> list[Encoded]:
        market_id = event.payload.get("market_id")
        return [
            self._broadcast(channel.topic, event.type, event.payload, event)
            for channel in channels
            if channel.all_markets
            or (channel.market_id is not None and channel.market_id == market_id)
        ]

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
                for channel in channels:  # presence diffs may have been missed too
                    self._sync_presence(channel)
            return
        if event.audience == "realtime":
            async with self._send_lock:  # chosen and sent at once: a presence read may hold it
                await self._send_locked(*self._room_frames(event), cache=event.frames)
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
                    *(f for f in frames if topic_of(f) in live), cache=event.frames
                )

    def _room_frames(self, event: Event) -> list[Frame]:
        """What a client sent on a room, for this socket's channel of that room (its name, and
        private or not): a broadcast (not back to its sender unless the channel joined with
        `self`, nor to a private channel whose token may not receive broadcasts), or a presence
        diff (to a channel with presence, held while its presence_state is being read)."""
        payload = event.payload
        name = payload.get("topic")
        if not isinstance(name, str) or engine_topic(name):  # never written (rooms.py); never sent
            return []
        channel = self.channels.get(PREFIX + name)
        if channel is None or not channel.hears(payload.get("private") is True):
            return []
        if event.type == "broadcast":
            if not channel.permissions.read_broadcast:
                return []
            if payload.get("sender") == self.id and not channel.self_broadcast:
                return []
            body = payload.get("payload")
            return [self._broadcast(channel.topic, str(payload.get("event")), body, event)]
        if event.type == "presence_diff" and channel.presence:
            if not channel.permissions.read_presence:
                return []
            if channel.held is not None:
                channel.held.append(event)
                return []
            return [self._presence_diff(channel.topic, event)]
        return []

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
                push(
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
                    push(
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
            self._drop(channel.topic)
        self.mailbox.follow(self.channels.values())
        frames = []
        for channel in channels:
            frames.append(
                push(
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
            frames.append({**push(channel.topic, "phx_close", {}), "join_ref": channel.join_ref})
        await self.send(*frames)
