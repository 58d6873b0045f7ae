"""Signing up, signing in and sessions, shared by every surface that offers them (GoTrue's
/auth/v1 and BetMarket's /api/auth). Refusals are ApiErrors with GoTrue's codes; a surface that
speaks another dialect maps them.

The rows are written by the private SQL functions of rpc/05_users.sql and rpc/06_sessions.sql,
reached through schema server's (rpc/95_server.sql), the only ones the node's own role may call;
this module only hashes and checks passwords (argon2, off the event loop) and makes tokens.
"""

import asyncio
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from wagerbase.database import Conn, Database
from wagerbase.errors import ApiError
from wagerbase.tokens import Tokens

MIN_PASSWORD = 8
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2 hash: the one way Wagerbase stores a password (sign-up, the CLI)."""
    return _hasher.hash(password)


# Checked when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SignedIn:
    """A new session: the user's GoTrue JSON, an access token and a refresh token."""

    user: dict[str, Any]
    session_id: str
    access_token: str
    expires_at: int
    refresh_token: str


def refusal(status: int, code: str, message: str) -> ApiError:
    return ApiError(status=status, code=code, message=message)


def digest(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def _signed_in(tokens: Tokens, user: dict[str, Any], session_id: str, refresh: str) -> SignedIn:
    access, expires_at = tokens.access_token(user, session_id)
    return SignedIn(user, session_id, access, expires_at, refresh)


async def _open_session(conn: Conn, tokens: Tokens, user_id: str) -> SignedIn:
    session_id = str(uuid.uuid4())
    refresh = secrets.token_urlsafe(32)
    row = await (
        await conn.execute(
            "select server.start_session(%s, %s, %s) as user",
            [user_id, session_id, digest(refresh)],
        )
    ).fetchone()
    assert row is not None
    return _signed_in(tokens, row["user"], session_id, refresh)


async def start_session(db: Database, tokens: Tokens, user_id: str) -> SignedIn:
    async with db.as_server() as conn:
        return await _open_session(conn, tokens, user_id)


async def sign_up(
    db: Database, tokens: Tokens, *, email: str | None, username: str | None, password: str
) -> SignedIn:
    """A new user (never an admin) and their first session.
    Refusals: weak_password, validation_failed, user_already_exists."""
    if len(password) < MIN_PASSWORD:
        raise ApiError(
            status=422,
            code="weak_password",
            message=f"Password should be at least {MIN_PASSWORD} characters.",
            details={"reasons": ["length"]},
        )
    if not email and not username:
        raise refusal(400, "validation_failed", "An email or a username is required.")
    password_hash = await asyncio.to_thread(hash_password, password)
    try:
        # the user and their first session in one transaction: never a user without a session
        async with db.as_server() as conn:
            row = await (
                await conn.execute(
                    "select server.create_user(%s, %s, %s) as id", [email, username, password_hash]
                )
            ).fetchone()
            assert row is not None
            return await _open_session(conn, tokens, str(row["id"]))
    except psycopg.Error as exc:
        key = exc.diag.message_primary
        if key == "user_exists":
            raise refusal(422, "user_already_exists", "User already registered") from exc
        if key == "invalid_argument":
            raise refusal(400, "validation_failed", exc.diag.message_detail or key) from exc
        raise


async def sign_in(
    db: Database, tokens: Tokens, *, identifier: str, password: str, limit: int
) -> SignedIn:
    """A session for the user with this email or username and password, at most `limit`
    attempts a minute per identifier. Refusals: validation_failed, over_request_rate_limit,
    invalid_credentials."""
    identifier = identifier.strip()
    if not identifier or not password:
        raise refusal(
            400, "validation_failed", "An email (or username) and a password are required."
        )
    async with db.as_server() as conn:
        allowed = await (
            await conn.execute("select server.sign_in_allowed(%s, %s) as ok", [identifier, limit])
        ).fetchone()
        found = await (
            await conn.execute("select * from server.user_for_sign_in(%s)", [identifier])
        ).fetchone()
    if not (allowed and allowed["ok"]):
        raise ApiError(
            status=429,
            code="over_request_rate_limit",
            message="Too many sign-in attempts; wait a minute.",
            headers={"Retry-After": "60"},
        )
    stored = found["password_hash"] if found and found["password_hash"] else None
    try:
        await asyncio.to_thread(_hasher.verify, stored or _DUMMY_HASH, password)
        verified = stored is not None
    except (VerificationError, InvalidHashError):
        verified = False
    if not verified or found is None:
        raise refusal(400, "invalid_credentials", "Invalid login credentials")
    return await start_session(db, tokens, str(found["user_id"]))


async def refresh(db: Database, tokens: Tokens, refresh_token: str) -> SignedIn:
    """Use up a refresh token for a new session token pair. Refusals:
    refresh_token_already_used (which also ends the session), refresh_token_not_found."""
    new_refresh = secrets.token_urlsafe(32)
    async with db.as_server() as conn:
        row = await (
            await conn.execute(
                "select server.refresh_session(%s, %s) as result",
                [digest(refresh_token), digest(new_refresh)],
            )
        ).fetchone()
    assert row is not None
    result = row["result"]
    if result["status"] == "refresh_token_already_used":
        raise refusal(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used")
    if result["status"] != "ok":
        raise refusal(
            400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found"
        )
    return _signed_in(tokens, result["user"], result["session_id"], new_refresh)


async def sign_out(db: Database, user_id: str, session_id: str | None, scope: str) -> None:
    async with db.as_server() as conn:
        await conn.execute("select server.end_sessions(%s, %s, %s)", [user_id, session_id, scope])


async def user_json(db: Database, user_id: str) -> dict[str, Any] | None:
    """The GoTrue User object, or None for a deleted or unknown user."""
    async with db.as_server() as conn:
        row = await (
            await conn.execute("select server.user_json(%s) as user", [user_id])
        ).fetchone()
    return None if row is None else row["user"]
