"""uvicorn's server and worker supervisor (6.): how server.py serves with workers, tells a server
that never started, and hands uvicorn a protocol factory. The package's docstring says what every
reliance is and how it is checked."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import cast

import uvicorn
from uvicorn.config import STARTUP_FAILURE as STARTUP_FAILURE  # re-exported: server.py reads it
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from wagerbase.library_patches.guards import init_sets

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
        not init_sets(server, ("started",))
        or list(inspect.signature(supervisor).parameters) != ["config", "sockets"]
        or not init_sets(supervisor, ("processes",))
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
