"""Fixtures shared by the live tests: `rt_node`, a `wagerbase serve` node on `rt_database`, a copy
of the template database of its own, for the Supabase Realtime tests (each module gets its own
node and database; the helpers that talk to them are in realtime_fixtures.py); `rooms_nodes`, two
nodes of one deployment on `rt_database`, for what Realtime's clients send each other. And for the
tests of BetMarket's /ws: `node_a` and `node_b`, two nodes on `live_database` (again each module
its own), an HTTP client and an admin on them, `sockets` that close after the test, and the
`marker` (tests/live/betmarket.py). And `proxied`, a node behind a fault proxy on a database of its
own, resolving an unknown outcome for WINDOW seconds, for the unknown-outcome tests."""

import shutil
import subprocess
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.api.betmarket_client import User, admin, client
from tests.live.betmarket import Marker, running_node
from tests.live.node_js import WEB
from tests.live.outcomes import WINDOW
from tests.live.proxied import Proxied, proxied_node
from tests.live.sockets import Socket
from tests.pgserver import PgServer
from tests.serving import REPO, Node, new_secret, serving


@pytest.fixture(scope="module")
def rt_database(pg_server: PgServer, template_db: str) -> Iterator[str]:
    with pg_server.database_from(template_db, "wb_rt") as url:
        yield url


@pytest.fixture(scope="module")
def rt_node(rt_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with serving(
        Node(rt_database, new_secret(), tmp_path_factory.mktemp("rt") / "serve.log")
    ) as started:
        yield started


# Two nodes on one database -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_database(pg_server: PgServer, template_db: str) -> Iterator[str]:
    with pg_server.database_from(template_db, "wb_live") as url:
        yield url


@pytest.fixture(scope="module")
def secret() -> str:
    return new_secret()


@pytest.fixture(scope="module")
def node_a(
    live_database: str, secret: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    yield from running_node(live_database, secret, tmp_path_factory.mktemp("ws") / "node_a.log")


@pytest.fixture(scope="module")
def node_b(
    live_database: str, secret: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    yield from running_node(live_database, secret, tmp_path_factory.mktemp("ws") / "node_b.log")


@pytest.fixture(scope="module")
def http_a(node_a: Node) -> Iterator[httpx.Client]:
    with client(node_a.url) as http:
        yield http


@pytest.fixture(scope="module")
def http_b(node_b: Node) -> Iterator[httpx.Client]:
    with client(node_b.url) as http:
        yield http


@pytest.fixture(scope="module")
def boss(http_a: httpx.Client, live_database: str) -> User:
    return admin(http_a, live_database)


@pytest.fixture
def sockets() -> Iterator[Callable[[Node, str], Socket]]:
    opened: list[Socket] = []

    def open_socket(node: Node, name: str) -> Socket:
        socket = Socket(node, name)
        opened.append(socket)
        return socket

    yield open_socket
    for socket in opened:
        socket.close()


@pytest.fixture(scope="module")
def marker(http_a: httpx.Client, boss: User, live_database: str) -> Marker:
    return Marker(http_a, boss, live_database)


# A node behind a fault proxy ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxied(
    pg_server: PgServer, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxied]:
    log_path = tmp_path_factory.mktemp("outcome") / "serve.log"
    env = {"WAGERBASE_OUTCOME_WINDOW": WINDOW}
    with proxied_node(pg_server, template_db, "wb_outcome", log_path, env) as setup:
        yield setup


# Two nodes on one database, as two API nodes of one deployment (the same secret), for what
# Realtime's clients send each other across nodes; limits small enough to reach in a test, and
# presences of a node silent for 3 s removed (a node beats every second).
ROOMS_ENV = {
    "WAGERBASE_PRESENCE_TTL_SECONDS": "3",
    "WAGERBASE_BROADCAST_BYTES": "4096",
    "WAGERBASE_SOCKET_MESSAGES": "20",
    "WAGERBASE_PRESENCE_BYTES": "512",
    "WAGERBASE_TOPIC_PRESENCES": "4",
}


@pytest.fixture(scope="module")
def rooms_nodes(
    rt_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Node, Node]]:
    secret, folder = new_secret(), tmp_path_factory.mktemp("rooms")
    first, second = (
        Node(rt_database, secret, folder / f"{name}.log", env=dict(ROOMS_ENV))
        for name in ("a", "b")
    )
    first.start()
    try:
        second.start()
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


@pytest.fixture(scope="module")
def node_binary() -> str:
    """Node, for the official realtime-js client (tests/live/node_js.py); skips without it."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the web app needs Node.js 20)")
    if not (WEB / "node_modules" / "@supabase" / "supabase-js").is_dir():
        subprocess.run(["bash", "-c", "source scripts/_web.sh"], cwd=REPO, check=True)
    return node
