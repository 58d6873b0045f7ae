"""A raw Phoenix client of `/realtime/v1/websocket` that frames as realtime-js does, in either of
Phoenix's JSON serializers, chosen by `vsn` at the upgrade: 1.0.0 (objects) or 2.0.0 (arrays
`[join_ref, ref, topic, event, payload]`). For the tests of the framings, the admin topic and the
view changes."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.live.realtime_fixtures import WAIT

VSNS = ["1.0.0", "2.0.0"]
Frame = dict[str, Any]


class Frames:
    """What both raw clients share (Wire here, raw_phoenix.Raw): the frames that arrive, a reply
    matched by its ref, and the pushes that came before it kept in order for `push`."""

    pushes: list[Frame]

    async def recv(self, timeout: float = WAIT) -> Frame:
        raise NotImplementedError

    async def reply(self, ref: str | None, topic: str | None = None) -> Frame:
        """The phx_reply to `ref` (on `topic`), keeping the pushes that came before it."""
        while True:
            frame = await self.recv()
            if (
                frame["event"] == "phx_reply"
                and frame["ref"] == ref
                and (topic is None or frame["topic"] == topic)
            ):
                return frame
            self.pushes.append(frame)

    async def push(self, matches: Callable[[Frame], bool]) -> Frame:
        """The first push, kept or still to come, that `matches`."""
        for index, frame in enumerate(self.pushes):
            if matches(frame):
                return self.pushes.pop(index)
        while True:
            frame = await self.recv()
            if matches(frame):
                return frame
            self.pushes.append(frame)


def join_config(bindings: list[Frame] | None) -> Frame:
    """A join's config as realtime-js sends it for a public channel, with `bindings` (its
    postgres_changes) when given."""
    config: Frame = {
        "broadcast": {"ack": False, "self": False},
        "presence": {"key": "", "enabled": False},
        "private": False,
    }
    if bindings is not None:
        config["postgres_changes"] = bindings
    return config


class Wire(Frames):
    """A raw Phoenix client that frames as realtime-js does under `vsn`: 1.0.0 sends
    `JSON.stringify({topic, event, payload, ref, join_ref})`, 2.0.0 sends
    `[join_ref, ref, topic, event, payload]`; what arrives is decoded likewise (and kept raw, to
    check its shape). Refs count from 1; a join's ref is its join_ref."""

    def __init__(self, ws: ClientConnection, vsn: str) -> None:
        self.ws = ws
        self.vsn = vsn
        self.ref = 0
        self.pushes: list[Frame] = []
        self.raw: list[str | bytes] = []

    def make_ref(self) -> str:
        self.ref += 1
        return str(self.ref)

    def encode(
        self, join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any
    ) -> str:
        if self.vsn == "2.0.0":
            return json.dumps([join_ref, ref, topic, event, payload])
        message = {"topic": topic, "event": event, "payload": payload, "ref": ref}
        if join_ref is not None:
            message["join_ref"] = join_ref
        return json.dumps(message)

    def decode(self, raw: str | bytes) -> Frame:
        assert isinstance(raw, str), "the server sends text frames only"
        value = json.loads(raw)
        if self.vsn == "2.0.0":
            assert isinstance(value, list) and len(value) == 5, raw
            join_ref, ref, topic, event, payload = value
            return {
                "join_ref": join_ref,
                "ref": ref,
                "topic": topic,
                "event": event,
                "payload": payload,
            }
        assert isinstance(value, dict), raw
        return {"join_ref": value.get("join_ref"), **value}

    async def recv(self, timeout: float = WAIT) -> Frame:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        self.raw.append(raw)
        return self.decode(raw)

    async def send(
        self, topic: str, event: str, payload: Any = None, join_ref: str | None = None
    ) -> str:
        ref = self.make_ref()
        await self.ws.send(self.encode(join_ref, ref, topic, event, payload or {}))
        return ref

    async def join(
        self, topic: str, token: str, bindings: list[Frame] | None = None
    ) -> tuple[str, Frame]:
        config = join_config(bindings)
        join_ref = str(self.ref + 1)
        payload = {"config": config, "access_token": token}
        ref = await self.send(topic, "phx_join", payload, join_ref=join_ref)
        assert ref == join_ref
        return join_ref, await self.reply(ref, topic)

    async def heartbeat(self) -> Frame:
        ref = self.make_ref()  # realtime-js: no join_ref, so null under 2.0.0
        await self.ws.send(self.encode(None, ref, "phoenix", "heartbeat", {}))
        return await self.reply(ref, "phoenix")


def ws_url(url: str, apikey: str, vsn: str | None) -> str:
    query = f"apikey={apikey}" + ("" if vsn is None else f"&vsn={vsn}")
    return url.replace("http://", "ws://") + f"/realtime/v1/websocket?{query}"


@asynccontextmanager
async def wire(url: str, apikey: str, vsn: str | None) -> AsyncIterator[Wire]:
    async with connect(ws_url(url, apikey, vsn), open_timeout=WAIT) as ws:
        yield Wire(ws, vsn or "1.0.0")


def assert_framing(client: Wire) -> None:
    """Everything the server sent was a text frame of the socket's framing."""
    for raw in client.raw:
        assert isinstance(raw, str)
        value = json.loads(raw)
        if client.vsn == "2.0.0":
            assert isinstance(value, list) and len(value) == 5
            assert isinstance(value[2], str) and isinstance(value[3], str)
        else:
            assert isinstance(value, dict) and {"topic", "event", "payload", "ref"} <= set(value)
