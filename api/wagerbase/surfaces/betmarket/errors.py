"""BetMarket's error ladder: every refusal, of the engine, of GoTrue's sign-in or of this
surface, and every error of Litestar's own (bad JSON, wrong types, unknown fields, bad tokens),
answered as BetMarket's `{"error": "<text>", ...}` by the one exception handler of its router.

The engine's refusals are answered by their catalog key (docs/errors.md) and the values of their
detail; GoTrue's refusals of /api/auth by their code. A money call whose outcome is unknown is a
503 that says how to find out (money_calls.py).
"""

import json
import logging
from decimal import Decimal
from typing import Any

import psycopg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from wagerbase.errors import (
    LOCK_TIMEOUT,
    STATEMENT_TIMEOUT,
    ApiError,
    OutcomeUnknown,
    detail_object,
    from_database,
)
from wagerbase.surfaces.betmarket.answers import major, odds

log = logging.getLogger("wagerbase.betmarket")


def bad_request(message: str) -> ApiError:
    return ApiError(status=400, code="bad_request", message=message)


def game_not_found() -> ApiError:
    return ApiError(status=404, code="market_not_found", message="Game not found")


# The engine's refusals (docs/errors.md) in BetMarket's words; a key not listed keeps its
# catalog status and answers its key.
_REFUSALS: dict[str, tuple[int, str]] = {
    "not_authenticated": (401, "Sign in first"),
    "unknown_user": (401, "Unknown user: sign in again"),
    "session_ended": (401, "Session ended: sign in again"),
    "not_admin": (403, "Admins only"),
    "invalid_amount": (400, "Amount must be positive"),
    "invalid_idempotency_key": (400, "Idempotency-Key must be 1 to 200 characters"),
    "insufficient_funds": (400, "Insufficient balance"),
    "market_not_found": (404, "Game not found"),
    "outcome_not_found": (404, "Game not found"),
    "wager_not_found": (404, "Bet not found"),
    "market_not_open": (400, "Betting is closed"),
    "already_settled": (409, "The game has its result already"),
    "idempotency_conflict": (409, "Idempotency-Key was used for another request"),
    "payout_above_maximum": (400, "The payout would exceed the maximum per bet"),
    "user_exists": (409, "Username already taken"),
}

# GoTrue's refusals (wagerbase.accounts) as BetMarket answers them.
_AUTH_REFUSALS: dict[str, tuple[int, str | None]] = {
    "user_already_exists": (409, "Username already taken"),
    "weak_password": (400, None),
    "validation_failed": (400, None),
    "invalid_credentials": (401, "Invalid username or password"),
    "over_request_rate_limit": (429, None),
}


def _engine_refusal(exc: psycopg.Error, role: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, body and headers for an engine error: its catalog key (message) and the values
    of its detail shape BetMarket's answer."""
    if exc.sqlstate is None:
        if isinstance(exc, psycopg.DataError):  # refused before it was sent: a NUL in a text
            return 400, {"error": f"Invalid value: {exc}"}, {}
        return 503, {"error": "The database is unavailable; try again"}, {"Retry-After": "1"}
    error = from_database(exc, role)
    if exc.sqlstate == STATEMENT_TIMEOUT:  # the role's (or the function's) statement_timeout
        return 400, {"error": f"The request took too long: {error.hint}"}, {}
    if exc.sqlstate == LOCK_TIMEOUT:  # nothing was done
        return 429, {"error": f"Busy: {error.hint}"}, error.headers
    key = error.message
    detail = detail_object(error)
    if key == "odds_changed":
        current = odds(Decimal(str(detail.get("current_odds"))))
        expected = odds(Decimal(str(detail.get("expected_odds"))))
        return (
            409,
            {
                "error": "Odds have changed",
                "current_odd": current,
                "expected_odd": expected,
                "message": f"The odds moved from {expected} to {current}: bet again to take them",
            },
            {},
        )
    if key == "stake_above_cap":
        return 400, {"error": "Amount exceeds cap", "max_cap": major(int(detail["cap"]))}, {}
    if key == "amount_above_maximum":
        maximum = major(int(detail["maximum"]))
        return 400, {"error": "Amount exceeds the maximum", "max_amount": maximum}, {}
    if key in ("invalid_argument", "invalid_option"):
        name = detail.get("argument") or detail.get("option")
        return 400, {"error": f"Invalid {name}: {detail.get('reason', key)}"}, {}
    if key == "invalid_market_state":
        return 409, {"error": f"Not possible: the game is {detail.get('status')}"}, {}
    if key in _REFUSALS:
        status, text = _REFUSALS[key]
        return status, {"error": text}, {}
    if exc.sqlstate == "42501":
        text = "Sign in first" if error.status == 401 else "Not allowed"
        return error.status, {"error": text}, {}
    if exc.sqlstate.startswith(("22", "23")):
        return 400, {"error": f"Invalid value: {key}"}, {}
    if exc.sqlstate in ("40001", "40P01"):
        return 409, {"error": "A concurrent request got in the way; try again"}, {}
    return error.status, {"error": key}, {}


def _readable(message: str) -> str:
    """A refusal's message; the engine's JSON detail {argument, reason} put in words."""
    try:
        detail = json.loads(message)
    except ValueError:
        return message
    if isinstance(detail, dict) and "reason" in detail:
        return f"Invalid {detail.get('argument', 'value')}: {detail['reason']}"
    return message


def error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    headers: dict[str, str] = {}
    if isinstance(exc, OutcomeUnknown):
        status, headers = 503, exc.headers
        body: dict[str, Any] = {"error": exc.sentence}
        if exc.idempotency_key is not None:
            body["idempotency_key"] = exc.idempotency_key
    elif isinstance(exc, ApiError):
        headers = dict(exc.headers)
        status, text = _AUTH_REFUSALS.get(exc.code, (exc.status, None))
        body = {"error": text or _readable(exc.message)}
    elif isinstance(exc, psycopg.Error):
        role = getattr(request.state, "role", None) or "anon"
        try:
            status, body, headers = _engine_refusal(exc, role)
        except (KeyError, TypeError, ValueError, ArithmeticError):
            # a detail without the values its key promises: still the key's answer, not a 500
            error = from_database(exc, role)
            status, body = error.status, {"error": error.message}
        if status >= 500:
            log.error("database error on %s: %s", request.url.path, exc)
    elif isinstance(exc, ValidationException):
        status = 400
        problems = [e for e in exc.extra or [] if isinstance(e, dict)]
        if any(e.get("key") == "data" for e in problems):
            body = {"error": "A JSON body is required"}
        else:
            messages = [f"{e.get('key')}: {e.get('message')}" for e in problems]
            body = {"error": "; ".join([str(exc.detail), *messages])}
    elif isinstance(exc, HTTPException):
        status, headers = exc.status_code, dict(exc.headers or {})
        body = {"error": str(exc.detail)}
    else:
        log.exception("unexpected error on %s", request.url.path, exc_info=exc)
        status, body = 500, {"error": "Internal server error"}
    return Response(body, status_code=status, headers=headers)
