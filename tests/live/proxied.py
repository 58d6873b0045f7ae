"""A real `wagerbase serve` node whose every database connection goes through a FaultProxy of its
own (tests/faultproxy.py: cut, hold or count what it sends), on a fresh copy of the template
database, with an HTTP client and a signed-in admin: what the unknown-outcome and batched-placement
tests drive."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.api.betmarket_client import User, admin, client
from tests.faultproxy import FaultProxy
from tests.pgserver import PgServer
from tests.serving import Node, new_secret, serving


@dataclass
class Proxied:
    """A node whose every database connection goes through `proxy`; `database` is direct."""

    node: Node
    proxy: FaultProxy
    database: str
    http: httpx.Client
    boss: User


@contextmanager
def proxied_node(
    pg_server: PgServer, template_db: str, name: str, log_path: Path, env: dict[str, str]
) -> Iterator[Proxied]:
    """For the block: database `name` copied from the template, a proxy in front of it, a node
    with settings `env` behind the proxy, and an admin signed in through the node."""
    with pg_server.database_from(template_db, name) as database:
        proxy = FaultProxy(database).start()
        try:
            with (
                serving(Node(proxy.url(database), new_secret(), log_path, env=env)) as node,
                client(node.url) as http,
            ):
                yield Proxied(node, proxy, database, http, admin(http, database))
        finally:
            proxy.stop()
