"""GoTrue's and BetMarket's sign-up, sign-in and refresh for the attack tests on authentication,
sent through a node's trusted proxy for a client address of the test's choosing, and the node's
/health counters of them."""

from typing import Any, Literal

import httpx

from tests.serving import Node
from tests.support.gotrue import error_code

PASSWORD = "correct horse 1"
TIMEOUT = 120  # argon2 on a busy machine; a deadline, not a measure

Surface = Literal["gotrue", "betmarket"]
SURFACES: tuple[Surface, Surface] = ("gotrue", "betmarket")
WRONG_PASSWORD = {"gotrue": 400, "betmarket": 401}  # each surface's answer to a wrong password


def from_address(address: str) -> dict[str, str]:
    """Headers of a request that the trusted proxy (127.0.0.1) forwards for `address`."""
    return {"X-Forwarded-For": address}


def _post(
    node: Node, surface: Surface, paths: tuple[str, str], body: Any, address: str
) -> httpx.Response:
    """POST `body` to GoTrue's path or BetMarket's (`paths`), as the proxy forwards it."""
    gotrue_path, betmarket_path = paths
    headers = from_address(address)
    if surface == "gotrue":
        headers["apikey"] = node.anon_key
    path = gotrue_path if surface == "gotrue" else betmarket_path
    return httpx.post(f"{node.url}{path}", json=body, headers=headers, timeout=TIMEOUT)


def sign_up(node: Node, name: str, address: str, surface: Surface = "gotrue") -> httpx.Response:
    body = {"username": name, "password": PASSWORD}
    return _post(node, surface, ("/auth/v1/signup", "/api/auth/register"), body, address)


def sign_in(
    node: Node, name: str, password: str, address: str, surface: Surface = "gotrue"
) -> httpx.Response:
    paths = ("/auth/v1/token?grant_type=password", "/api/auth/login")
    return _post(node, surface, paths, {"username": name, "password": password}, address)


def refresh(node: Node, refresh_token: str, address: str) -> httpx.Response:
    paths = ("/auth/v1/token?grant_type=refresh_token", "")  # BetMarket has no refresh
    return _post(node, "gotrue", paths, {"refresh_token": refresh_token}, address)


def too_many(answer: httpx.Response, surface: Surface = "gotrue") -> int:
    """Assert a refusal for the rate, in the surface's shape; its Retry-After (seconds)."""
    assert answer.status_code == 429, answer.text
    retry_after = int(answer.headers["retry-after"])
    assert retry_after >= 1
    body = answer.json()
    if surface == "gotrue":
        assert error_code(answer) == "over_request_rate_limit", body
    else:
        assert set(body) == {"error"} and body["error"], body
    return retry_after


def health(node: Node) -> dict[str, Any]:
    """The node's /health counts of refusals before any hash, and of password hashes."""
    auth: dict[str, Any] = httpx.get(f"{node.url}/health", timeout=30).json()["auth"]
    return auth


def grew(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """How much each /health count grew between two reads."""
    return {
        key: after[key] - before[key]
        for key in ("computed", "refused_busy", "refused_address_limit", "unknown_names")
    }
