"""PostgREST's error body `{code, message, details, hint}`, from every error the surface meets:
the API's own refusals (ApiError), a call whose outcome is unknown, the database's errors
(SQLSTATE -> status as PostgREST maps them, wagerbase.errors), the pool's, and Litestar's.
"""

import json
from typing import Any

import msgspec
import psycopg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from psycopg_pool import PoolTimeout

from wagerbase.errors import ApiError, OutcomeUnknown, from_database
from wagerbase.surfaces.postgrest.catalog import STALE_SQLSTATES, provide_schema_cache
from wagerbase.surfaces.postgrest.reads import JSON
from wagerbase.surfaces.postgrest.transactions import READ_METHODS


class PostgrestErrorBody(msgspec.Struct):
    """PostgREST's error body; every key is always present."""

    code: str
    message: str
    details: Any
    hint: str | None


def error_specs(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=PostgrestErrorBody,
            description="PostgREST error body {code, message, details, hint}",
        )
        for status in statuses
    }


def _role(request: Request[Any, Any, Any]) -> str:
    role = getattr(request.state, "role", None)
    return role if isinstance(role, str) else "anon"


def as_api_error(request: Request[Any, Any, Any], exc: Exception) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, OutcomeUnknown):
        return exc.as_api_error()
    if isinstance(exc, psycopg.Error):
        if exc.sqlstate:
            if exc.sqlstate in STALE_SQLSTATES:
                provide_schema_cache(request.app.state).invalidate()
            return from_database(exc, _role(request))
        if isinstance(exc, PoolTimeout):
            # admitted to its lane, yet no connection: the database is down or failing over
            return ApiError(
                503,
                "PGRST003",
                "Timed out acquiring connection from connection pool.",
                headers={"Retry-After": "1"},
            )
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return ApiError(503, "PGRST001", "Database client error. Retrying the connection.")
        return ApiError(400, "22000", str(exc))
    if isinstance(exc, ValidationException):
        code = "PGRST100" if request.method in READ_METHODS else "PGRST102"
        return ApiError(400, code, str(exc.detail), details=exc.extra)
    if isinstance(exc, HTTPException):
        code = "PGRST102" if exc.status_code in (400, 408, 413, 415) else str(exc.status_code)
        return ApiError(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))
    raise exc


def error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    error = as_api_error(request, exc)
    body = {
        "code": error.code,
        "message": error.message,
        "details": error.details,
        "hint": error.hint,
    }
    return Response(
        content=json.dumps(body, default=str).encode(),
        status_code=error.status,
        media_type=JSON,
        headers=error.headers,
    )
