"""`wagerbase serve`: migrate (as DATABASE_URL's role), make sure the API's own login works
(authenticator.py), then serve the API with uvicorn, connected as that login, until
interrupted.

A node runs `workers` processes (`--workers N`, WAGERBASE_WORKERS, default the number of CPUs),
each with its own event loop, app (app.create_app): its pool, live-update hub, scheduler and
side-effect worker, all safe to run many times at once (the hub of each hears every message; the
scheduler's rounds take an advisory lock; side-effect jobs are taken `for update skip locked`).
They are uvicorn's workers: this process migrates and checks the login once, binds the listening
socket, and starts the workers (spawned, so that each gets a fresh interpreter with no borrowed
state), which all accept connections from that one socket; the kernel hands each new connection
to whichever worker accepts it first. This process then only watches: it replaces a worker that
dies, and on SIGTERM or SIGINT stops them all (each drains its money calls, app.py), and only then
stops the embedded PostgreSQL it started. A worker whose parent died stops by itself
(`Worker._watch_parent`), so that no worker outlives its node. Each worker holds its share of the
node's limits (limits.Limits.shared_by, hashing.for_worker): docs/operations.md, "Workers".

With one worker the node is this one process, as it always was: no parent, no spawned worker.

uvicorn speaks HTTP/1.1 through h11 with slow_clients.BoundedH11Protocol, which bounds a
request's head (16 KB, 100 headers) and times out a request whose headers
(WAGERBASE_HEADER_TIMEOUT) or unread body (WAGERBASE_BODY_TIMEOUT) do not arrive (docs/api.md,
"Limits of a request")."""

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn
from litestar import Litestar

from wagerbase import settings, slow_clients
from wagerbase.app import Config, create_app
from wagerbase.authenticator import ensure_login
from wagerbase.conninfo import redact
from wagerbase.library_patches import (
    STARTUP_FAILURE,
    as_http_protocol,
    server_started,
    supervise_workers,
)
from wagerbase.operations.migrate import migrate
from wagerbase.tokens import Tokens

log = logging.getLogger("wagerbase")

PARENT_CHECK_SECONDS = 1.0  # how often a worker checks that its node's process is still there
# how long a worker may leave the supervisor's ping unanswered before it is taken for hung, killed
# and replaced: a worker answers from a thread of its own once it has imported the API, which
# takes seconds on a busy machine (uvicorn's default is 5)
WORKER_HEALTHCHECK_SECONDS = 30


def keys(secret: str) -> dict[str, str]:
    """The anon and service keys for this secret (long-lived JWTs that carry only a role)."""
    tokens = Tokens(secret)
    return {"anon": tokens.role_key("anon"), "service_role": tokens.role_key("service_role")}


def log_as_the_node() -> None:
    """In a worker, the node's log levels (cli.main and serve set them in the node's process):
    wagerbase's messages and the request log at INFO. The app's logging configuration (app.py)
    writes them."""
    log.setLevel(logging.INFO)
    logging.getLogger("wagerbase.http").setLevel(logging.INFO)


@dataclass(frozen=True)
class Worker:
    """The app factory each worker process calls (uvicorn's `factory`): picklable, since uvicorn
    spawns its workers and sends them their configuration. `parent` is the node's process."""

    config: Config
    parent: int

    def __call__(self) -> Litestar:
        log_as_the_node()
        threading.Thread(target=self._watch_parent, name="wagerbase-parent", daemon=True).start()
        return create_app(self.config)

    def _watch_parent(self) -> None:
        """Stop this worker (as SIGTERM does: it drains, app.py) once its node's process is
        gone; the worker is then a child of another process."""
        while os.getppid() == self.parent:
            time.sleep(PARENT_CHECK_SECONDS)
        log.warning("the node's process %s is gone: stopping this worker", self.parent)
        os.kill(os.getpid(), signal.SIGTERM)


def _uvicorn(app: Any, host: str, port: int, workers: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        # a callable that makes the protocol, as uvicorn uses its `http` (a class, by its types)
        http=as_http_protocol(
            slow_clients.Protocol(settings.header_timeout(), settings.body_timeout())
        ),
        ws_per_message_deflate=settings.ws_compression(),
        log_level="warning",
        timeout_graceful_shutdown=10,
        lifespan="on",
        workers=workers,
        factory=workers > 1,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )


def serve(host: str, port: int, workers: int | None = None) -> int:
    workers = workers or settings.workers()
    url = settings.database_url()
    embedded = settings.external_database_url() is None
    log.info("database %s", redact(url))
    print(migrate(url).summary(), file=sys.stderr)
    secret = settings.jwt_secret()
    login = settings.api_login(url, secret)
    ensure_login(url, login)
    log.info("the API connects as %s", redact(login.url))
    server = settings.embedded_server()

    def stop_embedded() -> None:
        if embedded and server.started_here:
            server.stop("fast")

    config = Config(database_url=login.url, jwt_secret=secret, workers=workers)
    shown = "" if workers == 1 else f", {workers} workers"
    print(f"wagerbase: serving on http://{host}:{port}  (OpenAPI: /schema{shown})", file=sys.stderr)
    print(f"wagerbase: anon key: {keys(secret)['anon']}", file=sys.stderr)
    logging.getLogger("wagerbase.http").setLevel(logging.INFO)
    if workers == 1:
        # uvicorn ends the process with the signal that stopped it, so this runs in the lifespan
        return _serve_here(_uvicorn(create_app(config, [stop_embedded]), host, port, 1))
    try:
        return _supervise(_uvicorn(Worker(config, os.getpid()), host, port, workers))
    finally:
        stop_embedded()


def _serve_here(config: uvicorn.Config) -> int:
    """One worker: this process serves."""
    server = uvicorn.Server(config)
    server.run()
    return 0 if server_started(server) else STARTUP_FAILURE


def _supervise(config: uvicorn.Config) -> int:
    """Several workers: bind the socket here, and let uvicorn's supervisor run them until this
    process is told to stop (SIGTERM, SIGINT); it stops them all before returning
    (library_patches.supervise_workers). A worker that fails to start (its app's startup
    failed: the database cannot be reached) stops the node, as one worker's failure to start
    stops a node of one."""
    return STARTUP_FAILURE if supervise_workers(config) else 0
