"""GoTrue's admin API, `/auth/v1/admin/users` (supabase-js's and supabase-py's `auth.admin`): list
users a page at a time, make, read, change and delete one, with the service key only (GoTrue's
admin roles; 401 without a token, 403 `not_admin` with any other). Each change is one call of a
`server.admin_*` function, logged in app.admin_actions by the service role. A deletion is soft
(`deleted_at`: wallets and the ledger name the user), whatever `should_soft_delete` says."""

import uuid
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, delete, get, post, put

from wagerbase import accounts
from wagerbase.accounts import Accounts
from wagerbase.surfaces.gotrue.callers import service_claims
from wagerbase.surfaces.gotrue.structs import User, documented_errors
from wagerbase.tokens import Tokens

DEFAULT_PER_PAGE = 50  # GoTrue's
MAX_PER_PAGE = 1000


class AdminUserAttributes(msgspec.Struct):
    """supabase-js's AdminUserAttributes, what Wagerbase takes of them: email, password,
    user_metadata, app_metadata (merged: `{"role": "admin"}` makes an admin, `{"role": null}`
    unmakes one). `email_confirm` is accepted and changes nothing (every email is confirmed);
    the others GoTrue knows are refused."""

    email: str | None = None
    password: str | None = None
    user_metadata: dict[str, Any] | None = None
    app_metadata: dict[str, Any] | None = None
    email_confirm: bool | None = None
    phone: str | None = None
    phone_confirm: bool | None = None
    ban_duration: str | None = None
    role: str | None = None
    password_hash: str | None = None
    id: str | None = None


class UserList(msgspec.Struct):
    users: list[User]
    aud: str = "authenticated"


def _unsupported(data: AdminUserAttributes) -> None:
    """Refuse what GoTrue's admin API takes and Wagerbase does not (rather than ignore it)."""
    if data.phone or data.phone_confirm:
        raise accounts.refusal(422, "phone_provider_disabled", "Phone numbers are not supported")
    for name, value in (
        ("ban_duration", None if data.ban_duration in (None, "none") else data.ban_duration),
        ("role", None if data.role in (None, "authenticated") else data.role),
        ("password_hash", data.password_hash),
        ("id", data.id),
    ):
        if value is not None:
            raise accounts.refusal(400, "validation_failed", f"{name} is not supported here")


def _page_number(text: str | None, default: int, name: str) -> int:
    """A page or page size from the query string: empty (supabase-js sends `page=`) is the
    default."""
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise accounts.refusal(400, "validation_failed", f"{name} must be a number") from None


def _user(raw: dict[str, Any]) -> User:
    return msgspec.convert(raw, User, strict=False)


@get(
    "/admin/users",
    summary="List users, newest first, a page at a time (service key)",
    responses=documented_errors(400, 401, 403),
)
async def list_users(
    request: Request[Any, Any, Any],
    auth: Accounts,
    tokens: Tokens,
    page: str | None = None,
    per_page: str | None = None,
) -> Response[UserList]:
    service_claims(request, tokens)
    number = _page_number(page, 1, "page")
    size = _page_number(per_page, DEFAULT_PER_PAGE, "per_page")
    if number < 1 or not 1 <= size <= MAX_PER_PAGE:
        message = f"page must be 1 or more, per_page 1 to {MAX_PER_PAGE}"
        raise accounts.refusal(400, "validation_failed", message)
    listed = await auth.admin_list_users(number, size)
    total = int(listed["total"])
    last = max(1, -(-total // size))
    # GoTrue's pagination headers; supabase-js reads the page from the Link's first `page=`
    path = request.url.path
    links = []
    if number < last:
        links.append(f'<{path}?{urlencode({"page": number + 1, "per_page": size})}>; rel="next"')
    links.append(f'<{path}?{urlencode({"page": last, "per_page": size})}>; rel="last"')
    return Response(
        UserList(users=[_user(u) for u in listed["users"]]),
        headers={"X-Total-Count": str(total), "Link": ", ".join(links)},
    )


@post(
    "/admin/users",
    status_code=200,
    summary="Make a user (service key): email, password, user_metadata, app_metadata",
    responses=documented_errors(400, 401, 403, 422),
)
async def create_user(
    request: Request[Any, Any, Any], data: AdminUserAttributes, auth: Accounts, tokens: Tokens
) -> User:
    service_claims(request, tokens)
    _unsupported(data)
    if not data.email:
        message = "Cannot create a user without either an email or phone"
        raise accounts.refusal(400, "validation_failed", message)
    return _user(
        await auth.admin_create_user(
            email=data.email,
            password=data.password,
            user_metadata=data.user_metadata,
            app_metadata=data.app_metadata,
        )
    )


@get(
    "/admin/users/{user_id:str}",
    summary="One user (service key)",
    responses=documented_errors(400, 401, 403, 404),
)
async def get_user(
    request: Request[Any, Any, Any], user_id: str, auth: Accounts, tokens: Tokens
) -> User:
    service_claims(request, tokens)
    return _user(await auth.admin_get_user(_user_id(user_id)))


@put(
    "/admin/users/{user_id:str}",
    summary="Change a user (service key): email, password (ends their sessions), metadata",
    responses=documented_errors(400, 401, 403, 404, 422),
)
async def update_user(
    request: Request[Any, Any, Any],
    user_id: str,
    data: AdminUserAttributes,
    auth: Accounts,
    tokens: Tokens,
) -> User:
    service_claims(request, tokens)
    _unsupported(data)
    return _user(
        await auth.admin_update_user(
            _user_id(user_id),
            email=data.email,
            password=data.password,
            user_metadata=data.user_metadata,
            app_metadata=data.app_metadata,
        )
    )


@delete(
    "/admin/users/{user_id:str}",
    status_code=200,
    summary="Delete a user, softly (service key): their sessions end, their rows stay",
    responses=documented_errors(400, 401, 403, 404),
)
async def delete_user(
    request: Request[Any, Any, Any], user_id: str, auth: Accounts, tokens: Tokens
) -> dict[str, Any]:
    service_claims(request, tokens)
    await auth.admin_delete_user(_user_id(user_id))
    return {}


def _user_id(text: str) -> str:
    """The path's user id, as GoTrue reads it: a UUID, else a 400 in GoTrue's shape (not the
    router's bare 404, which no GoTrue client reads)."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise accounts.refusal(400, "validation_failed", "user_id must be an UUID") from None


HANDLERS = [list_users, create_user, get_user, update_user, delete_user]
