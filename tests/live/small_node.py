"""The realtime route alone, served in-process by uvicorn with a hub the test publishes into: a
node without a database (or with one, when given), whose limits a test may shorten."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from litestar import Litestar
from litestar.datastructures import State

from tests.serving import free_port, new_secret
from wagerbase.database import Database
from wagerbase.live.hub import Hub
from wagerbase.surfaces.realtime import socket as realtime
from wagerbase.tokens import Tokens


@dataclass
class Small:
    url: str
    hub: Hub
    tokens: Tokens
    db: Database

    @property
    def anon_key(self) -> str:
        return self.tokens.role_key("anon")


@asynccontextmanager
async def small_node(
    database_url: str | None = None, secret: str | None = None
) -> AsyncIterator[Small]:
    """The realtime route alone, served by uvicorn in this event loop. Its hub is never started
    (the test publishes into it); its pool is opened only when given a database (joins without
    bindings need none)."""
    tokens = Tokens(secret or new_secret())
    hub = Hub("postgresql://unused")
    db = Database(database_url or "postgresql://unused", min_size=1)
    if database_url:
        await db.open()
    app = Litestar(
        route_handlers=[realtime.realtime_socket],
        state=State({"db": db, "tokens": tokens, "hub": hub}),
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield Small(f"http://127.0.0.1:{port}", hub, tokens, db)
    finally:
        server.should_exit = True
        await task
        if database_url:
            await db.close()
