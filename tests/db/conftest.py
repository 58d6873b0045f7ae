"""Personas for the database tests, all in the test's rolled-back transaction (`conn`); and
`live`, for the tests of live messages: a fresh database, one connection that acts and commits,
and a reader of its event stream."""

from collections.abc import Callable, Iterator

import psycopg
import pytest

from tests.db.personas import Persona, anonymous, persona, service
from tests.db.stream import Live, StreamReader
from tests.pgserver import Connection


@pytest.fixture
def admin(conn: Connection) -> Persona:
    return persona(conn, "admin", admin=True)


@pytest.fixture
def bettor(conn: Connection) -> Persona:
    return persona(conn, "bettor")


@pytest.fixture
def other(conn: Connection) -> Persona:
    """Another bettor, to prove that nobody sees or touches someone else's money."""
    return persona(conn, "other")


@pytest.fixture
def anon(conn: Connection) -> Persona:
    return anonymous(conn)


@pytest.fixture
def service_role(conn: Connection) -> Persona:
    return service(conn)


@pytest.fixture
def live(fresh_db: Callable[[], str]) -> Iterator[Live]:
    url = fresh_db()
    with psycopg.connect(url) as actor, StreamReader(url) as stream:
        yield Live(actor, stream)
