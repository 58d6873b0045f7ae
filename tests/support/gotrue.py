"""What the tests of GoTrue's /auth/v1 share: its error code and message, read from either of
GoTrue's error shapes."""

from typing import Any

import httpx

# the header supabase-js and supabase-py send on every auth call: errors come back as
# {code: "<error code>", message}; without it, as {code: <status>, error_code, msg}
DATED = {"X-Supabase-Api-Version": "2024-01-01"}


def error_code(answer: httpx.Response) -> str:
    """GoTrue's error code of a refusal, in either shape (errors.py of surfaces/gotrue)."""
    body: dict[str, Any] = answer.json()
    code = body.get("error_code", body.get("code"))
    assert isinstance(code, str), body
    return code


def error_message(answer: httpx.Response) -> str:
    body: dict[str, Any] = answer.json()
    message = body.get("msg", body.get("message"))
    assert isinstance(message, str), body
    return message
