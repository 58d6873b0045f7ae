"""One keep-alive HTTP/1.1 connection written by hand on asyncio, for the load generator
(bench/loadgen.py): `HttpConnection` writes prepared bytes and reads a status line, the headers
and a Content-Length body, a few microseconds of Python per request where a general client such
as httpx spends hundreds."""

from __future__ import annotations

import asyncio


class ProtocolError(Exception):
    """An answer this client cannot read (no Content-Length, a malformed status line)."""


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: `exchange(request)` writes a whole request and returns
    a future of its answer, (status, body). One request at a time; an answer must have a
    Content-Length (every answer of the API has one)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost = False
        self.closing = False  # the server said `Connection: close`
        self._status = 0
        self._body_at = -1  # where the body starts in the buffer, once the head is read
        self._end = -1  # where the answer ends

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def exchange(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None and self.waiter is None
        waiter = asyncio.get_running_loop().create_future()
        if self.lost or self.closing or self.transport.is_closing():
            waiter.set_exception(ConnectionResetError("the connection was closed"))
            return waiter
        self.waiter = waiter
        self.transport.write(request)
        return waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self._body_at < 0:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            try:
                self._read_head(bytes(self.buffer[:head_end]).lower(), head_end + 4)
            except (ProtocolError, ValueError) as exc:
                self._fail(ProtocolError(f"{exc}: {bytes(self.buffer[:200])!r}"))
                return
        if len(self.buffer) < self._end:
            return
        body = bytes(self.buffer[self._body_at : self._end])
        del self.buffer[: self._end]
        self._body_at = self._end = -1
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self._status, body))

    def _read_head(self, head: bytes, body_at: int) -> None:
        if not head.startswith(b"http/1.1 "):
            raise ProtocolError("not an HTTP/1.1 status line")
        self._status = int(head[9:12])
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            raise ProtocolError("an answer without Content-Length")
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        self.closing = b"\r\nconnection: close" in head
        self._body_at, self._end = body_at, body_at + length

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(ConnectionResetError(f"the server closed the connection ({exc})"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(host: str, port: int) -> HttpConnection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(HttpConnection, host, port)
    return protocol
