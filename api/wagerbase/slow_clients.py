"""Deadlines for clients that send their request slowly, which uvicorn lacks.

uvicorn closes a keep-alive connection left idle after an answer (`timeout_keep_alive`, 5 s), but
never times out a request being received: a connection that sends part of its headers or of its
body and then stalls, or trickles a byte now and then, is held for ever (slowloris). Two guards,
with the same two settings (`WAGERBASE_HEADER_TIMEOUT`, 10 s, and `WAGERBASE_BODY_TIMEOUT`, 30 s;
docs/api.md, "Limits of a request"):

- `BoundedH11Protocol`, uvicorn's h11 protocol with deadlines on reading a request. The headers
  of a request must all arrive within the header timeout, counted from the connection's start or
  from the first byte of a next request on a kept-alive one; when they do not, the connection is
  answered 408 (if part of a request came; one that sent nothing is just closed, as uvicorn closes
  an idle kept-alive one) and closed. A body still arriving after its request was answered (one
  the app did not read) may take until the body timeout after its headers; then the connection
  is closed. It reaches uvicorn's private parts only through library_patches/uvicorn_h11.py
  (`ExtensibleH11Protocol`: the hooks it extends and the state it reads), which refuses to load
  when they are gone; tests/library_patches/test_uvicorn_h11.py fails when the methods extended
  change.
- `BodyDeadline`, ASGI middleware: the app's reads of a body must end within the body timeout
  after its headers arrived, or the read raises a 408 (Litestar's HTTPException, so each surface
  answers it in its own error body, PostgREST's PGRST102, GoTrue's, BetMarket's) with
  `Connection: close`, and uvicorn closes the connection once the answer is sent.

The head of a request (its request line and headers) is bounded too: at most MAX_HEAD_BYTES and
MAX_HEADERS, else it is answered 431 and the connection closed. (h11 refuses a head over 16 KB
only while it is incomplete: one that arrives whole in one read passed, however large.) One case
is left to h11 alone: a request pipelined right behind a body the app did not read is parsed in
the same step as that body's end, so its head is bounded only by h11 (16 KB while incomplete, one
read, at most 256 KB, when whole). Bodies are bounded by the app (`max_body_bytes`).
"""

import asyncio
import functools
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from wagerbase.library_patches import ExtensibleH11Protocol

log = logging.getLogger("wagerbase.http")

DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
DEFAULT_BODY_TIMEOUT_SECONDS = 30.0
MAX_HEAD_BYTES = 16 * 1024  # h11's limit for an incomplete head, applied to whole ones as well
MAX_HEADERS = 100
_END_OF_HEAD = re.compile(rb"\r?\n\r?\n")  # h11 takes a bare \n for a line's end, too


