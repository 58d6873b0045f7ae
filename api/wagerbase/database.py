"""The connection pool and the ways a request reaches the database.

- `as_caller(claims)`: one transaction run as the token's role, with the claims in
  `request.jwt.claims`, exactly as PostgREST runs a request; RLS and grants decide the rest. The
  same statement checks the token's session (`server.check_session`, rpc/06_sessions.sql): a
  token whose session ended, or whose user is gone, is refused there (session_ended,
  unknown_user), whatever the request reads.
- `as_server()`: one transaction as the API's own login role (`authenticator`, authenticator.py),
  for the few things only the server does (sign-up, sign-in, sessions) and reading pg_catalog.
  That role may execute the functions of schema `server` (rpc/95_server.sql, rpc/06_sessions.sql)
  and nothing else: no table, no view, no function of `app` or `public` until a request switches
  to a caller's role.
- `connect()`: a connection of its own, outside the pool (money_calls.py resolves an unknown
  outcome on one).
Calls that change state go through money_calls.py, which uses `caller_transaction`.

Every connection is a `Connection`: a psycopg connection that never sends a CancelRequest. When
the task running a statement is cancelled, psycopg would ask the server to cancel it; a cancelled
COMMIT that waits for a synchronous standby still lands (docs/api.md, "Unknown outcomes"), so
this class closes the connection instead: the server finishes the statement (a commit completes,
an open transaction rolls back), and the connection is discarded.

The connection string may name several hosts; every connection gets `conninfo.for_component`'s
defaults (keepalives, a connect timeout, `target_session_attrs=read-write` for several hosts).
The pool checks each connection before handing it out and drops a broken one, so after a
failover requests reach the new primary as soon as it accepts connections.
"""

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from psycopg_pool.base import AttemptWithBackoff

from wagerbase.conninfo import for_component
from wagerbase.tokens import Claims

Conn = AsyncConnection[dict[str, Any]]

log = logging.getLogger("wagerbase.database")

_SET_CONTEXT = """
select server.check_session(%s::jsonb),
       set_config('role', %s, true),
       set_config('request.jwt.claims', %s, true),
       set_config('request.method', %s, true),
       set_config('request.path', %s, true)
"""

POOL_MAX_LIFETIME_SECONDS = 30 * 60.0
POOL_RECONNECT_TIMEOUT_SECONDS = 5 * 60.0

# After losing its connections the pool reconnects with backoff: by default 1 s, doubling, so
# after a 20-second node loss its next attempt came about 31 s after the kill and writes returned
# 3 to 9 s after Patroni had promoted a standby (tests/ha, docs/reliability.md). An attempt every
# half second is cheap (a refused connection, or a standby turned down by target_session_attrs),
# and brings writes back when the new primary does. psycopg_pool has no per-pool setting for this:
# the class constants hold for every pool of the process, and all of them are ours.
POOL_RECONNECT_DELAY_SECONDS = 0.5
AttemptWithBackoff.INITIAL_DELAY = POOL_RECONNECT_DELAY_SECONDS
AttemptWithBackoff.DELAY_BACKOFF = 1.0


# Connection below replaces a private step of psycopg 3.3 (pyproject pins psycopg to 3.3.x): in
# 3.2 the same method sat outside the `except QueryCanceled` that swallows its error. Refuse to
# run on a psycopg where the step is gone rather than quietly cancel commits again.
if not hasattr(AsyncConnection, "_try_cancel") or not psycopg.__version__.startswith("3.3."):
    raise ImportError(
        f"wagerbase needs psycopg 3.3.x (found {psycopg.__version__}): database.Connection "
        "overrides its statement-cancel step so that no commit is ever cancelled"
    )


class Connection(AsyncConnection[dict[str, Any]]):
    """A connection that never cancels a statement on the server: when its task is cancelled
    mid-statement it is closed instead (see the module's heading)."""

    async def _try_cancel(self, *, timeout: float = 5.0) -> None:
        # psycopg calls this (instead of returning) when the task running a statement is
        # cancelled; raising QueryCanceled makes it stop waiting for the statement's end
        log.info("closing a connection whose statement was interrupted (never cancelled)")
        self.pgconn.finish()
        raise psycopg.errors.QueryCanceled("connection closed instead of cancelling the statement")


@asynccontextmanager
async def caller_transaction(
    conn: Conn, claims: Claims, *, read_only: bool = False, method: str = "", path: str = ""
) -> AsyncIterator[Conn]:
    """One transaction on `conn` as the token's role, with its claims (as PostgREST runs one)."""
    async with conn.transaction():
        if read_only:
            await conn.execute("set transaction read only")
        text = json.dumps(claims)
        await conn.execute(_SET_CONTEXT, [text, claims["role"], text, method, path])
        yield conn


def _reconnect_failed(pool: AsyncConnectionPool[Any]) -> None:
    log.error(
        json.dumps(
            {
                "event": "pool_reconnect_failed",
                "pool": pool.name,
                "seconds": POOL_RECONNECT_TIMEOUT_SECONDS,
            }
        )
    )


class Database:
    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10) -> None:
        self.url = url
        self.pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            for_component(url, "wagerbase api"),
            connection_class=Connection,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True, "row_factory": dict_row},
            check=AsyncConnectionPool.check_connection,
            max_lifetime=POOL_MAX_LIFETIME_SECONDS,
            reconnect_timeout=POOL_RECONNECT_TIMEOUT_SECONDS,
            reconnect_failed=_reconnect_failed,
            name="wagerbase",
        )

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.pool.close()

    async def connect(self, application_name: str) -> Connection:
        """A new connection outside the pool (autocommit, dict rows); the caller closes it."""
        return await Connection.connect(
            for_component(self.url, application_name), autocommit=True, row_factory=dict_row
        )

    @asynccontextmanager
    async def as_caller(
        self, claims: Claims, *, read_only: bool = False, method: str = "", path: str = ""
    ) -> AsyncIterator[Conn]:
        async with (
            self.pool.connection() as conn,
            caller_transaction(
                conn, claims, read_only=read_only, method=method, path=path
            ) as in_transaction,
        ):
            yield in_transaction

    @asynccontextmanager
    async def as_server(self) -> AsyncIterator[Conn]:
        async with self.pool.connection() as conn, conn.transaction():
            yield conn
