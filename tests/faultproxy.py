"""A fault-injecting TCP proxy between API nodes and PostgreSQL, for the failover tests.

It speaks just enough of the PostgreSQL wire protocol to see each statement a client sends and
each message the server answers with, and to act on the COMMIT of one chosen transaction:

- `sever_after_commit`: the COMMIT reaches the server and commits, but the client's connection is
  closed before any answer, so it never hears (the proxy reads the server's answer itself and
  sets `Fault.committed`);
- `sever_before_commit`: both connections are closed instead of forwarding the COMMIT, so the
  transaction rolls back;
- `hold_commit`: the COMMIT waits in the proxy until `release()`; then it goes on as usual.

A COMMIT is seen whether it comes as a simple query or, from a connection in pipeline mode, as an
extended-protocol Bind of a parsed `COMMIT`: then the fault acts on everything from that Bind up
to the Sync that ends it.

A fault is armed for the first COMMIT of a transaction that sent a statement containing `marker`
(say b"place_wager"), so the node's other traffic (scheduler, hub, reads) passes untouched. With
`then_down`, the proxy goes down the moment the fault fires (as a primary that crashed): every
other connection is cut and new ones are refused until `up()`; `then` runs right after (say, to
promote another proxy that played the standby).

It also counts CancelRequest packets (startup code 80877102), which it forwards, records each
statement executed (to count how many times a call was issued), the application_name of every
session that ran one, and, with `standby = True`, tells clients it is a hot standby (it rewrites
the in_hot_standby and default_transaction_read_only parameters to `on`), so that libpq with
`target_session_attrs=read-write` passes it by. SSL and GSS encryption requests are answered `N`.
"""

import asyncio
import contextlib
import struct
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from psycopg.conninfo import conninfo_to_dict, make_conninfo

T = TypeVar("T")
FaultKind = Literal["sever_after_commit", "sever_before_commit", "hold_commit"]

CANCEL_REQUEST = 80877102
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
COMMITS = frozenset({b"COMMIT", b"END", b"COMMIT TRANSACTION", b"COMMIT WORK"})
ENDS = frozenset({b"ROLLBACK", b"ABORT"})
STANDBY_PARAMETERS = frozenset({b"in_hot_standby", b"default_transaction_read_only"})


@dataclass
class Fault:
    """One armed fault; its events tell the test how far it got."""

    kind: FaultKind
    marker: bytes
    then_down: bool = False
    then: Callable[[], None] | None = None  # run once the fault fired (say, promote a standby)
    fired: threading.Event = field(default_factory=threading.Event)  # the COMMIT was caught
    committed: threading.Event = field(default_factory=threading.Event)  # the server answered it
    _release: asyncio.Event | None = None


@dataclass(eq=False)
class _Session:
    client_reader: asyncio.StreamReader
    client_writer: asyncio.StreamWriter
    server_reader: asyncio.StreamReader | None = None
    server_writer: asyncio.StreamWriter | None = None
    application_name: str = ""
    used: bool = False
    marked: Fault | None = None  # the armed fault whose marker the open transaction sent
    swallow: bool = False  # the server's answers are not passed on (the client was cut off)
    awaiting: Fault | None = None  # a forwarded COMMIT whose answer a fault waits for
    prepared: dict[bytes, bytes] = field(default_factory=dict)

    def abort(self, *, server: bool = True) -> None:
        self.client_writer.transport.abort()
        if server and self.server_writer is not None:
            self.server_writer.transport.abort()


