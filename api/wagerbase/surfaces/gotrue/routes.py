"""/auth/v1's routes: sign-up (and anonymous sign-in), password sign-in and refresh (/token),
get-user, update-user, logout, and their router, which also serves the admin API (admin.py).
/signup and /token ignore the Authorization header, which the clients fill with a stale token
(SUPABASE_COMPAT.md 2.1)."""

from typing import Annotated, Any, Literal

import msgspec
import psycopg
from litestar import Request, Router, get, post, put
from litestar.exceptions import HTTPException
from litestar.params import QueryParameter

from wagerbase import accounts
from wagerbase.accounts import Accounts
from wagerbase.errors import ApiError
from wagerbase.http.common import client_address, dependencies
from wagerbase.oidc_flows import OidcFlows
from wagerbase.surfaces.gotrue import admin, oidc, recovery
from wagerbase.surfaces.gotrue.callers import user_claims
from wagerbase.surfaces.gotrue.errors import error_response
from wagerbase.surfaces.gotrue.structs import (
    Session,
    SignUp,
    TokenRequest,
    User,
    UserUpdate,
    documented_errors,
    session,
)
from wagerbase.tokens import Tokens


@post(
    "/signup",
    status_code=200,
    summary="Sign up with an email or a username, or sign in anonymously (no email, no password)",
    responses=documented_errors(400, 422, 429),
)
async def sign_up(request: Request[Any, Any, Any], data: SignUp, auth: Accounts) -> Session:
    address = client_address(request)
    if data.phone:
        raise accounts.refusal(422, "phone_provider_disabled", "Phone signups are disabled")
    username = data.username or (data.data or {}).get("username")
    if username is not None and not isinstance(username, str):
        raise accounts.refusal(400, "validation_failed", "username must be a string")
    if not data.email and username is None and data.password is None:
        return session(await auth.sign_in_anonymously(address=address, data=data.data))
    if not data.password:
        raise accounts.refusal(422, "validation_failed", "Signup requires a valid password")
    return session(
        await auth.sign_up(
            address=address,
            email=data.email,
            username=username,
            password=data.password,
            data=data.data,
        )
    )


@post(
    "/token",
    status_code=200,
    summary="Sign in with a password, refresh a session, or exchange a PKCE auth code",
    responses=documented_errors(400, 429),
)
async def token(
    request: Request[Any, Any, Any],
    data: TokenRequest,
    auth: Accounts,
    flows: OidcFlows,
    grant_type: Literal["password", "refresh_token", "pkce"],
) -> Session:
    address = client_address(request)
    if grant_type == "password":
        identifier = data.email or data.username or data.phone or ""
        signed_in = await auth.sign_in(
            address=address, identifier=identifier, password=data.password or ""
        )
    elif grant_type == "pkce":  # signInWithOAuth's exchangeCodeForSession (oidc.py)
        signed_in = await flows.redeem(data.auth_code, data.code_verifier)
    else:
        if not data.refresh_token:
            raise accounts.refusal(400, "validation_failed", "refresh_token is required.")
        signed_in = await auth.refresh(address=address, refresh_token=data.refresh_token)
    return session(signed_in)


@get(
    "/user",
    summary="The signed-in user (403 session_not_found once the token's session ended)",
    responses=documented_errors(400, 401, 403, 429),
)
async def get_user(request: Request[Any, Any, Any], auth: Accounts, tokens: Tokens) -> User:
    claims = user_claims(request, tokens)
    return msgspec.convert(await auth.user_json(claims), User, strict=False)


@put(
    "/user",
    summary="Change the signed-in user: email, password (ends their other sessions), user_metadata",
    responses=documented_errors(400, 401, 403, 422, 429),
)
async def update_user(
    request: Request[Any, Any, Any], data: UserUpdate, auth: Accounts, tokens: Tokens
) -> User:
    claims = user_claims(request, tokens)
    if data.app_metadata is not None:
        raise accounts.refusal(403, "not_admin", "Updating app_metadata requires admin privileges")
    if data.phone:
        raise accounts.refusal(422, "phone_provider_disabled", "Phone numbers are not supported")
    user = await auth.update_user(
        claims,
        address=client_address(request),
        email=data.email,
        password=data.password,
        data=data.data,
    )
    return msgspec.convert(user, User, strict=False)


@post(
    "/logout",
    status_code=204,
    summary="Sign out (scope: global, local or others); the sessions' access tokens stop at once",
    responses=documented_errors(400, 401, 403, 429),
)
async def logout(
    request: Request[Any, Any, Any],
    auth: Accounts,
    tokens: Tokens,
    sign_out_scope: Annotated[
        Literal["global", "local", "others"], QueryParameter(name="scope")
    ] = "global",
) -> None:
    await auth.sign_out(user_claims(request, tokens), sign_out_scope)


router = Router(
    path="/auth/v1",
    route_handlers=[
        sign_up,
        token,
        get_user,
        update_user,
        logout,
        *admin.HANDLERS,
        *oidc.HANDLERS,
        *recovery.HANDLERS,
    ],
    dependencies=dependencies("auth", "tokens", "flows"),
    exception_handlers={
        ApiError: error_response,
        HTTPException: error_response,
        psycopg.Error: error_response,
    },
    tags=["auth"],
)
