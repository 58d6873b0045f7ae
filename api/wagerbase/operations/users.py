"""Users: creating them with a hashed password, granting the admin role, signing them out.

The rows are written by SQL functions (rpc/05_users.sql); Python only hashes the password, since
argon2 belongs in the server, not in the database.
"""

import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from wagerbase.accounts import hash_password
from wagerbase.sql_files import statements

QUERIES = statements(__package__, "users.sql")


def create_user(
    conn: psycopg.Connection[Any],
    *,
    username: str | None = None,
    email: str | None = None,
    password: str,
    admin: bool = False,
) -> uuid.UUID:
    """A new user; refused with `user_exists` or `invalid_argument` (see docs/errors.md)."""
    metadata = {"role": "admin"} if admin else {}
    row = conn.execute(
        QUERIES["create_user"],
        {
            "email": email,
            "username": username,
            "password_hash": hash_password(password),
            "app_metadata": Jsonb(metadata),
        },
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def find_user(conn: psycopg.Connection[Any], name: str) -> uuid.UUID | None:
    row = conn.execute(QUERIES["find_user"], {"name": name}).fetchone()
    return None if row is None or row[0] is None else uuid.UUID(str(row[0]))


def set_admin(conn: psycopg.Connection[Any], name: str, admin: bool = True) -> dict[str, Any]:
    """Grant (or withdraw) the admin role; refused with `user_not_found`."""
    row = conn.execute(QUERIES["set_admin"], {"name": name, "admin": admin}).fetchone()
    assert row is not None
    result: dict[str, Any] = row[0]
    return result


def sign_out(conn: psycopg.Connection[Any], name: str, reason: str | None = None) -> dict[str, Any]:
    """End every session of the user (logged as `revoke_sessions`): their access tokens are
    refused at once on every surface. Refused with `user_not_found`."""
    row = conn.execute(QUERIES["revoke_sessions"], {"name": name, "reason": reason}).fetchone()
    assert row is not None
    result: dict[str, Any] = row[0]
    return result
