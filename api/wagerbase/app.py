"""The app factory: one Litestar app per API node (per worker process of a node that runs
several: server.py); the pool, the live-update hub, the scheduler and the money calls in flight
are owned by its lifespan."""

import logging
import os
import traceback
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.logging import LoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from wagerbase import __version__, settings
from wagerbase.accounts import Accounts, new_hashing
from wagerbase.database import Database
from wagerbase.email_sign_in import EmailSignIn
from wagerbase.errors import ApiError
from wagerbase.http.client_address import Network
from wagerbase.http.common import ReadsEndWithTheirClient, RequestLog, security_headers
from wagerbase.http.request_limits import BoundedRequest
from wagerbase.limits import Limits
from wagerbase.live.enrich import market_details
from wagerbase.live.hub import Hub
from wagerbase.live.scheduler import Scheduler
from wagerbase.live.wire import RAW_SEND
from wagerbase.mail import Mailer, MailSettings
from wagerbase.money_calls import MoneyCalls
from wagerbase.oidc_client import OidcClient
from wagerbase.oidc_config import OidcSettings
from wagerbase.oidc_flows import OidcFlows
from wagerbase.placements import Placements
from wagerbase.site_urls import SiteUrls
from wagerbase.slow_clients import BodyDeadline
from wagerbase.surfaces import betmarket, gotrue, web
from wagerbase.surfaces.postgrest import routes as postgrest
from wagerbase.surfaces.realtime.rooms import ROOMS, Rooms
from wagerbase.surfaces.realtime.socket import realtime_socket
from wagerbase.tokens import Tokens

log = logging.getLogger("wagerbase")

TRACEBACK_FRAMES = 30  # the innermost frames of a bug's traceback that are logged


@dataclass(frozen=True)
class Config:
    database_url: str
    jwt_secret: str
    sign_in_limit: int = 10  # password sign-ins per identifier per minute
    max_body_bytes: int = 64 * 1024
    pool_min: int = 2
    # the pool's lanes, the wait for one, the live sockets' limits (limits.py; WAGERBASE_POOL_*)
    limits: Limits = field(default_factory=Limits.from_environment)
    # money calls (money_calls.py): how long an unknown outcome is resolved through its key, and
    # how long shutdown waits for calls in flight (WAGERBASE_OUTCOME_WINDOW, _DRAIN_SECONDS)
    outcome_window: float = field(default_factory=settings.outcome_window)
    drain_seconds: float = field(default_factory=settings.drain_seconds)
    # placements on one market decided in one transaction at most (WAGERBASE_BATCH_MOST)
    batch_most: int = field(default_factory=settings.batch_most)
    # limits (docs/api.md, "Limits of a request"): rows per read (WAGERBASE_MAX_ROWS), and how
    # long a body may take to arrive after its headers (WAGERBASE_BODY_TIMEOUT; the headers' own
    # timeout is the server's, server.py)
    max_rows: int = field(default_factory=settings.max_rows)
    body_timeout: float = field(default_factory=settings.body_timeout)
    # the proxies whose X-Forwarded-For names the client (WAGERBASE_TRUSTED_PROXIES)
    trusted_proxies: tuple[Network, ...] = field(default_factory=settings.trusted_proxies)
    # the node's worker processes (server.py): each runs one app, with its share of the node's
    # limits (limits.Limits.shared_by) and of its hashing threads (hashing.for_worker)
    workers: int = 1
    # where /auth/v1 sends users back, for providers and mails alike (site_urls.py)
    site: SiteUrls = field(default_factory=SiteUrls.from_environment)
    # sign-in with OpenID Connect providers (oidc_config.py)
    oidc: OidcSettings = field(default_factory=OidcSettings.from_environment)
    # recovery and sign-in by email: the SMTP server (WAGERBASE_SMTP_*, mail.py)
    mail: MailSettings = field(default_factory=settings.mail)


