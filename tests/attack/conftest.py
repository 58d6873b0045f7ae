"""One `wagerbase serve` node and its database for every attack test over HTTP and WebSockets
(the fixtures of tests/api, imported); each test makes its own users. `probes`: functions of
shapes the engine lacks, for the modules that need them."""

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.api.conftest import api_database, node, unique

__all__ = ["api_database", "node", "unique"]


PROBES = """
create function public.{p}_echo(j jsonb) returns jsonb language sql stable as 'select j';
create function public.{p}_sum(xs bigint[]) returns bigint language sql immutable
    as 'select coalesce(sum(x), 0) from unnest(xs) as x';
create function public.{p}_set(n int) returns setof int language sql stable
    as 'select pg_catalog.generate_series(1, n)';
grant execute on function public.{p}_echo, public.{p}_sum, public.{p}_set to anon;
"""


@pytest.fixture(scope="module")
def probes(api_database: str) -> Iterator[str]:
    """Functions of shapes the engine has none of yet (a stable one taking jsonb, one taking an
    array of numbers, one returning a set of scalars), made for one module and dropped after it
    (the catalog test, which wants every public function in the matrix, runs later)."""
    prefix = f"probe_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(api_database, autocommit=True) as conn:
        conn.execute(PROBES.format(p=prefix).encode())
    try:
        yield prefix
    finally:
        with psycopg.connect(api_database, autocommit=True) as conn:
            for name in ("echo", "sum", "set"):
                conn.execute(f"drop function public.{prefix}_{name}".encode())
