"""One `wagerbase serve` node and its database for every attack test over HTTP and WebSockets
(the fixtures of tests/api, imported); each test makes its own users. The abuse tests
(test_abuse_*.py) each get a node of their own instead (`own`), on a database of its own, with the
settings of the module's NODE_ENV (and `own_market`, an open market there): they change role
settings for their database and hold locks."""

from collections.abc import Iterator

import pytest

from tests.api.conftest import api_database, node, unique
from tests.attack.abuse import admin_token, new_market, own_node
from tests.pgserver import PgServer
from tests.serving import Node

__all__ = ["api_database", "node", "own", "own_market", "unique"]


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
