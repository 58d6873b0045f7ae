"""One `wagerbase serve` node and its database for every attack test over HTTP and WebSockets
(`node` on `api_database`: tests/support/node_fixtures.py, the fixtures of tests/api's, but a
node of their own); each test makes its own users.
`service`: a REST caller with the service key, for the modules that set up through it. `probes`:
functions of shapes the engine lacks, for the modules that need them. `victims`: the users of the
token attacks (tests/attack/victims.py).

`proxied_node` is a second node for the limits per client address: its database has the limits'
defaults (the template's are raised for the rest of the suite, tests/conftest.py), and it trusts
127.0.0.1 as a proxy, so a test speaks for any client address it likes through X-Forwarded-For
(tests/attack/auth_client.py). Each test uses addresses of its own (`addresses`).

The abuse tests of statements, locks, hang-ups, pools and Realtime (test_abuse_*.py) each get a
node of their own (`own`), on a database of its own, with the settings of the module's NODE_ENV
(and `own_market`, an open market there): they change role settings for their database and hold
locks."""

import itertools
import secrets
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.api.betmarket_client import admin, client, register
from tests.attack.abuse import admin_token, new_market, own_node
from tests.attack.over_http import RestActor
from tests.attack.victims import Victims
from tests.pgserver import PgServer
from tests.serving import Node
from tests.support.node_fixtures import api_database as api_database
from tests.support.node_fixtures import node as node


@pytest.fixture(scope="module")
def service(node: Node) -> RestActor:
    return RestActor(node, "service", node.service_key)


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


DEFAULT_LIMITS = """
update app.config
set sign_in_limit_per_address = default,
    sign_up_limit_per_address = default,
    refresh_limit_per_address = default,
    address_limit_window = default
"""


@pytest.fixture(scope="session")
def proxied_node(
    pg_server: PgServer, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    proxies = {"WAGERBASE_TRUSTED_PROXIES": "127.0.0.1"}
    folder = tmp_path_factory.mktemp("proxied")
    with own_node(pg_server, template_db, folder, proxies) as started:
        with psycopg.connect(started.database_url, autocommit=True) as conn:
            conn.execute(DEFAULT_LIMITS)  # read at each attempt: in force at once
        yield started


@pytest.fixture
def addresses() -> Iterator[str]:
    """Client addresses no other test uses: 10.<random>.<random>.1, .2, ..."""
    prefix = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    return (f"{prefix}.{n}" for n in itertools.count(1))


@pytest.fixture(scope="module")
def own(
    request: pytest.FixtureRequest,
    pg_server: PgServer,
    template_db: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Node]:
    env: dict[str, str] = getattr(request.module, "NODE_ENV", {})
    folder = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    with own_node(pg_server, template_db, folder, env) as started:
        yield started


@pytest.fixture(scope="module")
def own_market(own: Node) -> int:
    """An open two-outcome market on the module's own node."""
    market_id, _ = new_market(own, admin_token(own))
    return market_id


@pytest.fixture(scope="module")
def victims(node: Node) -> Iterator[Victims]:
    """Bettor A (with a deposit), bettor B and an admin, for the token attacks."""
    with client(node.url) as http:
        a, b = register(http, "victim_a"), register(http, "victim_b")
        a.deposit(50)
        yield Victims(a, b, admin(http, node.database_url), http)
