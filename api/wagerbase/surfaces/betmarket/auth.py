"""/api/auth: register, sign in, sign out (wagerbase.accounts, as GoTrue's /auth/v1), and the
guard of the routes that need a signed-in caller. Registration never grants admin."""

from typing import Any, cast

from litestar import Request, post
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from wagerbase import accounts
from wagerbase.accounts import Accounts
from wagerbase.errors import ApiError
from wagerbase.http.common import bearer, caller_claims, client_address
from wagerbase.surfaces.betmarket.answers import BAD_REQUEST, BUSY, LoggedOut, Session, spec
from wagerbase.surfaces.betmarket.bodies import Credentials, Registration
from wagerbase.tokens import Claims, Tokens


async def requires_sign_in(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: a valid user (or service) token, checked before the body is read. Admin rights
    are the engine's to check."""
    request = cast("Request[Any, Any, Any]", connection)
    claims = caller_claims(request, connection.app.state.tokens)
    if claims["role"] == "anon":
        raise ApiError(
            status=401,
            code="not_authenticated",
            message="Sign in first: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.claims = claims


def provide_claims(request: Request[Any, Any, Any]) -> Claims:
    claims: Claims = request.state.claims
    return claims


def _session(signed_in: accounts.SignedIn) -> Session:
    """The answer of a sign-in: isAdmin is the engine's word (server.acts_as_admin), asked in
    the statement that opened the session."""
    return Session(
        token=signed_in.access_token,
        id=str(signed_in.user["id"]),
        isAdmin=signed_in.acts_as_admin,
        expiryTimeEpochSeconds=signed_in.expires_at,
    )


_TOO_MANY = spec(
    "Too many attempts from this address (or, for a sign-in, for this username), too many "
    "passwords being checked at once, or the node busy: nothing was done; wait Retry-After "
    "seconds"
)


@post(
    "/auth/register",
    status_code=200,
    summary="Register and sign in at once (never as an admin)",
    responses={**BAD_REQUEST, 409: spec("The username is taken"), 429: _TOO_MANY},
)
async def register(request: Request[Any, Any, Any], data: Registration, auth: Accounts) -> Session:
    return _session(
        await auth.sign_up(
            address=client_address(request),
            email=None,
            username=data.username,
            password=data.password,
        )
    )


@post(
    "/auth/login",
    status_code=200,
    summary="Sign in with a username and a password",
    responses={**BAD_REQUEST, 401: spec("Wrong username or password"), 429: _TOO_MANY},
)
async def login(request: Request[Any, Any, Any], data: Credentials, auth: Accounts) -> Session:
    return _session(
        await auth.sign_in(
            address=client_address(request), identifier=data.username, password=data.password
        )
    )


@post(
    "/auth/logout",
    status_code=200,
    summary="End the session of the token (if any): its access tokens stop at once",
    responses={**BUSY, 401: spec("A token that is not valid")},
)
async def logout(request: Request[Any, Any, Any], auth: Accounts, tokens: Tokens) -> LoggedOut:
    token = bearer(request)
    if token is not None:
        claims = caller_claims(request, tokens)
        if claims["role"] == "authenticated":
            await auth.end_session(claims)
    return LoggedOut(status="ok")
