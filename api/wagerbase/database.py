"""The connection pool and the two ways a request reaches the database.

- `as_caller(claims)`: one transaction run as the token's role, with the claims in
  `request.jwt.claims`, exactly as PostgREST runs a request; RLS and grants decide the rest.
- `as_server()`: one transaction as the API's own role, for the few things only the server does
  (sign-up, sign-in, sessions), through the private functions of rpc/05_users.sql and
  rpc/06_sessions.sql.
"""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from wagerbase.tokens import Claims

Conn = AsyncConnection[dict[str, Any]]

_SET_CONTEXT = """
select set_config('role', %s, true),
       set_config('request.jwt.claims', %s, true),
       set_config('request.method', %s, true),
       set_config('request.path', %s, true)
"""


class Database:
    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10) -> None:
        self.pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True, "row_factory": dict_row},
            check=AsyncConnectionPool.check_connection,
            name="wagerbase",
        )

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def as_caller(
        self, claims: Claims, *, read_only: bool = False, method: str = "", path: str = ""
    ) -> AsyncIterator[Conn]:
        async with self.pool.connection() as conn, conn.transaction():
            if read_only:
                await conn.execute("set transaction read only")
            await conn.execute(_SET_CONTEXT, [claims["role"], json.dumps(claims), method, path])
            yield conn

    @asynccontextmanager
    async def as_server(self) -> AsyncIterator[Conn]:
        async with self.pool.connection() as conn, conn.transaction():
            yield conn
