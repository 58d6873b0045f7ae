"""Security headers: the web app's pages carry a Content-Security-Policy that allows only what the
app loads from its own origin and forbids framing (`frame-ancestors 'none'`, and X-Frame-Options
DENY for older browsers); every answer of every surface says `nosniff` and sends no referrer.
(That the app works under its policy is proved by tests/web, which fail on any violation.)"""

import httpx
import pytest

from tests.serving import Node
from wagerbase.surfaces.web import CONTENT_SECURITY_POLICY

EVERY_ANSWER = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def directives(policy: str) -> dict[str, list[str]]:
    found = {}
    for directive in policy.split(";"):
        name, *sources = directive.split()
        found[name] = sources
    return found


@pytest.mark.parametrize("path", ["/", "/markets/3", "/admin/snapshots"])
def test_the_app_s_pages_carry_its_content_security_policy(node: Node, path: str) -> None:
    answer = httpx.get(f"{node.url}{path}", timeout=30)
    assert answer.status_code in (200, 503), answer.text  # 503: the build is missing
    assert answer.headers["content-type"].startswith("text/html")
    policy = directives(answer.headers["content-security-policy"])
    assert policy == directives(CONTENT_SECURITY_POLICY)
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    for name in ("script-src", "style-src", "connect-src", "img-src"):
        assert policy[name] == ["'self'"], name
    for key, value in EVERY_ANSWER.items():
        assert answer.headers[key] == value


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/health"),
        ("GET", "/config.json"),
        ("GET", "/rest/v1/markets?select=id&limit=1"),
        ("GET", "/rest/v1/nowhere"),
        ("POST", "/rest/v1/rpc/get_wallet"),
        ("GET", "/auth/v1/user"),
        ("GET", "/api/games"),
        ("GET", "/api/nowhere"),
        ("GET", "/favicon.svg"),
    ],
)
def test_every_answer_says_nosniff_and_sends_no_referrer(
    node: Node, method: str, path: str
) -> None:
    answer = httpx.request(
        method, f"{node.url}{path}", headers={"apikey": node.anon_key}, timeout=30
    )
    for key, value in EVERY_ANSWER.items():
        assert answer.headers.get(key) == value, (key, answer.status_code, answer.headers)
