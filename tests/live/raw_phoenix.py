"""A raw Phoenix client of `/realtime/v1/websocket` (serializer 1.0.0) for the tests of its frames,
joins and limits: numbered refs, replies matched by ref, pushes kept in order."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.live.phoenix import Frames, join_config
from tests.live.realtime_fixtures import WAIT


class Raw(Frames):
    """A raw Phoenix client: numbered refs, replies matched by ref, pushes kept in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ref = 0
        self.pushes: list[dict[str, Any]] = []

    async def recv(self, timeout: float = WAIT) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        assert isinstance(frame, dict)
        return frame

    async def send(self, topic: str, event: str, payload: Any = None, **extra: Any) -> str:
        self.ref += 1
        ref = str(self.ref)
        frame = {"topic": topic, "event": event, "payload": payload or {}, "ref": ref, **extra}
        await self.ws.send(json.dumps(frame))
        return ref

    async def join(
        self, topic: str, token: str, bindings: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        config = join_config(bindings)
        ref = await self.send(
            topic, "phx_join", {"config": config, "access_token": token}, join_ref=str(self.ref + 1)
        )
        return await self.reply(ref, topic)


@asynccontextmanager
async def raw(url: str, apikey: str) -> AsyncIterator[Raw]:
    ws_url = url.replace("http://", "ws://") + f"/realtime/v1/websocket?apikey={apikey}&vsn=1.0.0"
    async with connect(ws_url, open_timeout=WAIT) as ws:
        yield Raw(ws)
