"""GoTrue's error ladder: every refusal (wagerbase.accounts, the node's limits), PostgreSQL's
refusals of input and Litestar's own errors, answered as GoTrue answers them.

GoTrue shapes an error by the API version the request names in its `X-Supabase-Api-Version`
header (its HandleResponseError): a request naming 2024-01-01 or later (supabase-js and
supabase-py send `2024-01-01` on every call) gets `{"code": "<error code>", "message": "..."}`
and the header back; any other request (curl, an older client) gets GoTrue's first shape,
`{"code": <HTTP status>, "error_code": "<error code>", "msg": "..."}`. Both clients read either
(supabase-js's handleError: `code` when the answer carries the version header, else
`error_code`; `msg`, else `message`). A weak password also carries `weak_password: {reasons}`.
"""

import datetime
from typing import Any

import psycopg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from wagerbase.account_refusals import EMAIL_RATE_LIMITED
from wagerbase.errors import STATEMENT_TIMEOUT, ApiError, from_database

API_VERSION = "2024-01-01"
API_VERSION_HEADER = "X-Supabase-Api-Version"
RATE_LIMITED = "over_request_rate_limit"  # GoTrue's code for every 429 but a mail's
_FIRST_DATED_VERSION = datetime.date(2024, 1, 1)
# GoTrue's codes for Litestar's own refusals (a body too slow or too large...); GoTrue answers
# any other with `unknown`
_HTTP_CODES = {408: "request_timeout", 413: "validation_failed"}


def dated_version(request: Request[Any, Any, Any]) -> bool:
    """Whether the request names API version 2024-01-01 or later (GoTrue's
    DetermineClosestAPIVersion: a date it cannot read is the first, undated version)."""
    named = request.headers.get(API_VERSION_HEADER, "")
    try:
        return datetime.date.fromisoformat(named.strip()) >= _FIRST_DATED_VERSION
    except ValueError:
        return False


def _validation_message(exc: ValidationException) -> str:
    """A readable message for a body Litestar could not take: what was wrong, and where."""
    problems = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict) and item.get("message"):
            key = item.get("key")
            problems.append(f"{key}: {item['message']}" if key else str(item["message"]))
    return "; ".join(problems) or str(exc.detail)


def _refusal(exc: Exception) -> tuple[int, str, str, dict[str, str], dict[str, Any]]:
    """Status, GoTrue error code, message, headers and extra body fields of an error."""
    if isinstance(exc, ApiError):
        # the node's limits too; a mail's own limit keeps GoTrue's over_email_send_rate_limit
        code = RATE_LIMITED if exc.status == 429 and exc.code != EMAIL_RATE_LIMITED else exc.code
        extra: dict[str, Any] = {}
        if code == "weak_password" and isinstance(exc.details, dict):
            extra["weak_password"] = exc.details
        return exc.status, code, exc.message, dict(exc.headers), extra
    if isinstance(exc, ValidationException):
        return 400, "validation_failed", _validation_message(exc), {}, {}
    if isinstance(exc, psycopg.Error):
        # input PostgreSQL cannot take (a NUL byte in a string), a statement past its limit, a
        # lock wait past lock_timeout (429, nothing done) or a database outage
        error = from_database(exc, "anon")
        code = "validation_failed" if error.status < 500 else "unexpected_failure"
        message = error.message
        if exc.sqlstate == STATEMENT_TIMEOUT:
            code, message = "request_timeout", error.hint or message
        elif error.status == 429:
            code, message = RATE_LIMITED, error.hint or message
        return error.status, code, message, dict(error.headers), {}
    if isinstance(exc, HTTPException):
        status = exc.status_code
        code = _HTTP_CODES.get(status, "unexpected_failure" if status >= 500 else "unknown")
        return status, code, str(exc.detail), dict(exc.headers or {}), {}
    raise exc


def error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The answer to an error of /auth/v1 (the router's handler of ApiError, HTTPException and
    psycopg.Error; any other error is the app's last resort)."""
    status, code, message, headers, extra = _refusal(exc)
    body: dict[str, Any]
    if dated_version(request):
        body = {"code": code, "message": message, **extra}
        headers[API_VERSION_HEADER] = API_VERSION
    else:
        body = {"code": status, "error_code": code, "msg": message, **extra}
    return Response(body, status_code=status, headers=headers)
