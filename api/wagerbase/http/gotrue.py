"""/auth/v1: the subset of GoTrue (Supabase Auth) the official clients use.

sign-up, password sign-in, refresh-token rotation, get-user, logout. Users sign up with an email
or a username; admin is never granted here (app_metadata is the server's). Errors use GoTrue's
2024-01-01 shape {code, message} with the X-Supabase-Api-Version header, so supabase-py maps
`code`. /signup and /token ignore the Authorization header, which the clients fill with a stale
token (SUPABASE_COMPAT.md 2.1). Sign-ups, sign-ins and refreshes are limited per client address
(429 `over_request_rate_limit` with Retry-After, as GoTrue answers); /user and /logout refuse a
token whose session ended with GoTrue's 403 `session_not_found`.
"""

from typing import Annotated, Any, Literal

import msgspec
import psycopg
from litestar import Request, Response, Router, get, post
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from wagerbase import accounts
from wagerbase.accounts import Accounts
from wagerbase.errors import STATEMENT_TIMEOUT, ApiError, from_database
from wagerbase.http.common import bearer, client_address, provide_accounts, provide_tokens
from wagerbase.tokens import ACCESS_TOKEN_SECONDS, Claims, TokenError, Tokens

API_VERSION = "2024-01-01"
RATE_LIMITED = "over_request_rate_limit"  # GoTrue's code for every 429


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


class AuthError(msgspec.Struct):
    """GoTrue's error body (API version 2024-01-01)."""

    code: str
    message: str


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(data_container=AuthError, description="refused; see `code`")
        for status in statuses
    }


class Session(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
    expires_at: int
    refresh_token: str
    user: User


def _session(signed_in: accounts.SignedIn) -> Session:
    return Session(
        access_token=signed_in.access_token,
        token_type="bearer",
        expires_in=ACCESS_TOKEN_SECONDS,
        expires_at=signed_in.expires_at,
        refresh_token=signed_in.refresh_token,
        user=msgspec.convert(signed_in.user, User, strict=False),
    )


@post(
    "/signup",
    status_code=200,
    summary="Sign up with an email or a username",
    responses=_errors(400, 422, 429),
)
async def sign_up(request: Request[Any, Any, Any], data: SignUp, auth: Accounts) -> Session:
    username = data.username or (data.data or {}).get("username")
    if username is not None and not isinstance(username, str):
        raise accounts.refusal(400, "validation_failed", "username must be a string")
    return _session(
        await auth.sign_up(
            address=client_address(request),
            email=data.email,
            username=username,
            password=data.password,
        )
    )


@post(
    "/token",
    status_code=200,
    summary="Sign in with a password, or refresh a session",
    responses=_errors(400, 429),
)
async def token(
    request: Request[Any, Any, Any],
    data: TokenRequest,
    auth: Accounts,
    grant_type: Literal["password", "refresh_token"],
) -> Session:
    address = client_address(request)
    if grant_type == "password":
        identifier = data.email or data.username or data.phone or ""
        signed_in = await auth.sign_in(
            address=address, identifier=identifier, password=data.password or ""
        )
    else:
        if not data.refresh_token:
            raise accounts.refusal(400, "validation_failed", "refresh_token is required.")
        signed_in = await auth.refresh(address=address, refresh_token=data.refresh_token)
    return _session(signed_in)


def _user_claims(request: Request[Any, Any, Any], tokens: Tokens) -> Claims:
    token_text = bearer(request)
    if token_text is None:
        raise accounts.refusal(401, "no_authorization", "This endpoint requires a Bearer token")
    try:
        claims = tokens.verify(token_text)
    except TokenError as exc:
        raise accounts.refusal(403, "bad_jwt", f"invalid JWT: {exc.reason}") from exc
    if claims.get("role") != "authenticated":
        raise accounts.refusal(403, "bad_jwt", "invalid JWT: not a user's token")
    request.state.role = "authenticated"
    request.state.user_id = claims["sub"]
    return claims


@get(
    "/user",
    summary="The signed-in user (403 session_not_found once the token's session ended)",
    responses=_errors(400, 401, 403, 429),
)
async def get_user(request: Request[Any, Any, Any], auth: Accounts, tokens: Tokens) -> User:
    claims = _user_claims(request, tokens)
    return msgspec.convert(await auth.user_json(claims), User, strict=False)


@post(
    "/logout",
    status_code=204,
    summary="Sign out (scope: global, local or others); the sessions' access tokens stop at once",
    responses=_errors(400, 401, 403, 429),
)
async def logout(
    request: Request[Any, Any, Any],
    auth: Accounts,
    tokens: Tokens,
    sign_out_scope: Annotated[
        Literal["global", "local", "others"], QueryParameter(name="scope")
    ] = "global",
) -> None:
    await auth.sign_out(_user_claims(request, tokens), sign_out_scope)


def _error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, ApiError):
        status, code, message = exc.status, exc.code, exc.message
        if status == 429:  # the node's limits (admission.py) speak GoTrue's code for a 429 here
            code = RATE_LIMITED
        headers = dict(exc.headers)
        body: dict[str, Any] = {"code": code, "message": message}
        if code == "weak_password" and isinstance(exc.details, dict):
            body["weak_password"] = exc.details
    elif isinstance(exc, ValidationException):
        status, headers = 400, {}
        body = {"code": "validation_failed", "message": str(exc.detail), "details": exc.extra}
    elif isinstance(exc, psycopg.Error):
        # input PostgreSQL cannot take (a NUL byte in a string), a statement past its limit, a
        # lock wait past lock_timeout (429, nothing done) or a database outage
        error = from_database(exc, "anon")
        status, headers = error.status, dict(error.headers)
        code = "validation_failed" if status < 500 else "unexpected_failure"
        message = error.message
        if exc.sqlstate == STATEMENT_TIMEOUT:
            code, message = "request_timeout", error.hint or message
        elif status == 429:
            code, message = RATE_LIMITED, error.hint or message
        body = {"code": code, "message": message}
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
        "auth": Provide(provide_accounts, sync_to_thread=False),
        "tokens": Provide(provide_tokens, sync_to_thread=False),
    },
    exception_handlers={
        ApiError: _error_response,
        HTTPException: _error_response,
        psycopg.Error: _error_response,
    },
    tags=["auth"],
)
