"""What the /rest/v1 tests over raw HTTP share (tests/api/rest/): a caller with a token, and the
check of a refusal (a 4xx in JSON with PostgREST's four-key body)."""

from dataclasses import dataclass
from typing import Any

import httpx

from tests.serving import Node

FOUR_KEYS = {"code", "message", "details", "hint"}


@dataclass
class Caller:
    http: httpx.Client
    user_id: str | None = None

    def rpc(self, fn: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.post(f"/rest/v1/rpc/{fn}", json=body or {}, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(f"/rest/v1/{path}", **kwargs)


def client_for(node: Node, token: str | None) -> httpx.Client:
    headers = {"apikey": node.anon_key}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=node.url, headers=headers, timeout=30)


def refused(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = answer.json()
    assert set(body) == FOUR_KEYS and body["code"] == code, body
    return body