@get("/health", summary="Liveness and database reachability", tags=["ops"])
async def health(state: State) -> Response[dict[str, Any]]:
    """200 when the pool reaches the database, else 503 (with the same body); the body
    also counts money calls whose outcome was unknown and batches (money_calls.Counters), the
    placements waiting for a batch (placements.Placements), sign-ins and sign-ups refused
    before any password was hashed and the password hashes (accounts.Counters,
    hashing.Hashing), says whether the live-update hub is listening and how many sockets it
    serves, and shows each lane of the pool (admission.Counts: its size, places in use, requests
    waiting, refusals). It has a lane of its own, so it answers while reads (or money calls)
    take every connection of theirs. Every figure is the answering worker's (`worker`: its
    process id, and how many workers the node runs): each worker of a node has its own."""
    db: Database = state.db
    calls: MoneyCalls = state.money_calls
    placements: Placements = state.placements
    hub: Hub = state.hub
    accounts: Accounts = state.accounts
    config: Config = state.config
    body: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "worker": {"pid": os.getpid(), "workers": config.workers},
        "money_calls": calls.snapshot(),
        "placements": placements.snapshot(),
        "auth": accounts.snapshot(),
        "live": {
            "listening": hub.connected.is_set(),
            "reconnects": hub.reconnects,
            "sockets": hub.sockets,
        },
        "pool": db.snapshot(),
    }
    try:
        async with db.connection("health") as conn:
            await conn.execute("select 1")
    except (psycopg.Error, ApiError) as exc:
        body["status"] = "unavailable"
        body["error"] = type(exc).__name__
        return Response(body, status_code=503, headers={"Retry-After": "1"})
    return Response(body, status_code=200)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The last resort: a bug. Logged with its traceback (its innermost frames, so that even a
    runaway recursion logs a page, not megabytes); the caller gets a bare 500. Refusals and bad
    input never come here: each surface answers them in its own handler, and input that could
    make a parser recurse is refused before it is parsed (http/request_limits.py)."""
    if isinstance(exc, HTTPException):
        return Response({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    frames = "".join(traceback.format_exception(exc, limit=-TRACEBACK_FRAMES))
    log.error("unexpected error on %s %s\n%s", request.method, request.url.path[:200], frames)
    return Response({"error": "internal error"}, status_code=500)


class App(Litestar):
    """Litestar, keeping the server's own ASGI `send` of each WebSocket in its scope: a socket
    writes its frames through it straight to its connection (live/wire.py), past the send
    wrappers Litestar adds."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            scope[RAW_SEND] = send
        await super().__call__(scope, receive, send)


def create_app(config: Config, on_shutdown: Sequence[Callable[[], None]] = ()) -> Litestar:
    """The app of one API node, or of one of its worker processes (`config.workers`), with its
    share of the node's limits. `on_shutdown` runs once it has stopped serving."""
    limits = config.limits.shared_by(config.workers)
    db = Database(
        config.database_url, lanes=limits.lanes, min_size=config.pool_min, workers=config.workers
    )
    tokens = Tokens(config.jwt_secret)
    hub = Hub(config.database_url, enrich=market_details(db))
    rooms = Rooms(db, limits.sockets)  # what Realtime's clients send each other
    scheduler = Scheduler(config.database_url)
    money_calls = MoneyCalls(db, window=config.outcome_window)
    placements = Placements(money_calls, most=config.batch_most)
    accounts = Accounts(db, tokens, new_hashing(config.workers), sign_in_limit=config.sign_in_limit)
    oidc = OidcFlows(db, tokens, OidcClient(), config.oidc, config.site)
    email_sign_in = EmailSignIn(accounts, Mailer(config.mail), config.site)

    @asynccontextmanager
    async def pool_lifespan(app: Litestar) -> AsyncIterator[None]:
        await db.open()
        log.info("database pool open")
        await hub.start()
        await scheduler.start()
        try:
            yield
        finally:
            await money_calls.drain(config.drain_seconds)
            await rooms.stop()
            await scheduler.stop()
            await hub.stop()
            accounts.hashing.close()
            await oidc.client.close()
            await db.close()
            log.info("database pool closed")
            for hook in on_shutdown:
                hook()

    return App(
        route_handlers=[
            health,
            gotrue.router,
            postgrest.router,
            betmarket.router,
            betmarket.betmarket_ws,
            realtime_socket,
            web.router,
        ],
        lifespan=[pool_lifespan],
        state=State(
            {
                "db": db,
                "tokens": tokens,
                "config": config,
                "hub": hub,
                ROOMS: rooms,
                "scheduler": scheduler,
                "money_calls": money_calls,
                "placements": placements,
                "accounts": accounts,
                "oidc": oidc,
                "email_sign_in": email_sign_in,
                "limits": limits,
            }
        ),
        # the body's deadline outside the hang-up watch: its first receive() is bounded, the
        # watch's later wait for a disconnect is not
        middleware=[
            RequestLog,
            DefineMiddleware(BodyDeadline, seconds=config.body_timeout),
            ReadsEndWithTheirClient,
        ],
        before_send=[security_headers],
        request_class=BoundedRequest,
        request_max_body_size=config.max_body_bytes,
        logging_config=LoggingConfig(log_exceptions="never"),
        exception_handlers={Exception: _unexpected},
        openapi_config=OpenAPIConfig(
            title="Wagerbase",
            version=__version__,
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
    )
