"""What every surface shares: the caller's identity and address, the state's database,
accounts, money calls and tokens, the structured request log, and the headers every answer
carries."""

import json
import logging
import time
from typing import Any

from litestar import Request
from litestar.datastructures import MutableScopeHeaders, State
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from wagerbase.accounts import Accounts
from wagerbase.database import Database
from wagerbase.errors import ApiError
from wagerbase.http.client_address import request_address
from wagerbase.money_calls import MoneyCalls
from wagerbase.tokens import Claims, TokenError, Tokens, anon_claims

log = logging.getLogger("wagerbase.http")

LOGGED_PATH_CHARS = 200  # a request's path is logged up to this long
# On every answer of every surface: no content sniffing, no referrer sent on from the app's pages,
# no framing (the web app's pages also say frame-ancestors 'none' in their CSP: web.py).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def provide_db(state: State) -> Database:
    db: Database = state.db
    return db


def provide_accounts(state: State) -> Accounts:
    accounts: Accounts = state.accounts
    return accounts


def client_address(request: Request[Any, Any, Any]) -> str:
    """The address the limits per address count this request against (client_address.py)."""
    return str(request_address(request.scope, request.app.state.config.trusted_proxies))


def provide_money_calls(state: State) -> MoneyCalls:
    calls: MoneyCalls = state.money_calls
    return calls


def provide_tokens(state: State) -> Tokens:
    tokens: Tokens = state.tokens
    return tokens


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
