"""/auth/v1's sessions: a refresh rotates the refresh token, and a token presented again within
the reuse interval (10 s) refreshes the same session while one presented later ends it; a logout
ends the session."""

from collections.abc import Callable

import httpx
import jwt
from supabase import Client

from tests.serving import Node
from tests.support.gotrue import PASSWORD, error_code, past_reuse_interval
from tests.support.gotrue import auth as _auth


def test_refresh_rotates_and_a_reused_token_ends_the_session(
    client: Client, node: Node, unique: Callable[[str], str]
) -> None:
    email = f"{unique('cy')}@example.test"
    session = client.auth.sign_up({"email": email, "password": "correct horse 1"}).session
    assert session is not None
    first = session.refresh_token
    refreshed = client.auth.refresh_session(first).session
    assert refreshed is not None and refreshed.refresh_token != first

    past_reuse_interval(node.database_url, first)  # a reuse, not a second tab: 10 s later
    reused = httpx.post(
        f"{node.url}/auth/v1/token?grant_type=refresh_token",
        headers={"apikey": node.anon_key},
        json={"refresh_token": first},
    )
    assert reused.status_code == 400
    assert error_code(reused) == "refresh_token_already_used"
    # the theft ends the session: its newest token is refused too, as a session that ended
    successor = httpx.post(
        f"{node.url}/auth/v1/token?grant_type=refresh_token",
        headers={"apikey": node.anon_key},
        json={"refresh_token": refreshed.refresh_token},
    )
    assert successor.status_code == 400
    assert error_code(successor) == "session_not_found"


def test_logout_ends_the_session(client: Client, node: Node, unique: Callable[[str], str]) -> None:
    email = f"{unique('fay')}@example.test"
    session = client.auth.sign_up({"email": email, "password": "correct horse 1"}).session
    assert session is not None
    out = httpx.post(
        f"{node.url}/auth/v1/logout?scope=global",
        headers={"apikey": node.anon_key, "Authorization": f"Bearer {session.access_token}"},
    )
    assert out.status_code == 204
    refresh = httpx.post(
        f"{node.url}/auth/v1/token?grant_type=refresh_token",
        headers={"apikey": node.anon_key},
        json={"refresh_token": session.refresh_token},
    )
    assert (refresh.status_code, error_code(refresh)) == (400, "session_not_found")


def test_a_refresh_token_presented_again_within_10_s_refreshes_the_same_session(
    node: Node, unique: Callable[[str], str]
) -> None:
    """Two tabs refresh with the same token at once: both stay signed in, in one session."""
    up = _auth(node, "POST", "signup", json={"username": unique("kim"), "password": PASSWORD})
    token = up.json()["refresh_token"]
    first, second = (
        _auth(node, "POST", "token?grant_type=refresh_token", json={"refresh_token": token})
        for _ in range(2)
    )
    assert (first.status_code, second.status_code) == (200, 200), second.text
    sessions = {
        jwt.decode(a.json()["access_token"], options={"verify_signature": False})["session_id"]
        for a in (up, first, second)
    }
    assert len(sessions) == 1
    assert first.json()["refresh_token"] != second.json()["refresh_token"]
    for answer in (first, second):  # both successors refresh, and both access tokens work
        assert _auth(node, "GET", "user", answer.json()["access_token"]).status_code == 200
        again = _auth(
            node,
            "POST",
            "token?grant_type=refresh_token",
            json={"refresh_token": answer.json()["refresh_token"]},
        )
        assert again.status_code == 200, again.text
    # past the interval, the same token ends the session
    past_reuse_interval(node.database_url, token)
    late = _auth(node, "POST", "token?grant_type=refresh_token", json={"refresh_token": token})
    assert (late.status_code, error_code(late)) == (400, "refresh_token_already_used")
    assert _auth(node, "GET", "user", first.json()["access_token"]).status_code == 403
