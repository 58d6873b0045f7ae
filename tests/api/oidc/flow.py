"""The steps of a sign-in through the tests' OpenID Connect provider
(tests/support/oidc_provider.py) and a node of tests/api/oidc/conftest.py: the redirects followed
by hand, the PKCE exchange, and the refusals a redirect carries."""

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.serving import Node
from tests.support.gotrue import auth
from tests.support.oidc_provider import (
    pkce_pair,
)

SITE = "http://app.test"
OTHER = "http://other.test"


def location(answer: httpx.Response) -> str:
    assert answer.status_code == 302, (answer.status_code, answer.text)
    return answer.headers["location"]


def start(node: Node, **params: str) -> httpx.Response:
    """GET /auth/v1/authorize, as the browser supabase-js sends there does."""
    query = {"provider": "corp", "redirect_to": f"{SITE}/welcome", **params}
    answer: httpx.Response = auth(node, "GET", f"authorize?{urlencode(query)}")
    return answer


def through_provider(node: Node, **params: str) -> tuple[str, str]:
    """/authorize, then the provider (which approves at once): the node's callback URL the
    provider sends the browser to, and the state in it."""
    to_provider = location(start(node, **params))
    back = location(httpx.get(to_provider))
    assert back.startswith(f"{node.url}/auth/v1/callback?")
    return back, parse_qs(urlsplit(back).query)["state"][0]


def sign_in_pkce(node: Node, **params: str) -> dict[str, Any]:
    """The whole PKCE flow: the session of /token?grant_type=pkce."""
    verifier, challenge = pkce_pair()
    callback, _ = through_provider(
        node, code_challenge=challenge, code_challenge_method="s256", **params
    )
    landed = location(httpx.get(callback))
    code = parse_qs(urlsplit(landed).query)["code"][0]
    answer = auth(
        node, "POST", "token?grant_type=pkce", json={"auth_code": code, "code_verifier": verifier}
    )
    assert answer.status_code == 200, answer.text
    session: dict[str, Any] = answer.json()
    return session


def redirect_error(location: str) -> dict[str, str]:
    """GoTrue's error parameters of a redirect (the query string and the fragment say the
    same)."""
    parts = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    fragment = {k: v[0] for k, v in parse_qs(parts.fragment).items()}
    assert query.get("error_code") == fragment.get("error_code"), location
    return fragment


def acts_as_admin(node: Node, token: str) -> bool:
    answer = httpx.post(
        f"{node.url}/rest/v1/rpc/acts_as_admin",
        headers={"apikey": node.anon_key, "Authorization": f"Bearer {token}"},
        json={},
    )
    assert answer.status_code == 200, answer.text
    result: bool = answer.json()
    return result
