"""/auth/v1: the subset of GoTrue (Supabase Auth) the official clients use.

sign-up, password sign-in, refresh-token rotation, get-user, logout. Users sign up with an email
or a username; admin is never granted here (app_metadata is the server's). Errors use GoTrue's
2024-01-01 shape {code, message} with the X-Supabase-Api-Version header, so supabase-py maps
`code`. /signup and /token ignore the Authorization header, which the clients fill with a stale
token (SUPABASE_COMPAT.md 2.1).
"""

import asyncio
import hashlib
import secrets
import uuid
from typing import Any, Literal

import msgspec
import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar import Request, Response, Router, get, post
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import QueryParameter

from wagerbase.database import Database
from wagerbase.errors import ApiError
from wagerbase.http.common import bearer, provide_db, provide_tokens
from wagerbase.tokens import ACCESS_TOKEN_SECONDS, TokenError, Tokens

API_VERSION = "2024-01-01"
MIN_PASSWORD = 8
_hasher = PasswordHasher()
# Checked when the user does not exist, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class SignUp(msgspec.Struct):
    password: str
    email: str | None = None
    username: str | None = None
    phone: str | None = None
    data: dict[str, Any] | None = None


class TokenRequest(msgspec.Struct):
    password: str | None = None
    email: str | None = None
    username: str | None = None
    phone: str | None = None
    refresh_token: str | None = None


class User(msgspec.Struct):
    id: str
    aud: str
    role: str
    email: str
    app_metadata: dict[str, Any]
    user_metadata: dict[str, Any]
    created_at: str
    updated_at: str
    is_anonymous: bool
    phone: str = ""
    email_confirmed_at: str | None = None
    confirmed_at: str | None = None
    last_sign_in_at: str | None = None
    identities: list[Any] = msgspec.field(default_factory=list)


