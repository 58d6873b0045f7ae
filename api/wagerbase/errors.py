"""Errors: one exception for the API's own refusals, one for a call whose outcome is unknown,
and PostgREST's SQLSTATE -> HTTP mapping.

Each surface shapes the body its clients expect (PostgREST's {code, message, details, hint},
GoTrue's {code, message}, BetMarket's {error}) from the same ApiError or OutcomeUnknown, in its
own handler.

The limits (docs/operations.md, "Limits") answer alike on every surface: a statement cut by its
role's statement_timeout (SQLSTATE 57014) is a 400 whose hint names the limit; a lock wait cut by
lock_timeout (55P03) and a request refused for too many at once (`too_busy`, PT429) are a 429 with
Retry-After: nothing happened, so the same request (a money call with the same idempotency key)
may simply be sent again.
"""

import json
from dataclasses import dataclass, field
from typing import Any

import psycopg


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str
    details: Any = None
    hint: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class OutcomeUnknown(Exception):
    """A call that changes state lost its connection while it committed (or its wait for a
    synchronous standby was cancelled), so it may or may not have taken effect, and it could not
    be resolved (money_calls.py): its idempotency key found no database within the window, or
    it has no key. Answered 503 with Retry-After; the body names the key, or what to check."""

    function: str
    idempotency_key: str | None
    check: str  # for a call without a key: what to look at before calling it again
    retry_after: int = 2

    @property
    def sentence(self) -> str:
        if self.idempotency_key is not None:
            return f"outcome unknown: retry with idempotency_key={self.idempotency_key}"
        return f"outcome unknown: {self.check} before calling it again"

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Retry-After": str(self.retry_after)}
        if self.idempotency_key is not None:
            headers["Idempotency-Key"] = self.idempotency_key
        return headers

    def as_api_error(self) -> ApiError:
        """PostgREST's shape: the stable key in `message`, the values in `details` (a JSON
        object as text, as the engine's refusals), what to do in `hint`."""
        details: dict[str, str] = {"function": self.function}
        if self.idempotency_key is not None:
            details["idempotency_key"] = self.idempotency_key
            hint = (
                f"{self.sentence}: the same call with the same key answers what happened, "
                "and never acts twice"
            )
        else:
            hint = f"{self.sentence}: the call may or may not have taken effect"
        return ApiError(
            503, "PT503", "outcome_unknown", json.dumps(details), hint, headers=self.headers
        )


RETRY_AFTER_SECONDS = 1  # after a 429 for a lock wait or too many requests at once
STATEMENT_TIMEOUT = "57014"
LOCK_TIMEOUT = "55P03"


class StatementTimeout(psycopg.errors.QueryCanceled):
    """A statement the server cancelled (57014), with the statement_timeout it ran under and the
    role it ran as (database.caller_transaction raises it in place of psycopg's error)."""

    role: str = ""
    limit: str = ""

    @classmethod
    def of(cls, exc: psycopg.Error, role: str, limit: str) -> "StatementTimeout":
        found = cls(*exc.args, info=exc.pgresult)
        found.role, found.limit = role, limit
        return found


def too_busy(message: str, **details: Any) -> ApiError:
    """429 for a request refused because the node already serves as many of its kind as it may
    (admission.py): nothing happened; `details` name the limit."""
    return ApiError(
        429,
        "PT429",
        message,
        details=json.dumps(details),
        hint=f"Nothing was done: try again after {RETRY_AFTER_SECONDS} s.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _limit_hint(exc: psycopg.Error, role: str) -> str | None:
    """What to do after a statement cut by statement_timeout or a lock wait by lock_timeout."""
    if exc.sqlstate == STATEMENT_TIMEOUT:
        if isinstance(exc, StatementTimeout):
            return (
                f"A statement as {exc.role} may run for {exc.limit} at most (its statement_timeout"
                "): ask for less (narrower filters, a limit), or call it again later."
            )
        return f"The statement was cancelled: it ran past the statement_timeout of {role}."
    if exc.sqlstate == LOCK_TIMEOUT:
        return (
            "A lock wait ran past lock_timeout and nothing was done: try again (a money call with "
            "the same idempotency key)."
        )
    return None


def postgrest_status(sqlstate: str | None, role: str) -> int:
    """The HTTP status PostgREST answers a SQLSTATE with (its pgErrorStatus table)."""
    code = sqlstate or ""
    if code.startswith("PT") and code[2:].isdigit() and len(code) == 5:
        return int(code[2:])
    exact = {
        STATEMENT_TIMEOUT: 400,
        LOCK_TIMEOUT: 429,
        "23503": 409,
        "23505": 409,
        "25006": 405,
        "42883": 404,
        "42P01": 404,
        "42P17": 500,
        "53400": 500,
        "57P01": 503,
        "P0001": 400,
        "21000": 500,
    }
    if code in exact:
        return exact[code]
    if code == "42501":
        return 401 if role == "anon" else 403
    prefixes = [
        ("08", 503),
        ("09", 500),
        ("0L", 403),
        ("0P", 403),
        ("25", 500),
        ("28", 403),
        ("2D", 500),
        ("38", 500),
        ("39", 500),
        ("3B", 500),
        ("40", 500),
        ("53", 503),
        ("54", 500),
        ("55", 500),
        ("57", 500),
        ("58", 500),
        ("F0", 500),
        ("HV", 500),
        ("P0", 500),
        ("XX", 500),
    ]
    for prefix, status in prefixes:
        if code.startswith(prefix):
            return status
    return 400


def from_database(exc: psycopg.Error, role: str) -> ApiError:
    """An ApiError carrying a database error exactly as PostgREST reports it. An error with no
    SQLSTATE never reached the server: input the driver refused (400), or a pool timeout or lost
    connection (503, retryable)."""
    diag = exc.diag
    if not exc.sqlstate:
        if isinstance(exc, psycopg.DataError):
            # input the driver refused to send, such as a NUL byte in a string
            return ApiError(400, "22021", "invalid input", details=str(exc))
        return ApiError(503, "PGRST001", "Database client error", details=str(exc))
    status = postgrest_status(exc.sqlstate, role)
    return ApiError(
        status=status,
        code=exc.sqlstate or "",
        message=diag.message_primary or str(exc),
        details=diag.message_detail,
        hint=_limit_hint(exc, role) or diag.message_hint,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 429 else {},
    )


def detail_object(error: ApiError) -> dict[str, Any]:
    """The engine puts a JSON object in `detail`; this parses it ({} when it is not one)."""
    if isinstance(error.details, dict):
        return error.details
    try:
        value = json.loads(error.details or "")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
