"""The connection pool and the ways a request reaches the database.

- `as_caller(claims)`: one transaction run as the token's role, with the claims in
  `request.jwt.claims`, exactly as PostgREST runs a request; RLS and grants decide the rest. It
  starts with one statement: `server.check_session` (rpc/06_sessions.sql) refuses a token whose
  session ended or whose user is gone (session_ended, unknown_user), whatever the request reads,
  and server.begin_request (rpc/04_requests.sql) sets the claims, applies the role's limits
  (statement_timeout, lock_timeout) and the hoisted limit of the function called, and switches
  role.
- `as_server()`: one transaction as the API's own login role (`authenticator`, authenticator.py),
  for the few things only the server does (sign-up, sign-in, sessions) and reading pg_catalog.
  That role may execute the functions of schema `server` (rpc/95_server.sql, rpc/06_sessions.sql,
  rpc/04_requests.sql) and nothing else: no table, no view, no function of `app` or `public` until
  a request switches to a caller's role.
- `connect()`: a connection of its own, outside the pool (money_calls.py resolves an unknown
  outcome on one).
Calls that change state go through money_calls.py, which uses `caller_transaction` on a
connection of the money lane (`money()`).

The pool is split into lanes (admission.py, limits.py): money calls, the server's own work,
reads, live updates and /health each hold at most their share of its connections, and every wait
for one is bounded (past it, a 429). Every pooled connection also bounds the server's own
statements (SERVER_STATEMENT_TIMEOUT) and asks the server to check, during a long statement,
that the connection is still there (`client_connection_check_interval`).

Every connection is a `Connection`: a psycopg connection that never sends a CancelRequest during
a transaction that may write. When the task running a statement is cancelled, psycopg would ask
the server to cancel it; a cancelled COMMIT that waits for a synchronous standby still lands
(docs/api.md, "Unknown outcomes"), so this class closes the connection instead: the server
finishes the statement (a commit completes, an open transaction rolls back), and the connection
is discarded. A read-only transaction (`as_caller(read_only=True)`) is the exception: it commits
nothing, so its statement is cancelled for real (a read whose client went away, http/common.py)
and the connection goes back to the pool. The private step of psycopg this replaces, and the
pool's reconnect delay (every half second after a failover), are in
library_patches/psycopg_connections.py.

The connection string may name several hosts; every connection gets `conninfo.for_component`'s
defaults (keepalives, a connect timeout, `target_session_attrs=read-write` for several hosts).
The pool checks each connection before handing it out and drops a broken one, so after a
failover requests reach the new primary as soon as it accepts connections. The check costs a
round trip only when the connection sat unused for RECHECK_AFTER_SECONDS or its socket has
something to read (an idle connection has nothing to read unless the server closed it or sent an
error): on a busy node that saves a round trip per request.
"""

import json
import logging
import select
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict
from typing import Any

import psycopg
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from wagerbase import admission, library_patches
from wagerbase.admission import Lane
from wagerbase.conninfo import for_component
from wagerbase.errors import STATEMENT_TIMEOUT, StatementTimeout
from wagerbase.limits import Lanes
from wagerbase.sql_files import statements
from wagerbase.tokens import Claims

Conn = AsyncConnection[dict[str, Any]]

log = logging.getLogger("wagerbase.database")

QUERIES = statements(__package__, "database.sql")

# Session settings of every connection of the node (pooled or not): its own statements (sign-up,
# sign-in, the schema cache...) stop after SERVER_STATEMENT_TIMEOUT, and a statement still running
# when its connection is gone (the node closed it, or died) is stopped within a second instead of
# running on. A caller's transaction replaces the timeout with its role's (server.begin_request).
SERVER_STATEMENT_TIMEOUT = "10s"
CLIENT_CHECK_INTERVAL = "1s"

POOL_MAX_LIFETIME_SECONDS = 30 * 60.0
RECHECK_AFTER_SECONDS = 1.0
POOL_RECONNECT_TIMEOUT_SECONDS = 5 * 60.0

# After losing its connections the pool reconnects every half second, not with psycopg_pool's
# backoff (1 s, doubling): writes come back when the new primary does (tests/ha,
# docs/reliability.md). psycopg_pool has no per-pool setting for this: the delay is set for every
# pool of the process (library_patches.set_pool_reconnect_delay says how and why).
POOL_RECONNECT_DELAY_SECONDS = 0.5
library_patches.set_pool_reconnect_delay(POOL_RECONNECT_DELAY_SECONDS)


