"""The accounts' refusals in GoTrue's words (status, error code, message), and the engine's
refusals read back into them; a surface that speaks another dialect maps them."""

import json
from typing import Any

import psycopg

from wagerbase.errors import ApiError
from wagerbase.hashing import Busy

MIN_PASSWORD = 8
EMAIL_RATE_LIMITED = "over_email_send_rate_limit"  # GoTrue's 429 for mail (email_sign_in.py)


def refusal(status: int, code: str, message: str) -> ApiError:
    return ApiError(status=status, code=code, message=message)


def too_many(message: str, retry_after: int, code: str = "over_request_rate_limit") -> ApiError:
    """429 with Retry-After: GoTrue's over_request_rate_limit, or another of its 429 codes."""
    return ApiError(
        status=429,
        code=code,
        message=message,
        headers={"Retry-After": str(retry_after)},
    )


def busy(exc: Busy) -> ApiError:
    return too_many(
        f"Too many passwords are being checked now; try again in {exc.retry_after} s.",
        exc.retry_after,
    )


def session_refusal(exc: psycopg.Error) -> ApiError | None:
    """GoTrue's answer to server.check_session's refusal, or None for another error."""
    key = exc.diag.message_primary
    if key == "unknown_user":
        return refusal(403, "user_not_found", "User from sub claim in JWT does not exist")
    if key == "session_ended":
        message = "Session from session_id claim in JWT does not exist"
        return refusal(403, "session_not_found", message)
    if key == "not_authenticated":
        return refusal(403, "bad_jwt", "invalid JWT: not a user's token")
    return None


def _detail(exc: psycopg.Error) -> dict[str, Any]:
    """The JSON object an engine refusal carries in its detail ({} when it has none)."""
    try:
        value = json.loads(exc.diag.message_detail or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def weak_password(password: str) -> ApiError | None:
    """GoTrue's refusal of a password that is too short (422 weak_password, with its reasons),
    or None."""
    if len(password) >= MIN_PASSWORD:
        return None
    return ApiError(
        status=422,
        code="weak_password",
        message=f"Password should be at least {MIN_PASSWORD} characters.",
        details={"reasons": ["length"]},
    )


def invalid_input(exc: psycopg.Error) -> ApiError | None:
    """GoTrue's 400 validation_failed, in words, for the engine's invalid_argument (a bad email,
    username or user_metadata), or None for another error."""
    if exc.diag.message_primary != "invalid_argument":
        return None
    detail = _detail(exc)
    argument, reason = detail.get("argument", "argument"), str(detail.get("reason", "invalid"))
    if argument == "email" and reason == "an email address":
        message = "Unable to validate email address: invalid format"  # GoTrue's words
    elif reason.endswith("is required"):
        message = f"{reason[:1].upper()}{reason[1:]}."
    else:
        shown = "user_metadata (data)" if argument == "data" else argument
        message = f"Invalid {shown}: {reason}."
    return refusal(400, "validation_failed", message)
