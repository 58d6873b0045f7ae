"""uvicorn's h11 protocol (library_patches, section 3): the code ExtensibleH11Protocol extends is
the code it was written for, every hook it overrides is checked, the guard refuses a protocol that
changed, and uvicorn calls each extension point (deadlines on a request being received)."""

import asyncio
import time

import pytest
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

from tests.library_patches.helpers import WAIT, answer, digest, ok, serving
from wagerbase import library_patches, slow_clients
from wagerbase.library_patches import H11_HOOKS, ExtensibleH11Protocol

# ---- 3. uvicorn: deadlines on a request being received ---------------------------------------

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
    assert digest(owner, name) == KNOWN[owner, name], (
        f"uvicorn's {owner.__name__}.{name} changed: check wagerbase/library_patches/ "
        "(ExtensibleH11Protocol) and slow_clients.py against it"
    )


def test_every_hook_the_protocol_overrides_is_checked() -> None:
    def overridden(cls: type) -> set[str]:
        return {
            name
            for name, value in vars(cls).items()
            if callable(value) and hasattr(H11Protocol, name)
        }

    known = {name for owner, name in KNOWN if owner is H11Protocol}
    # every uvicorn method extended is one whose source is checked above
    assert overridden(ExtensibleH11Protocol) <= known
    assert set(H11_HOOKS) <= overridden(ExtensibleH11Protocol)
    # and BoundedH11Protocol extends uvicorn only through ExtensibleH11Protocol
    assert overridden(slow_clients.BoundedH11Protocol) == {"__init__"}


def test_the_h11_guard_refuses_a_protocol_that_changed() -> None:
    library_patches.require_h11_protocol_internals()  # the installed one

    class NoKeepAliveTimer:
        def __init__(self) -> None:
            self.conn = self.transport = self.loop = self.cycle = None

    for hook in H11_HOOKS:
        setattr(NoKeepAliveTimer, hook, lambda self: None)

    class LostAHook(H11Protocol):
        handle_events = None  # type: ignore[assignment]

    class NoResponseComplete:
        def __init__(self) -> None:
            self.response_started = False

    for protocol, cycle in [
        (NoKeepAliveTimer, RequestResponseCycle),
        (LostAHook, RequestResponseCycle),
        (H11Protocol, NoResponseComplete),
    ]:
        with pytest.raises(ImportError, match="timeout_keep_alive_task and the hooks"):
            library_patches.require_h11_protocol_internals(protocol, cycle)


def test_uvicorn_calls_each_extension_point_of_the_h11_protocol() -> None:
    """Through uvicorn's own server: a whole request is served (uvicorn still handles the
    events), half-sent headers are answered 408 at the header deadline (armed from the hooks
    of a new connection and of bytes received), and a head over the limits sent whole is
    answered 431 (refused in handle_events, before uvicorn parses it)."""

    async def scenario() -> list[bytes]:
        protocol = slow_clients.Protocol(header_timeout=0.3, body_timeout=5.0)
        async with serving(ok, library_patches.as_http_protocol(protocol)) as (_, port):
            started = time.monotonic()
            half_sent = await answer(port, b"GET / HTTP/1.1\r\nHost: test\r\n")
            assert time.monotonic() - started < WAIT
            headers = b"".join(b"X-%d: y\r\n" % n for n in range(slow_clients.MAX_HEADERS + 1))
            return [
                await answer(port, b"GET / HTTP/1.1\r\nHost: test\r\n\r\n", until=b"ok"),
                half_sent,
                await answer(port, b"GET / HTTP/1.1\r\nHost: test\r\n" + headers + b"\r\n"),
            ]

    whole, half_sent, too_many = asyncio.run(scenario())
    assert whole.startswith(b"HTTP/1.1 200 ") and whole.endswith(b"ok")
    assert half_sent.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert too_many.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