class Connection(library_patches.NeverCancellingConnection):
    """A connection that never cancels a statement on the server, except in a read-only
    transaction (`cancellable`, set by caller_transaction): when its task is cancelled
    mid-statement it is closed instead (see the module's heading; the step of psycopg 3.3 it
    replaces is in library_patches.NeverCancellingConnection)."""

    # when the pool last had it back (time.monotonic(); _returned), for _check
    returned_at: float = float("-inf")


def _naming_the_limit(exc: psycopg.errors.QueryCanceled, role: str, limit: str) -> None:
    """Raise the server's 57014 as a StatementTimeout that names the limit (never the one
    Connection raises when it closes a connection instead: that one has no result)."""
    if exc.sqlstate == STATEMENT_TIMEOUT and exc.pgresult is not None:
        raise StatementTimeout.of(exc, role, limit) from exc


async def _configure(conn: Conn) -> None:
    await conn.execute(
        QUERIES["session_settings"],
        {"statement_timeout": SERVER_STATEMENT_TIMEOUT, "check_interval": CLIENT_CHECK_INTERVAL},
    )


async def _limit_set_by(begun: AsyncCursor[dict[str, Any]] | None) -> str:
    """The statement_timeout server.begin_request answered (caller_transaction's first
    statement), or "" when it did not answer."""
    if begun is None:
        return ""
    try:
        row = await begun.fetchone()
    except psycopg.Error:
        return ""
    return str(row["statement_timeout"]) if row else ""


async def _check(conn: Connection) -> None:
    """The pool's check before it hands `conn` out: a round trip when the connection sat unused
    for RECHECK_AFTER_SECONDS or its socket has something to read (the module's heading)."""
    if (
        conn.broken
        or time.monotonic() - conn.returned_at >= RECHECK_AFTER_SECONDS
        or _readable(conn.pgconn.socket)
    ):
        await AsyncConnectionPool.check_connection(conn)


def _readable(fd: int) -> bool:
    """Whether the socket `fd` has something to read now (poll, not select: a node with many
    live sockets has descriptors past select's limit of 1,024)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


async def _returned(conn: Connection) -> None:
    """The pool's reset when `conn` comes back (idle, its transaction ended): note when."""
    conn.returned_at = time.monotonic()


@asynccontextmanager
async def caller_transaction(
    conn: Conn,
    claims: Claims,
    *,
    read_only: bool = False,
    method: str = "",
    path: str = "",
    function: str | None = None,
    prelude: tuple[str, Sequence[Any]] | None = None,
    rollback: bool = False,
) -> AsyncIterator[Conn]:
    """One transaction on `conn` as the token's role, with its claims (as PostgREST runs one),
    its role's limits and, when the request calls `function` (of schema public), that function's
    own statement_timeout. A statement cut by its statement_timeout raises StatementTimeout,
    which names the limit. `prelude`, a statement and its parameters, runs first, as the node
    itself (a Realtime check's probe rows: surfaces/realtime/policies.py); with `rollback` the
    transaction is rolled back at the end, whatever it did.

    Its first statement's answer is read only when a statement is cut, so that on a connection
    in pipeline mode (money_calls.py) BEGIN, that statement and the caller's first one go to the
    server together, in one round trip."""
    role = claims["role"]
    begun: AsyncCursor[dict[str, Any]] | None = None
    cancellable = conn if read_only and isinstance(conn, Connection) else None
    try:
        if cancellable is not None:
            cancellable.cancellable = True
        async with conn.transaction(force_rollback=rollback):
            if prelude is not None:
                await conn.execute(prelude[0], prelude[1])
            text = json.dumps(claims)
            begun = await conn.execute(
                QUERIES["begin_request"],
                {
                    "claims_json": text,
                    "role": role,
                    "claims": text,
                    "method": method,
                    "path": path,
                    "read_only": read_only,
                    "function": function,
                },
            )
            yield conn
    except psycopg.errors.QueryCanceled as exc:
        _naming_the_limit(exc, role, await _limit_set_by(begun))
        raise
    finally:
        if cancellable is not None:
            cancellable.cancellable = False


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


