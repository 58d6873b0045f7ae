"""What the tests of GoTrue's /auth/v1 share: the password their users sign up with, a raw call
of /auth/v1, its error code read from either of GoTrue's error shapes, and a refresh token's first
use moved back past the reuse interval."""

import hashlib
from typing import Any

import httpx
import psycopg

from tests.serving import Node

# the header supabase-js and supabase-py send on every auth call: errors come back as
# {code: "<error code>", message}; without it, as {code: <status>, error_code, msg}
DATED = {"X-Supabase-Api-Version": "2024-01-01"}

PASSWORD = "correct horse 1"


def auth(node: Node, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
    """A raw call of the node's /auth/v1/`path`, with the anon key and, given one, `token`."""
    headers = {"apikey": node.anon_key, **kw.pop("headers", {})}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.request(method, f"{node.url}/auth/v1/{path}", headers=headers, **kw)


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


def past_reuse_interval(database_url: str, refresh_token: str) -> None:
    """Move the first use of `refresh_token` back past the refresh-token reuse interval
    (app.config.refresh_token_reuse_seconds), as if that long had passed since: presented again
    now, it is a reuse that ends its session."""
    digest = hashlib.sha256(refresh_token.encode()).hexdigest()
    with psycopg.connect(database_url, autocommit=True) as conn:
        moved = conn.execute(
            """update app.refresh_tokens as t
               set used_at = t.used_at - pg_catalog.make_interval(
                   secs => (select c.refresh_token_reuse_seconds + 1 from app.config as c))
               where t.token_hash = %s and t.used_at is not null""",
            [digest],
        ).rowcount
    assert moved == 1, "the refresh token was never used"
