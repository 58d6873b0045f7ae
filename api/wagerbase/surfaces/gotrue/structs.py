"""What GoTrue's /auth/v1 is sent and answers: its request bodies, its User and Session, and its
error body (API version 2024-01-01)."""

from typing import Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec

from wagerbase import accounts
from wagerbase.tokens import ACCESS_TOKEN_SECONDS


class SignUp(msgspec.Struct):
    """A sign-up: an email or a username with a password; with none of the four, an anonymous
    sign-in (supabase-js's signInAnonymously). `data` becomes user_metadata."""

    password: str | None = None
    email: str | None = None
    username: str | None = None
    phone: str | None = None
    data: dict[str, Any] | None = None


class UserUpdate(msgspec.Struct):
    """supabase-js's updateUser: any of a new email, a new password, user_metadata to merge
    (`data`). `app_metadata` is refused (an admin's); `phone` is not supported."""

    email: str | None = None
    password: str | None = None
    data: dict[str, Any] | None = None
    phone: str | None = None
    app_metadata: dict[str, Any] | None = None


class TokenRequest(msgspec.Struct):
    password: str | None = None
    email: str | None = None
    username: str | None = None
    phone: str | None = None
    refresh_token: str | None = None
    auth_code: str | None = None  # grant_type=pkce
    code_verifier: str | None = None


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
    identities: list[dict[str, Any]] = msgspec.field(default_factory=list)


class AuthError(msgspec.Struct):
    """GoTrue's error body for a request that names API version 2024-01-01 (the header
    X-Supabase-Api-Version, which supabase-js and supabase-py send); without it GoTrue's first
    shape, {code: <HTTP status>, error_code, msg}."""

    code: str
    message: str


class LegacyAuthError(msgspec.Struct):
    """GoTrue's first error body, for a request that names no API version (curl, older clients):
    the HTTP status as `code`, GoTrue's code as `error_code`, the words as `msg`."""

    code: int
    error_code: str
    msg: str


# Either body: Litestar documents a union as oneOf, but ResponseSpec's annotation names one type,
# which mypy holds a union to once attrs is installed (aiosmtpd brings it), hence Any.
ERROR_BODIES: Any = AuthError | LegacyAuthError


def documented_errors(*statuses: int) -> dict[int, ResponseSpec]:
    """Either of GoTrue's two error bodies, by the request's X-Supabase-Api-Version."""
    return {
        status: ResponseSpec(
            data_container=ERROR_BODIES,
            description="refused; see `code` (or, without an API version, `error_code`)",
        )
        for status in statuses
    }


class Session(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
    expires_at: int
    refresh_token: str
    user: User


def session(signed_in: accounts.SignedIn) -> Session:
    return Session(
        access_token=signed_in.access_token,
        token_type="bearer",
        expires_in=ACCESS_TOKEN_SECONDS,
        expires_at=signed_in.expires_at,
        refresh_token=signed_in.refresh_token,
        user=msgspec.convert(signed_in.user, User, strict=False),
    )
