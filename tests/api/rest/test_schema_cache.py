"""/rest/v1's schema cache and the shapes of function results: views and functions made after
the node started are found, and each function's result is shaped as PostgREST shapes it."""

import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest

from tests.api.rest.callers import Caller
from tests.api.rest.callers import refused as _refused

PROBES = """
create view public.{p}_view as select 1 as one;
grant select on public.{p}_view to authenticated;
create function public.{p}_void() returns void language sql as 'select';
create function public.{p}_set(n int) returns setof int language sql stable
    as 'select pg_catalog.generate_series(1, n)';
create function public.{p}_rows(n int default 3) returns table (i int, square int)
    language sql stable as 'select g, g * g from pg_catalog.generate_series(1, n) as g';
create function public.{p}_one(out x int, out label text) language sql immutable
    as 'select 7, ''seven''';
create function public.{p}_sum(xs int[]) returns bigint language sql immutable
    as 'select coalesce(sum(x), 0) from unnest(xs) as x';
create function public.{p}_echo(j jsonb, t text default null) returns jsonb
    language sql immutable as 'select pg_catalog.jsonb_build_object(''j'', j, ''t'', t)';
create function public.{p}_text() returns text language sql immutable as 'select ''hi "you"''';
grant execute on function public.{p}_void, public.{p}_set, public.{p}_rows, public.{p}_one,
    public.{p}_sum, public.{p}_echo, public.{p}_text to authenticated;
"""


@pytest.fixture(scope="module")
def probes(api_database: str) -> Iterator[str]:
    """Views and functions created after the node started: the cache must find them."""
    prefix = f"probe_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(api_database, autocommit=True) as conn:
        conn.execute(PROBES.format(p=prefix).encode())
    try:
        yield prefix
    finally:
        with psycopg.connect(api_database, autocommit=True) as conn:
            for name in ("void", "set", "rows", "one", "sum", "echo", "text"):
                conn.execute(f"drop function public.{prefix}_{name}".encode())
            conn.execute(f"drop view public.{prefix}_view".encode())


def _eventually(call: Callable[[], httpx.Response]) -> httpx.Response:
    """The cache reads the catalog again on a miss at most once a second."""
    deadline = time.monotonic() + 5
    while True:
        answer = call()
        if answer.status_code != 404 or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_new_views_and_functions_are_found_and_shaped(
    probes: str, bettor: Callable[[], Caller]
) -> None:
    caller = bettor()
    view = _eventually(lambda: caller.get(f"{probes}_view"))
    assert view.status_code == 200 and view.json() == [{"one": 1}]

    void = _eventually(lambda: caller.rpc(f"{probes}_void"))
    assert void.status_code == 200 and void.content == b"null"
    assert caller.rpc(f"{probes}_set", {"n": 3}).json() == [1, 2, 3]
    assert caller.http.get(f"/rest/v1/rpc/{probes}_set", params={"n": "2"}).json() == [1, 2]
    rows = caller.http.get(
        f"/rest/v1/rpc/{probes}_rows",
        params={"n": "4", "select": "i,square", "i": "gt.1", "order": "i.desc", "limit": "2"},
        headers={"Prefer": "count=exact"},
    )
    assert rows.status_code == 206, rows.text
    assert rows.json() == [{"i": 4, "square": 16}, {"i": 3, "square": 9}]
    assert rows.headers["content-range"] == "0-1/3"
    assert caller.rpc(f"{probes}_rows").json() == [
        {"i": 1, "square": 1},
        {"i": 2, "square": 4},
        {"i": 3, "square": 9},
    ]
    assert caller.rpc(f"{probes}_one").json() == {"x": 7, "label": "seven"}
    assert caller.rpc(f"{probes}_sum", {"xs": [1, 2, 3]}).json() == 6
    assert caller.http.get(f"/rest/v1/rpc/{probes}_sum", params={"xs": "{4,5}"}).json() == 9
    _refused(caller.rpc(f"{probes}_sum", {"xs": [1, "x"]}), 400, "22P02")
    echo = caller.http.post(
        f"/rest/v1/rpc/{probes}_echo",
        content=b'{"j": {"a": [1, 2.50, 0.10000000000000000000001, null]}, "t": 5}',
        headers={"Content-Type": "application/json"},
    )
    assert echo.status_code == 200, echo.text
    assert echo.json() == {"j": {"a": [1, 2.5, 0.1, None]}, "t": "5"}
    assert "2.50, 0.10000000000000000000001" in echo.text  # numbers keep every digit
    got = caller.http.get(f"/rest/v1/rpc/{probes}_echo", params={"j": '{"b":true}'})
    assert got.json() == {"j": {"b": True}, "t": None}
    assert caller.rpc(f"{probes}_text").json() == 'hi "you"'