class FaultProxy:
    """A proxy on 127.0.0.1 (a free port) in front of `upstream`'s host and port."""

    def __init__(self, upstream: str) -> None:
        params = conninfo_to_dict(upstream)
        self.upstream_host = str(params.get("host") or "127.0.0.1")
        self.upstream_port = int(params.get("port") or 5432)
        self.port = 0
        self.standby = False
        self.cancel_requests = 0
        self.statements: list[tuple[str, bytes]] = []  # (application_name, text) executed
        self._faults: list[Fault] = []
        self._down = False
        self._sessions: set[_Session] = set()
        self._used_by: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    # --- control, from the test's thread ------------------------------------------------------

    def start(self) -> "FaultProxy":
        self._thread.start()
        self._server = self._call(self._listen())
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._server = None

    def url(self, database_url: str) -> str:
        """`database_url` going through this proxy (a key=value connection string)."""
        return make_conninfo(database_url, host="127.0.0.1", port=str(self.port))

    def arm(
        self,
        kind: FaultKind,
        marker: bytes,
        *,
        then_down: bool = False,
        then: Callable[[], None] | None = None,
    ) -> Fault:
        fault = Fault(kind, marker.lower(), then_down, then)

        async def add() -> None:
            fault._release = asyncio.Event()
            self._faults.append(fault)

        self._call(add())
        return fault

    def release(self, fault: Fault) -> None:
        """Let a held COMMIT go on to the server."""
        assert fault._release is not None
        self._loop.call_soon_threadsafe(fault._release.set)

    def down(self) -> None:
        """Cut every connection (as a crashed server would) and refuse new ones."""
        self._loop.call_soon_threadsafe(self._go_down)

    def up(self) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "_down", False)

    def executions(self, marker: bytes) -> int:
        """How many statements containing `marker` reached the server."""
        return sum(marker.lower() in text.lower() for _, text in list(self.statements))

    def sessions_used(self) -> list[str]:
        """The application_name of every session that ran a statement through the proxy."""
        return list(self._used_by)

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    # --- the proxy, in its own thread ---------------------------------------------------------

    async def _listen(self) -> asyncio.Server:
        server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for session in list(self._sessions):
            session.abort()

    def _go_down(self) -> None:
        self._down = True
        for session in list(self._sessions):
            # a COMMIT whose answer a fault waits for still gets it: it committed
            session.abort(server=session.awaiting is None)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._down:
            writer.transport.abort()
            return
        session = _Session(reader, writer)
        self._sessions.add(session)
        try:
            startup = await self._startup(session)
            if startup is None:
                return
            session.server_reader, session.server_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
            session.server_writer.write(startup)
            await asyncio.gather(self._client_to_server(session), self._server_to_client(session))
        except (OSError, asyncio.IncompleteReadError):
            session.abort()
        finally:
            self._sessions.discard(session)
            writer.close()
            if session.server_writer is not None:
                session.server_writer.close()

    async def _startup(self, session: _Session) -> bytes | None:
        """The StartupMessage to forward; None for a CancelRequest (counted, forwarded)."""
        while True:
            head = await session.client_reader.readexactly(8)
            length, code = struct.unpack("!ii", head)
            rest = await session.client_reader.readexactly(length - 8)
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                session.client_writer.write(b"N")
                await session.client_writer.drain()
                continue
            if code == CANCEL_REQUEST:
                self.cancel_requests += 1
                _, upstream = await asyncio.open_connection(self.upstream_host, self.upstream_port)
                upstream.write(head + rest)
                await upstream.drain()
                upstream.close()
                return None
            fields = rest.split(b"\0")
            params = dict(zip(fields[0::2], fields[1::2], strict=False))
            session.application_name = params.get(b"application_name", b"").decode()
            return head + rest

    async def _client_to_server(self, session: _Session) -> None:
        reader = session.client_reader
        assert session.server_writer is not None
        server = session.server_writer
        while True:
            try:
                head = await reader.readexactly(5)
            except (asyncio.IncompleteReadError, OSError):
                if not session.swallow:
                    with contextlib.suppress(OSError):
                        server.write_eof()
                return
            kind, length = head[:1], struct.unpack("!i", head[1:])[0]
            body = await reader.readexactly(length - 4)
            message = head + body
            text = self._statement(session, kind, body)
            if text is not None:
                self._note(session, text)
            command = body[:-1].strip().upper() if kind == b"Q" else b""
            if kind == b"B" and text is not None and text.strip().upper() in COMMITS:
                # a pipelined COMMIT: its Bind, Execute and whatever else up to the Sync
                command = text.strip().upper()
                message += await self._until_sync(reader)
            if command in COMMITS:
                marked, session.marked = session.marked, None
                fault = self._fault_for(marked)
                if fault is not None:
                    await self._commit_with(fault, session, message)
                    if fault.kind != "hold_commit":
                        return
                    continue
            elif command in ENDS:
                session.marked = None
            server.write(message)
            await server.drain()

    @staticmethod
    async def _until_sync(reader: asyncio.StreamReader) -> bytes:
        """The client's messages up to and including the next Sync."""
        messages = b""
        while True:
            head = await reader.readexactly(5)
            body = await reader.readexactly(struct.unpack("!i", head[1:])[0] - 4)
            messages += head + body
            if head[:1] == b"S":
                return messages

    def _statement(self, session: _Session, kind: bytes, body: bytes) -> bytes | None:
        """The text of the statement a message executes (Q, or B of a parsed statement)."""
        if kind == b"Q":
            return body[:-1]
        if kind == b"P":
            name, query, _ = body.split(b"\0", 2)
            session.prepared[name] = query
        elif kind == b"B":
            _, name, _ = body.split(b"\0", 2)
            return session.prepared.get(name, b"")
        return None

    def _note(self, session: _Session, text: bytes) -> None:
        if not session.used:
            session.used = True
            self._used_by.append(session.application_name)
        self.statements.append((session.application_name, text))
        lowered = text.lower()
        for fault in self._faults:
            if session.marked is None and fault.marker in lowered:
                session.marked = fault

    def _fault_for(self, marked: Fault | None) -> Fault | None:
        """The fault to apply to this COMMIT (once: it is disarmed)."""
        if marked is None or marked not in self._faults:
            return None
        self._faults.remove(marked)
        return marked

    async def _commit_with(self, fault: Fault, session: _Session, commit: bytes) -> None:
        assert session.server_writer is not None
        if fault.kind == "hold_commit":
            fault.fired.set()
            assert fault._release is not None
            await fault._release.wait()
        if fault.kind != "sever_before_commit":
            session.awaiting = fault
            session.swallow = fault.kind == "sever_after_commit"
            session.server_writer.write(commit)
            await session.server_writer.drain()
        # the world changes (down, a standby promoted) before the client can notice anything
        if fault.then_down:
            self._go_down()
        if fault.then is not None:
            fault.then()
        if fault.kind == "sever_before_commit":
            session.abort()
        elif fault.kind == "sever_after_commit":
            session.client_writer.transport.abort()
        fault.fired.set()

    async def _server_to_client(self, session: _Session) -> None:
        assert session.server_reader is not None and session.server_writer is not None
        reader, client = session.server_reader, session.client_writer
        while True:
            try:
                head = await reader.readexactly(5)
                kind, length = head[:1], struct.unpack("!i", head[1:])[0]
                body = await reader.readexactly(length - 4)
            except (asyncio.IncompleteReadError, OSError):
                client.transport.abort()
                return
            if kind == b"S" and self.standby:
                name = body.split(b"\0", 1)[0]
                if name in STANDBY_PARAMETERS:
                    body = name + b"\0on\0"
                    head = kind + struct.pack("!i", len(body) + 4)
            if kind == b"Z" and session.awaiting is not None:
                session.awaiting.committed.set()
                session.awaiting = None
                if session.swallow:
                    session.server_writer.close()
                    return
            if not session.swallow and not client.is_closing():
                client.write(head + body)
                with contextlib.suppress(OSError):
                    await client.drain()


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll `condition` until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)
