"""uvicorn serving (library_patches, section 6): each connection's protocol is made with the
factory given as `http`, a server says whether it started, and workers that fail to start stop
the supervisor, which says so; the guard refuses a uvicorn that changed."""

import asyncio
import inspect
import signal
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess, multiprocess
from uvicorn.supervisors.multiprocess import Process

from tests.library_patches.helpers import answer, ok, serving
from tests.serving import free_port
from wagerbase import library_patches
from wagerbase.library_patches import STARTUP_FAILURE

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
        # a worker still starting when the supervisor pings it answers only after it has failed
        # and gone, so the ping waits for this long (it was 60 s: the test's longest wait); one
        # that is killed as hung instead is started again, and fails to start in its turn
        timeout_worker_healthcheck=10,
    )
    try:
        assert library_patches.supervise_workers(config) is True
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
