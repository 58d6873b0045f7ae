"""What every surface shares: the caller's identity and address, the state's database,
accounts, money calls and tokens, the structured request log, the headers every answer
carries, and reads that end with their client."""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from litestar import Request
from litestar.datastructures import MutableScopeHeaders, State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from wagerbase import admission
from wagerbase.errors import ApiError
from wagerbase.http.client_address import Network, client_key, request_address
from wagerbase.tokens import Claims, TokenError, Tokens, anon_claims

log = logging.getLogger("wagerbase.http")

LOGGED_PATH_CHARS = 200  # a request's path is logged up to this long
# On every answer of every surface: no content sniffing, no referrer sent on from the app's pages,
# no framing (the web app's pages also say frame-ancestors 'none' in their CSP: surfaces/web).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
T = TypeVar("T")
READS = frozenset({"GET", "HEAD"})
CLIENT_GONE = 499  # logged for a request whose client went away before its answer (nginx's)


# what a router's handler may ask for by name, and the attribute of the app's state that holds it
SHARED = {
    "db": "db",  # Database
    "auth": "accounts",  # Accounts
    "tokens": "tokens",  # Tokens
    "money_calls": "money_calls",  # MoneyCalls
    "placements": "placements",  # Placements
    "flows": "oidc",  # OidcFlows: sign-in through OpenID Connect providers and mailed PKCE links
}


def _from_state(attribute: str) -> Callable[[State], Any]:
    def provide(state: State) -> Any:
        return getattr(state, attribute)

    return provide


def dependencies(*shared: str, **own: Callable[..., Any]) -> dict[str, Provide]:
    """A router's dependencies: the parts of the app's state every surface shares, by their names
    in SHARED, and the router's `own` providers; each runs in the event loop (none blocks)."""
    providers = {**{name: _from_state(SHARED[name]) for name in shared}, **own}
    return {name: Provide(provider, sync_to_thread=False) for name, provider in providers.items()}


def client_address(request: Request[Any, Any, Any]) -> str:
    """The address the limits per address count this request against (client_address.py)."""
    return scope_address(request.scope)


def _proxies(scope: Scope) -> tuple[Network, ...]:
    """The node's trusted proxies (none for an app made without a Config: a test's small app)."""
    config = scope["litestar_app"].state.get("config")
    return tuple(config.trusted_proxies) if config is not None else ()


def scope_address(scope: Scope) -> str:
    """The client's address of a request or socket: its peer, or behind a trusted proxy the
    address that proxy names (client_address.py; the node's WAGERBASE_TRUSTED_PROXIES)."""
    return str(request_address(scope, _proxies(scope)))


def scope_client(scope: Scope) -> str:
    """The client a request or socket counts as for the node's caps per client: its address, an
    IPv6 one by its /64 (client_address.client_key)."""
    return client_key(request_address(scope, _proxies(scope)))


def bearer(request: Request[Any, Any, Any]) -> str | None:
    """The token of `Authorization: Bearer <token>`, or None without one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def caller_claims(request: Request[Any, Any, Any], tokens: Tokens) -> Claims:
    """The caller's verified claims: anon without a token; a 401 for a token that is not valid
    (expired, forged, another secret, `alg: none`, unknown role), as PostgREST answers it."""
    token = bearer(request)
    if token is None:
        claims = anon_claims()
    else:
        try:
            claims = tokens.verify(token)
        except TokenError as exc:
            raise ApiError(
                status=401,
                code="PGRST301",
                message=f"JWT rejected: {exc.reason}",
                headers={
                    "WWW-Authenticate": f'Bearer error="invalid_token", '
                    f'error_description="{exc.reason}"'
                },
            ) from exc
    request.state.role = claims["role"]
    request.state.user_id = claims.get("sub")
    return claims


async def security_headers(message: Message, scope: Scope) -> None:
    """The app's before-send hook: SECURITY_HEADERS on the start of every HTTP answer (errors of
    routing included), unless the answer set its own."""
    if message["type"] == "http.response.start":
        headers = MutableScopeHeaders.from_message(message)
        for name, value in SECURITY_HEADERS.items():
            if name not in headers:
                headers[name] = value


class RequestLog:
    """ASGI middleware: one short JSON line per request with method, path (cut at
    LOGGED_PATH_CHARS), status, duration and caller."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            state = scope.get("state", {})
            log.info(
                json.dumps(
                    {
                        "method": scope.get("method"),
                        "path": str(scope.get("path", ""))[:LOGGED_PATH_CHARS],
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                        "role": state.get("role"),
                        "user_id": state.get("user_id"),
                    }
                )
            )


class ClientGone(ApiError):
    """The client of a read went away before its answer: the read was cancelled. Answered (to
    nobody) with 499, so that the request log says what happened."""

    def __init__(self) -> None:
        super().__init__(CLIENT_GONE, "PT499", "the client went away before its answer")


async def _disconnected(receive: Receive) -> None:
    """Returns when the client has gone away (the request's body was read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def until_client_leaves(receive: Receive, work: Awaitable[T]) -> T:
    """`work`'s result; when the client disconnects first, `work` is cancelled (a read's
    statement is cancelled on the server: database.Connection) and ClientGone raised. Only for
    work that changes nothing: money calls are never cancelled (money_calls.py)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            # its statement cancelled and its connection back in the pool before going on
            await asyncio.wait({task})
    if task.cancelled():
        raise ClientGone
    return task.result()


class ReadsEndWithTheirClient:
    """ASGI middleware: notes each connection's client address for admission
    (admission.client), and cancels a GET or HEAD whose client disconnects before its answer
    (uvicorn would let it run to its end). Other methods read their body themselves; the
    read-only ones among them use `until_client_leaves` once they have."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in (ScopeType.HTTP, ScopeType.WEBSOCKET):
            await self.app(scope, receive, send)
            return
        admission.client.set(scope_client(scope))
        if scope["type"] != ScopeType.HTTP or scope.get("method") not in READS:
            await self.app(scope, receive, send)
            return
        first = await receive()
        if first["type"] == "http.disconnect":
            return
        replayed = False

        async def replay() -> ReceiveMessage:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return first

        if first.get("more_body"):  # a GET with a body still coming: left alone
            await self.app(scope, replay, send)
            return
        try:
            await until_client_leaves(receive, self.app(scope, replay, send))
        except ClientGone:
            # nobody reads it: the server drops it, the request log notes the status
            with contextlib.suppress(OSError, RuntimeError):
                await send({"type": "http.response.start", "status": CLIENT_GONE, "headers": []})
