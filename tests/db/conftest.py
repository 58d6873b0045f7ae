"""Personas for the database tests, all in the test's rolled-back transaction (`conn`); and
`live`, for the tests of live messages: a fresh database, one connection that acts and commits,
and a reader of its event stream; `committed`, a fresh database with three admins and two bettors
committed, for tests whose calls commit (the settlement review's messages and races); and `people`,
an admin and two bettors committed to `live`'s database."""

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

from tests.db.personas import Persona, anonymous, create_user, persona, service
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


@pytest.fixture
def committed(fresh_db: Callable[[], str]) -> Iterator[tuple[str, dict[str, uuid.UUID]]]:
    """A fresh database with two admins, a third admin and two bettors, committed."""
    url = fresh_db()
    with psycopg.connect(url) as conn:
        users = {
            name: create_user(conn, name, admin=name.startswith("admin"))
            for name in ("admin1", "admin2", "admin3", "bettor1", "bettor2")
        }
        conn.commit()
    yield url, users


@pytest.fixture
def people(live: Live) -> tuple[Persona, Persona, Persona]:
    """An admin and two bettors, committed to the fresh database."""
    made = (
        persona(live.actor, "admin", admin=True),
        persona(live.actor, "bettor"),
        persona(live.actor, "other"),
    )
    live.actor.commit()
    return made
