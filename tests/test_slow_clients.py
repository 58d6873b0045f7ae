"""slow_clients.BoundedH11Protocol extends private parts of uvicorn's h11 protocol (STYLE.md,
Python rule 6): this fails as soon as any of the methods it extends or relies on changes, so that
whoever upgrades uvicorn re-reads slow_clients.py against the new code before updating a digest.
(tests/attack/test_abuse_slow_clients.py proves the behaviour against a running node.)"""

import asyncio
import hashlib
import inspect
from typing import Any

import pytest
from litestar.exceptions import HTTPException
from litestar.testing import RequestFactory
from litestar.types import HTTPReceiveMessage, Message
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

from wagerbase import slow_clients

# sha256 (first 16 hex digits) of the source of each method, in uvicorn 0.55.0
KNOWN = {
    (H11Protocol, "__init__"): "ad1ed8e837b2db8d",
    (H11Protocol, "connection_made"): "6efb565ff3d36b91",
    (H11Protocol, "data_received"): "e03b145518ca44aa",
    (H11Protocol, "connection_lost"): "dbb688fa2b386000",
    (H11Protocol, "handle_events"): "278f2d7efca279a3",
    (H11Protocol, "on_response_complete"): "1fbb8f48c6a1afc4",
    (H11Protocol, "handle_websocket_upgrade"): "7826127130587c35",
    # BodyDeadline relies on receive() waiting on an event it may be cancelled out of, and on
    # send() closing the connection after an answer that says `Connection: close`
    (RequestResponseCycle, "receive"): "2d138e9944fff369",
    (RequestResponseCycle, "send"): "76b4bcb0998bed0e",
}


@pytest.mark.parametrize(
    ("owner", "name"), list(KNOWN), ids=[f"{o.__name__}.{n}" for o, n in KNOWN]
)
def test_the_uvicorn_code_the_protocol_extends_is_the_one_it_was_written_for(
    owner: type, name: str
) -> None:
    source = inspect.getsource(getattr(owner, name))
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    assert digest == KNOWN[owner, name], (
        f"uvicorn's {owner.__name__}.{name} changed: check wagerbase/slow_clients.py against it"
    )


def test_every_hook_the_protocol_overrides_is_checked() -> None:
    overridden = {
        name
        for name, value in vars(slow_clients.BoundedH11Protocol).items()
        if (callable(value) and not name.startswith("_")) or name == "__init__"
    }
    assert overridden <= {name for owner, name in KNOWN if owner is H11Protocol}
    assert set(slow_clients.HOOKS) <= overridden


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