class Session(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
    expires_at: int
    refresh_token: str
    user: User


def _digest(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def _new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def _session(tokens: Tokens, user: dict[str, Any], session_id: str, refresh: str) -> Session:
    access, expires_at = tokens.access_token(user, session_id)
    return Session(
        access_token=access,
        token_type="bearer",
        expires_in=ACCESS_TOKEN_SECONDS,
        expires_at=expires_at,
        refresh_token=refresh,
        user=msgspec.convert(user, User, strict=False),
    )


def _auth_error(status: int, code: str, message: str) -> ApiError:
    return ApiError(status=status, code=code, message=message)


async def _start_session(db: Database, tokens: Tokens, user_id: str) -> Session:
    session_id = str(uuid.uuid4())
    refresh = _new_refresh_token()
    async with db.as_server() as conn:
        row = await (
            await conn.execute(
                "select app._start_session(%s, %s, %s) as user",
                [user_id, session_id, _digest(refresh)],
            )
        ).fetchone()
    assert row is not None
    return _session(tokens, row["user"], session_id, refresh)


@post("/signup", status_code=200, summary="Sign up with an email or a username")
async def sign_up(data: SignUp, db: Database, tokens: Tokens) -> Session:
    if len(data.password) < MIN_PASSWORD:
        raise ApiError(
            status=422,
            code="weak_password",
            message=f"Password should be at least {MIN_PASSWORD} characters.",
            details={"reasons": ["length"]},
        )
    username = data.username or (data.data or {}).get("username")
    if not data.email and not username:
        raise _auth_error(400, "validation_failed", "An email or a username is required.")
    password_hash = await asyncio.to_thread(_hasher.hash, data.password)
    try:
        async with db.as_server() as conn:
            row = await (
                await conn.execute(
                    "select app._create_user(%s, %s, %s) as id",
                    [data.email, username, password_hash],
                )
            ).fetchone()
    except psycopg.Error as exc:
        key = exc.diag.message_primary
        if key == "user_exists":
            raise _auth_error(422, "user_already_exists", "User already registered") from exc
        if key == "invalid_argument":
            raise _auth_error(400, "validation_failed", exc.diag.message_detail or key) from exc
        raise
    assert row is not None
    return await _start_session(db, tokens, str(row["id"]))


async def _password_grant(data: TokenRequest, db: Database, tokens: Tokens, limit: int) -> Session:
    identifier = (data.email or data.username or data.phone or "").strip()
    if not identifier or not data.password:
        raise _auth_error(
            400, "validation_failed", "An email (or username) and a password are required."
        )
    async with db.as_server() as conn:
        allowed = await (
            await conn.execute("select app._sign_in_allowed(%s, %s) as ok", [identifier, limit])
        ).fetchone()
        found = await (
            await conn.execute("select * from app._user_for_sign_in(%s)", [identifier])
        ).fetchone()
    if not (allowed and allowed["ok"]):
        raise ApiError(
            status=429,
            code="over_request_rate_limit",
            message="Too many sign-in attempts; wait a minute.",
            headers={"Retry-After": "60"},
        )
    stored = (found or {}).get("password_hash") or _DUMMY_HASH
    try:
        await asyncio.to_thread(_hasher.verify, stored, data.password)
        verified = found is not None and found.get("password_hash") is not None
    except (VerificationError, InvalidHashError):
        verified = False
    if not verified or found is None:
        raise _auth_error(400, "invalid_credentials", "Invalid login credentials")
    return await _start_session(db, tokens, str(found["user_id"]))


async def _refresh_grant(data: TokenRequest, db: Database, tokens: Tokens) -> Session:
    if not data.refresh_token:
        raise _auth_error(400, "validation_failed", "refresh_token is required.")
    refresh = _new_refresh_token()
    async with db.as_server() as conn:
        row = await (
            await conn.execute(
                "select app._refresh_session(%s, %s) as result",
                [_digest(data.refresh_token), _digest(refresh)],
            )
        ).fetchone()
    assert row is not None
    result = row["result"]
    status = result["status"]
    if status == "refresh_token_already_used":
        raise _auth_error(400, status, "Invalid Refresh Token: Already Used")
    if status != "ok":
        raise _auth_error(
            400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found"
        )
    return _session(tokens, result["user"], result["session_id"], refresh)


@post("/token", status_code=200, summary="Sign in with a password, or refresh a session")
async def token(
    request: Request[Any, Any, Any],
    data: TokenRequest,
    db: Database,
    tokens: Tokens,
    grant_type: Literal["password", "refresh_token"],
) -> Session:
    if grant_type == "password":
        return await _password_grant(data, db, tokens, request.app.state.config.sign_in_limit)
    return await _refresh_grant(data, db, tokens)


def _user_claims(request: Request[Any, Any, Any], tokens: Tokens) -> dict[str, Any]:
    token_text = bearer(request)
    if token_text is None:
        raise _auth_error(401, "no_authorization", "This endpoint requires a Bearer token")
    try:
        claims = tokens.verify(token_text)
    except TokenError as exc:
        raise _auth_error(403, "bad_jwt", f"invalid JWT: {exc.reason}") from exc
    if claims.get("role") != "authenticated":
        raise _auth_error(403, "bad_jwt", "invalid JWT: not a user's token")
    request.state.role = "authenticated"
    request.state.user_id = claims["sub"]
    return claims


@get("/user", summary="The signed-in user")
async def get_user(request: Request[Any, Any, Any], db: Database, tokens: Tokens) -> User:
    claims = _user_claims(request, tokens)
    async with db.as_server() as conn:
        row = await (
            await conn.execute("select app._user_json(%s) as user", [claims["sub"]])
        ).fetchone()
    if row is None or row["user"] is None:
        raise _auth_error(403, "user_not_found", "User from sub claim in JWT does not exist")
    return msgspec.convert(row["user"], User, strict=False)


@post("/logout", status_code=204, summary="Sign out (scope: global, local or others)")
async def logout(
    request: Request[Any, Any, Any],
    db: Database,
    tokens: Tokens,
    sign_out_scope: Literal["global", "local", "others"] = QueryParameter(
        name="scope", default="global"
    ),
) -> None:
    claims = _user_claims(request, tokens)
    async with db.as_server() as conn:
        await conn.execute(
            "select app._end_sessions(%s, %s, %s)",
            [claims["sub"], claims.get("session_id"), sign_out_scope],
        )


def _error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, ApiError):
        status, code, message = exc.status, exc.code, exc.message
        headers = dict(exc.headers)
        body: dict[str, Any] = {"code": code, "message": message}
        if code == "weak_password" and isinstance(exc.details, dict):
            body["weak_password"] = exc.details
    elif isinstance(exc, ValidationException):
        status, headers = 400, {}
        body = {"code": "validation_failed", "message": str(exc.detail), "details": exc.extra}
    elif isinstance(exc, HTTPException):
        status, headers = exc.status_code, dict(exc.headers or {})
        body = {"code": str(exc.status_code), "message": str(exc.detail)}
    else:
        raise exc
    headers["X-Supabase-Api-Version"] = API_VERSION
    return Response(body, status_code=status, headers=headers)


router = Router(
    path="/auth/v1",
    route_handlers=[sign_up, token, get_user, logout],
    dependencies={
        "db": Provide(provide_db, sync_to_thread=False),
        "tokens": Provide(provide_tokens, sync_to_thread=False),
    },
    exception_handlers={ApiError: _error_response, HTTPException: _error_response},
    tags=["auth"],
)
