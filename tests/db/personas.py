"""Personas for database tests: act as anonymous, a bettor or an admin, exactly as a request does.

Each call runs inside the current transaction as `set local role <role>` plus the JWT claims in
`request.jwt.claims`, the same two settings the API (and PostgREST) apply, then switches back to
the test's own superuser role. A call that is expected to fail runs in a savepoint, so the test's
transaction carries on.
"""

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from tests.pgserver import Connection


def create_user(conn: Connection, username: str, *, admin: bool = False) -> uuid.UUID:
    """A user in auth.users (and its profile), as sign-up would make it; admin via app_metadata."""
    user_id = uuid.uuid4()
    app_metadata = {"provider": "email", "providers": ["email"]}
    if admin:
        app_metadata["role"] = "admin"
    conn.execute(
        "insert into auth.users (id, email, raw_app_meta_data) values (%s, %s, %s)",
        [user_id, f"{username}@example.test", json.dumps(app_metadata)],
    )
    conn.execute(
        "insert into app.profiles (user_id, username) values (%s, %s)", [user_id, username]
    )
    return user_id


def claims_for(
    user_id: uuid.UUID | None, *, admin: bool = False, role: str | None = None
) -> dict[str, Any]:
    """The claims an access token for this user carries (anon when user_id is None)."""
    if user_id is None:
        return {"role": role or "anon"}
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": role or "authenticated",
        "aud": "authenticated",
        "app_metadata": {"role": "admin"} if admin else {},
    }
    return claims


@dataclass
class Persona:
    """Someone calling the engine: `call` runs one public function as them."""

    conn: Connection
    name: str
    user_id: uuid.UUID | None
    claims: dict[str, Any]

    @contextmanager
    def acting(self) -> Iterator[None]:
        """Run the block as this persona, then return to the test's superuser."""
        self.conn.execute(
            "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
            [self.claims["role"], json.dumps(self.claims)],
        )
        try:
            yield
        finally:
            if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
                self.conn.execute("reset role; select set_config('request.jwt.claims', '', true)")

    def call(self, function: str, **arguments: Any) -> Any:
        """`select public.<function>(name => value, ...)` as this persona; the single value.
        Lists and dicts go as jsonb, floats as decimals (see _adapt)."""
        query = sql.SQL("select public.{}({})").format(
            sql.Identifier(function),
            sql.SQL(", ").join(
                sql.SQL("{} => {}").format(sql.Identifier(name), sql.Placeholder())
                for name in arguments
            ),
        )
        with self.acting():
            values = [_adapt(v) for v in arguments.values()]
            row = self.conn.execute(query, values).fetchone()
        assert row is not None
        return row[0]

    def rows(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Any query (views, set-returning functions) as this persona."""
        with self.acting():
            return self.conn.execute(query, params or []).fetchall()

    def refused(self, key: str, function: str, **arguments: Any) -> psycopg.Error:
        """Call `function` and assert it is refused with the catalog key `key` (message field).
        The call runs in a savepoint, so the test's transaction goes on. Returns the error."""
        with pytest.raises(psycopg.Error) as caught, self.conn.transaction():
            self.call(function, **arguments)
        error = caught.value
        assert error.diag.message_primary == key, (
            f"{function} as {self.name}: expected {key}, got {error.sqlstate} "
            f"{error.diag.message_primary}: {error.diag.message_detail}"
        )
        return error

    def denied(self, query: str, params: list[Any] | None = None) -> psycopg.Error:
        """Run `query` and assert PostgreSQL refuses it for lack of privilege (42501)."""
        with pytest.raises(psycopg.Error) as caught, self.conn.transaction():
            self.rows(query, params)
        assert caught.value.sqlstate == "42501", caught.value
        return caught.value


def _adapt(value: Any) -> Any:
    """Lists and dicts as jsonb; floats as exact decimals (odds are numeric, never float)."""
    if isinstance(value, list | dict):
        return Jsonb(value)
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def detail(error: psycopg.Error) -> dict[str, Any]:
    """The JSON object in a refusal's detail."""
    found: dict[str, Any] = json.loads(error.diag.message_detail or "{}")
    return found


def persona(conn: Connection, name: str, *, admin: bool = False) -> Persona:
    """A new user and the persona that acts as them."""
    user_id = create_user(conn, name, admin=admin)
    return Persona(conn, name, user_id, claims_for(user_id, admin=admin))


def anonymous(conn: Connection) -> Persona:
    return Persona(conn, "anonymous", None, claims_for(None))


def service(conn: Connection) -> Persona:
    return Persona(conn, "service", None, claims_for(None, role="service_role"))
