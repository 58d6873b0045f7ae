"""One `wagerbase serve` node and its database for every attack test over HTTP and WebSockets
(the fixtures of tests/api, imported); each test makes its own users."""

from tests.api.conftest import api_database, node, unique

__all__ = ["api_database", "node", "unique"]