class BoundedH11Protocol(ExtensibleH11Protocol):
    """uvicorn's h11 protocol with bounded request heads, a header deadline and a deadline for
    unread bodies."""

    header_timeout: ClassVar[float] = DEFAULT_HEADER_TIMEOUT_SECONDS
    body_timeout: ClassVar[float] = DEFAULT_BODY_TIMEOUT_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: str | None = None  # "headers" or "body", while a deadline runs
        self._cycle_seen: object = None
        self._body_due = 0.0  # loop time by which the current request's body must be in

    # uvicorn's hooks (library_patches.ExtensibleH11Protocol), each extended with a look at the
    # deadlines

    def after_connection_made(self) -> None:
        self._watch()

    def after_data_received(self) -> None:
        self._watch()

    def takes_events(self) -> bool:
        # called with new bytes in h11's buffer (from data_received, and for a request sent
        # before the previous one was answered, from on_response_complete)
        conn = self.h11_connection
        if conn.their_state is h11.IDLE and not head_fits(conn.trailing_data[0]):
            self._cancel()
            self.raw_transport.write(
                plain_answer(
                    431,
                    "Request Header Fields Too Large",
                    f"a request's head may hold at most {MAX_HEAD_BYTES} bytes and "
                    f"{MAX_HEADERS} headers",
                )
            )
            self.raw_transport.close()
            return False
        return True

    def after_response_complete(self) -> None:
        self._watch()

    def before_websocket_upgrade(self) -> None:
        self._cancel()  # the WebSocket protocol takes the connection over

    def before_connection_lost(self) -> None:
        self._cancel()

    # the deadlines

    def _watch(self) -> None:
        """Start, keep or stop the deadline for what the connection is waiting for now."""
        transport = self.raw_transport
        if transport.is_closing() or transport.get_protocol() is not self:
            self._cancel()
            return
        cycle = self.current_cycle
        if cycle is not self._cycle_seen:  # the headers of a new request are in
            self._cycle_seen = cycle
            self._body_due = self.event_loop.time() + self.body_timeout
        state = self.h11_connection.their_state
        if state is h11.IDLE and not self.keep_alive_timer_runs:
            self._arm("headers", self.header_timeout)
        elif state is h11.SEND_BODY and self.answer_sent:
            self._arm("body", max(0.0, self._body_due - self.event_loop.time()))
        else:
            # idle after an answer (uvicorn's keep-alive timer runs), the request fully in, or
            # the app reading its body (BodyDeadline bounds that)
            self._cancel()

    def _arm(self, waiting_for: str, seconds: float) -> None:
        if self._waiting_for == waiting_for:
            return  # a deadline runs from its start, however the bytes trickle in
        self._cancel()
        self._waiting_for = waiting_for
        self._deadline = self.event_loop.call_later(seconds, self._expired)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._waiting_for = None, None

    def _expired(self) -> None:
        waiting_for, self._deadline, self._waiting_for = self._waiting_for, None, None
        if self.raw_transport.is_closing():
            return
        answered = waiting_for == "headers" and bool(self.h11_connection.trailing_data[0])
        if answered:
            seconds = f"{self.header_timeout:g}"
            self.raw_transport.write(
                plain_answer(408, "Request Timeout", f"the request's headers took over {seconds} s")
            )
        log.info(
            json.dumps(
                {"event": "request_timeout", "waiting_for": waiting_for, "answered": answered}
            )
        )
        self.raw_transport.close()


def head_fits(received: bytes) -> bool:
    """Whether the head at the start of `received` (whole, or what came of it so far) is within
    MAX_HEAD_BYTES and MAX_HEADERS."""
    end = _END_OF_HEAD.search(received)
    head = received if end is None else received[: end.end()]
    # lines: the request line, the headers, the empty line that ends them
    return len(head) <= MAX_HEAD_BYTES and head.count(b"\n") <= MAX_HEADERS + 2


def plain_answer(status: int, phrase: str, reason: str) -> bytes:
    """A whole answer in plain text, written straight to the socket, that closes the
    connection (for a request the app never saw)."""
    body = f"{phrase}: {reason}\n".encode()
    return (
        f"HTTP/1.1 {status} {phrase}\r\n".encode()
        + b"content-type: text/plain; charset=utf-8\r\n"
        + b"x-content-type-options: nosniff\r\n"
        + b"connection: close\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )


@functools.cache
def protocol(header_timeout: float, body_timeout: float) -> type[BoundedH11Protocol]:
    """The protocol class to give uvicorn (`http=`), with these deadlines in seconds."""
    return type(
        "BoundedH11Protocol",
        (BoundedH11Protocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout},
    )


@dataclass(frozen=True)
class Protocol:
    """What server.py gives uvicorn as `http=`: it makes the connections of `protocol`'s class
    with these deadlines, and, unlike a class made at run time, can be pickled, which uvicorn's
    worker processes need (they are spawned, and sent their configuration)."""

    header_timeout: float
    body_timeout: float

    def __call__(self, **kwargs: Any) -> BoundedH11Protocol:
        return protocol(self.header_timeout, self.body_timeout)(**kwargs)


class BodyDeadline:
    """ASGI middleware: an HTTP request's body must all be read within `seconds` of the request's
    start, else the read raises a 408 that closes the connection. Once the body is in, receiving
    (which then waits for the client to go away) is no longer bounded."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        due = asyncio.get_running_loop().time() + self.seconds
        body_in = False

        async def receive_in_time() -> ReceiveMessage:
            nonlocal body_in
            if body_in:
                return await receive()
            try:
                async with asyncio.timeout_at(due):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(
                    status_code=408,
                    detail=f"Request Timeout: the request's body took over {self.seconds:g} s",
                    headers={"Connection": "close"},
                ) from None
            body_in = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, receive_in_time, send)
