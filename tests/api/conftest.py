"""A running API node for the HTTP tests: `wagerbase serve` on its own migrated database."""

from collections.abc import Callable, Iterator

import pytest

from tests.pgserver import PgServer, unique_name
from tests.serving import Node, new_secret, serving


@pytest.fixture(scope="session")
def api_database(pg_server: PgServer, template_db: str) -> Iterator[str]:
    with pg_server.database_from(template_db, "wb_api") as url:
        yield url


@pytest.fixture(scope="session")
def node(api_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One API node for the whole session; tests make their own users so they never collide."""
    log = tmp_path_factory.mktemp("node") / "serve.log"
    with serving(Node(api_database, new_secret(), log)) as started:
        yield started


@pytest.fixture
def unique() -> Callable[[str], str]:
    """unique('alice') -> 'alice_1a2b3c4d': names that cannot collide across tests."""
    return lambda prefix: unique_name(prefix)