def _client(claims: Claims) -> str:
    """Who a caller is, for a lane's cap per client: the signed-in user, else the role at the
    request's address."""
    sub = claims.get("sub")
    if isinstance(sub, str) and sub:
        return f"user:{sub}"
    return f"{claims.get('role')}@{admission.client.get()}"


class Database:
    """The node's pool, split into lanes (limits.Lanes; admission.py)."""

    def __init__(
        self, url: str, *, lanes: Lanes | None = None, min_size: int = 2, workers: int = 1
    ) -> None:
        """`lanes` are this process's (a worker's share of the node's when `workers` processes
        serve the node: limits.Limits.shared_by), and name the node's settings in refusals."""
        self.url = url
        self.lanes = lanes = lanes or Lanes()
        wait = lanes.wait
        self.lane: dict[str, Lane] = {
            "money": Lane(
                "money calls",
                lanes.money,
                wait,
                setting="WAGERBASE_POOL_MONEY",
                anonymous=1,
                per_client=max(1, lanes.money // 2),
                workers=workers,
            ),
            "server": Lane(
                "the server's own work",
                lanes.server,
                wait,
                setting="WAGERBASE_POOL_SERVER",
                workers=workers,
            ),
            "reads": Lane(
                "reads",
                lanes.reads,
                wait,
                setting="WAGERBASE_POOL_READS",
                anonymous=lanes.anonymous_reads,
                per_client=min(lanes.client_reads, lanes.reads),
                workers=workers,
            ),
            "live": Lane(
                "live updates",
                lanes.live,
                wait,
                setting="WAGERBASE_POOL_LIVE",
                anonymous=max(1, lanes.live // 2),
                per_client=max(1, lanes.live // 2),
                workers=workers,
            ),
            "health": Lane("/health", lanes.health, wait, setting="the health lane"),
        }
        self.pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            for_component(url, "wagerbase api"),
            connection_class=Connection,
            min_size=min(min_size, lanes.total),
            max_size=lanes.total,
            open=False,
            kwargs={"autocommit": True, "row_factory": dict_row},
            configure=_configure,
            check=_check,
            reset=_returned,
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
        conn = await Connection.connect(
            for_component(self.url, application_name), autocommit=True, row_factory=dict_row
        )
        await _configure(conn)
        return conn

    @asynccontextmanager
    async def connection(
        self, lane: str, who: str | None = None, *, anonymous: bool = False
    ) -> AsyncIterator[Connection]:
        """A pooled connection of `lane`, held by `who` (for the lane's cap per client). Raises
        the 429 ApiError of errors.too_busy when the lane has no place in time, PoolTimeout when
        the database gives no connection (it is down or failing over)."""
        async with (
            self.lane[lane].admit(who, anonymous=anonymous) as remaining,
            self.pool.connection(timeout=max(remaining, 1.0)) as conn,
        ):
            yield conn

    def money(self, claims: Claims) -> AbstractAsyncContextManager[Connection]:
        """A connection of the money lane for a call by `claims`' caller (money_calls.py)."""
        return self.connection("money", _client(claims), anonymous=claims["role"] == "anon")

    @asynccontextmanager
    async def as_caller(
        self,
        claims: Claims,
        *,
        read_only: bool = False,
        method: str = "",
        path: str = "",
        function: str | None = None,
        lane: str = "reads",
        prelude: tuple[str, Sequence[Any]] | None = None,
        rollback: bool = False,
    ) -> AsyncIterator[Conn]:
        """One transaction as the caller, on a connection of `lane` (reads over HTTP, or live
        for the sockets); `prelude` and `rollback` as caller_transaction's."""
        async with (
            self.connection(lane, _client(claims), anonymous=claims["role"] == "anon") as conn,
            caller_transaction(
                conn,
                claims,
                read_only=read_only,
                method=method,
                path=path,
                function=function,
                prelude=prelude,
                rollback=rollback,
            ) as in_transaction,
        ):
            yield in_transaction

    @asynccontextmanager
    async def as_server(self) -> AsyncIterator[Conn]:
        try:
            async with self.connection("server") as conn, conn.transaction():
                yield conn
        except psycopg.errors.QueryCanceled as exc:
            _naming_the_limit(exc, "the API node itself", SERVER_STATEMENT_TIMEOUT)
            raise

    def snapshot(self) -> dict[str, Any]:
        """Each lane's size, places in use, requests waiting and refusals so far (/health)."""
        return {name: asdict(lane.counts) for name, lane in self.lane.items()}
