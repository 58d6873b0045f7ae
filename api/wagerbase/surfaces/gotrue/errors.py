"""GoTrue's error ladder: every refusal (wagerbase.accounts, the node's limits), PostgreSQL's
refusals of input and Litestar's own errors, answered in GoTrue's 2024-01-01 shape {code, message}
with the X-Supabase-Api-Version header, so that supabase-py maps `code`."""

from typing import Any

import psycopg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from wagerbase.errors import STATEMENT_TIMEOUT, ApiError, from_database

API_VERSION = "2024-01-01"
RATE_LIMITED = "over_request_rate_limit"  # GoTrue's code for every 429


def error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The answer to an error of /auth/v1 (the router's handler of ApiError, HTTPException and
    psycopg.Error; any other error is the app's last resort)."""
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
