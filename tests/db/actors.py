"""Actors: personas on their own connection, each call one committed transaction.

For tests that need real concurrency (many connections at once) or committed state (a fresh
database per hypothesis example). `Actor.call` does what a request through the API does: in one
transaction, `set local role`, the JWT claims in `request.jwt.claims`, one public function, commit.
A refused call is rolled back and its psycopg error raised, so the connection is ready again.
Users and markets can be set up as the superuser on another connection (`create_user`).
"""

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg import sql

from tests.db.personas import _adapt, claims_for, create_user
from tests.pgserver import Connection

ERRORS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "errors.md"

# SQLSTATEs a client may see under concurrency and should retry: serialization failure, deadlock.
SERIALIZATION_FAILURE = "40001"
DEADLOCK_DETECTED = "40P01"


def catalog_keys() -> frozenset[str]:
    """Every refusal key of the error catalog, read from docs/errors.md (its Keys table)."""
    text = ERRORS_PAGE.read_text(encoding="utf-8")
    return frozenset(re.findall(r"^\| `([a-z_]+)` \| `PT\d{3}` \|", text, flags=re.MULTILINE))


def refusal(error: psycopg.Error) -> str:
    """What a refusal is known by: its catalog key for a PTxxx error, else its SQLSTATE."""
    sqlstate = error.sqlstate or ""
    if sqlstate.startswith("PT"):
        return error.diag.message_primary or sqlstate
    return sqlstate


class Actor:
    """One persona with one connection (autocommit off) of its own."""

    def __init__(
        self,
        url: str,
        user_id: uuid.UUID | None,
        *,
        admin: bool = False,
        role: str | None = None,
        name: str = "",
    ) -> None:
        self.name = name or (str(user_id) if user_id else (role or "anon"))
        self.user_id = user_id
        self.claims = claims_for(user_id, admin=admin, role=role)
        self.conn: Connection = psycopg.connect(url, autocommit=False)

    def call(self, function: str, **arguments: Any) -> Any:
        """`select public.<function>(name => value, ...)` as this persona in one committed
        transaction; the single value. Lists and dicts go as jsonb, floats as decimals.
        Raises the psycopg error (after rolling back) when the call is refused."""
        query = sql.SQL("select public.{}({})").format(
            sql.Identifier(function),
            sql.SQL(", ").join(
                sql.SQL("{} => {}").format(sql.Identifier(name), sql.Placeholder())
                for name in arguments
            ),
        )
        try:
            self.conn.execute(
                sql.SQL(
                    "set local role {}; select set_config('request.jwt.claims', {}, true)"
                ).format(sql.Identifier(self.claims["role"]), sql.Literal(json.dumps(self.claims)))
            )
            row = self.conn.execute(query, [_adapt(v) for v in arguments.values()]).fetchone()
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        assert row is not None
        return row[0]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def make_users(url: str, names: list[str], *, admin: bool = False) -> dict[str, uuid.UUID]:
    """Users made as the superuser on a connection of their own, committed."""
    with psycopg.connect(url) as conn:
        ids = {name: create_user(conn, name, admin=admin) for name in names}
        conn.commit()
    return ids


@contextmanager
def actors(
    url: str, count: int, user_id: uuid.UUID, *, admin: bool = False
) -> Iterator[list[Actor]]:
    """`count` connections acting as the same user."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(Actor(url, user_id, admin=admin, name=f"actor{i}"))
            for i in range(count)
        ]
