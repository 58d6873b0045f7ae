"""slow_clients.BodyDeadline bounds the reading of a request's body, and only that.
(tests/attack/test_abuse_slow_clients.py proves the deadlines against a running node; what
BoundedH11Protocol relies on in uvicorn is checked by tests/library_patches/test_uvicorn_h11.py.)"""

import asyncio
from typing import Any

from litestar.exceptions import HTTPException
from litestar.testing import RequestFactory
from litestar.types import HTTPReceiveMessage, Message

from wagerbase import slow_clients


def test_the_body_deadline_bounds_the_body_only() -> None:
    """A body that arrives in time is read, and waiting for the client to go away afterwards (as
    a read that ends with its client does) is not cut by the deadline; a body that does not
    arrive in time is a 408 that closes the connection."""

    async def run(body_arrives: bool) -> list[str]:
        seen: list[str] = []
        gone = asyncio.Event()

        async def client() -> HTTPReceiveMessage:
            if not seen:  # the body, at once or never
                if not body_arrives:
                    await asyncio.Event().wait()
                return {"type": "http.request", "body": b"{}", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def app(scope: Any, receive: Any, send: Any) -> None:
            try:
                seen.append((await receive())["type"])
            except HTTPException as exc:
                seen.append(f"{exc.status_code} {exc.headers}")
                return
            waiting = asyncio.ensure_future(receive())
            await asyncio.sleep(0.3)  # past the deadline, the client still there
            seen.append("still waiting" if not waiting.done() else "cut")
            gone.set()
            seen.append((await waiting)["type"])

        async def send(message: Message) -> None:
            raise AssertionError(f"the app sends nothing, yet sent {message}")

        scope = RequestFactory().get("/").scope  # an HTTP request's scope
        await slow_clients.BodyDeadline(app, seconds=0.1)(scope, client, send)
        return seen

    assert asyncio.run(run(True)) == ["http.request", "still waiting", "http.disconnect"]
    assert asyncio.run(run(False)) == ["408 {'Connection': 'close'}"]
