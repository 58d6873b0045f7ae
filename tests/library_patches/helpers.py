"""What the library-patch tests share: a digest of a library method's source, the smallest ASGI
app, uvicorn served in the test's own event loop, and what a server writes back to a raw
request."""

import asyncio
import hashlib
import inspect
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from tests.serving import free_port
from wagerbase import library_patches

WAIT = 30.0  # seconds to wait for what must come; never an assertion on speed


def digest(owner: type, name: str) -> str:
    """sha256 (first 16 hex digits) of the source of a library's method."""
    return hashlib.sha256(inspect.getsource(getattr(owner, name)).encode()).hexdigest()[:16]


async def ok(scope: Any, receive: Any, send: Any) -> None:
    """The smallest ASGI app: 200 to every request."""
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


@asynccontextmanager
async def serving(
    app: Any, http: type[asyncio.Protocol] | None = None
) -> AsyncIterator[tuple[uvicorn.Server, int]]:
    """uvicorn in this event loop, with `http` as its HTTP protocol (uvicorn's own by default)."""
    port = free_port()
    options: dict[str, Any] = {} if http is None else {"http": http}
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", **options
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        deadline = time.monotonic() + WAIT
        while not library_patches.server_started(server):
            assert not task.done() and time.monotonic() < deadline
            await asyncio.sleep(0.01)
        yield server, port
    finally:
        server.should_exit = True
        await task


async def answer(port: int, request: bytes, *, until: bytes | None = None) -> bytes:
    """What the server writes to a connection that sends `request` and nothing more: until it
    closes the connection, or until what came ends with `until` (a kept-alive connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        got = b""
        async with asyncio.timeout(WAIT):
            while chunk := await reader.read(65536):
                got += chunk
                if until is not None and got.endswith(until):
                    break
        return got
    finally:
        writer.close()
