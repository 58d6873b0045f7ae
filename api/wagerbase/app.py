"""The app factory: one Litestar app per API node; the pool is owned by its lifespan."""

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from wagerbase import __version__
from wagerbase.database import Database
from wagerbase.http import betmarket, gotrue, postgrest, web
from wagerbase.http.common import RequestLog
from wagerbase.live.betmarket_ws import betmarket_ws
from wagerbase.live.enrich import market_details
from wagerbase.live.hub import Hub
from wagerbase.live.realtime import realtime_socket
from wagerbase.live.scheduler import Scheduler
from wagerbase.tokens import Tokens

log = logging.getLogger("wagerbase")


@dataclass(frozen=True)
class Config:
    database_url: str
    jwt_secret: str
    sign_in_limit: int = 10  # password sign-ins per identifier per minute
    max_body_bytes: int = 64 * 1024
    pool_min: int = 2
    pool_max: int = 10


@get("/health", summary="Liveness and database reachability", tags=["ops"])
async def health(state: State) -> dict[str, Any]:
    db: Database = state.db
    async with db.pool.connection() as conn:
        await conn.execute("select 1")
    return {"status": "ok", "version": __version__}


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The last resort: a bug. Logged with its traceback; the caller gets a bare 500. Refusals
    and bad input never come here: each surface answers them in its own handler."""
    if isinstance(exc, HTTPException):
        return Response({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response({"error": "internal error"}, status_code=500)


def create_app(config: Config, on_shutdown: Sequence[Callable[[], None]] = ()) -> Litestar:
    """The app of one API node. `on_shutdown` runs once the node has stopped serving."""
    db = Database(config.database_url, min_size=config.pool_min, max_size=config.pool_max)
    tokens = Tokens(config.jwt_secret)
    hub = Hub(config.database_url, enrich=market_details(db))
    scheduler = Scheduler(config.database_url)

    @asynccontextmanager
    async def pool_lifespan(app: Litestar) -> AsyncIterator[None]:
        await db.open()
        log.info("database pool open")
        await hub.start()
        await scheduler.start()
        try:
            yield
        finally:
            await scheduler.stop()
            await hub.stop()
            await db.close()
            log.info("database pool closed")
            for hook in on_shutdown:
                hook()

    return Litestar(
        route_handlers=[
            health,
            gotrue.router,
            postgrest.router,
            betmarket.router,
            betmarket_ws,
            realtime_socket,
            web.router,
        ],
        lifespan=[pool_lifespan],
        state=State(
            {"db": db, "tokens": tokens, "config": config, "hub": hub, "scheduler": scheduler}
        ),
        middleware=[RequestLog],
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
