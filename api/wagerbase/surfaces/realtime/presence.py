"""Presence on a Realtime channel, as the socket shows it: the channel's `presence_state` when it
joins with presence (or tracks, or the hub resyncs), then a `presence_diff` for each change, in
Phoenix's shapes (`{key: {metas: [{phx_ref, ...}]}}`; `{joins, leaves}`).

The state is read from the database (every node's presences: rooms.py) after the channel already
asks the hub for its diffs; the diffs that arrive while the state is being read are held on the
channel and sent right after it, in order. A diff that the state already shows changes nothing on
the client (a join of a presence it has replaces it; a leave of one it does not have is nothing),
so the client ends with every change, none twice in effect, and none before the state.
"""

import logging

import psycopg

from wagerbase.errors import ApiError
from wagerbase.live.hub import Event
from wagerbase.surfaces.realtime.channels import Channel
from wagerbase.surfaces.realtime.connection import Connection
from wagerbase.surfaces.realtime.frames import Encoded, Frame, push

log = logging.getLogger("wagerbase.realtime")


class Presence(Connection):
    """A socket's presence_state and presence_diff frames."""

    def _sync_presence(self, channel: Channel) -> None:
        """Send the channel its presence_state (read now), then what changed meanwhile. Nothing
        for a channel without presence, or whose token may not see presences (private)."""
        if not channel.presence or not channel.permissions.read_presence:
            return
        if channel.held is None:
            channel.held = []
        self.rooms.beating()
        self.spawn(self._send_presence_state(channel))

    async def _send_presence_state(self, channel: Channel) -> None:
        frames: list[Frame] = []
        try:
            state = await self.rooms.state(channel.name, channel.private)
            frames.append(push(channel.topic, "presence_state", state))
        except (psycopg.Error, ApiError) as exc:
            log.warning("realtime: cannot read the presences of %s: %s", channel.name, exc)
            frames.append(
                push(
                    channel.topic,
                    "system",
                    {
                        "channel": channel.name,
                        "extension": "presence",
                        "message": "the channel's presences could not be read; join it again",
                        "status": "error",
                    },
                )
            )
        async with self._send_lock:
            if self.channels.get(channel.topic) is not channel:
                return  # left or joined again meanwhile: that join reads its own
            held, channel.held = channel.held or [], None
            frames += [self._presence_diff(channel.topic, event) for event in held]
            await self._send_locked(*frames)

    def _presence_diff(self, topic: str, event: Event) -> Encoded:
        """The presence_diff of `event` on `topic`, encoded once per message, topic and
        serializer for every socket of the node."""
        key = ("presence_diff", self.serializer.vsn, topic)
        text = event.frames.get(key)
        if text is None:
            diff = {"joins": event.payload.get("joins"), "leaves": event.payload.get("leaves")}
            text = event.frames[key] = self.serializer.encode(push(topic, "presence_diff", diff))
        return Encoded(topic, text)
