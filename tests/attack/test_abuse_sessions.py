"""An access token stops working when its session ends, at once and on every surface, not when it
expires: after a sign-out (scope local, others, global; BetMarket's logout), a refresh token
presented twice, an admin's revocation (revoke_sessions, or `wagerbase users sign-out`) or the
user's deletion, the same token is refused by a REST read of a public view, an RPC withdraw,
BetMarket's /api/balance and /auth/v1/user, by /ws authenticate and a realtime join; a /ws socket
it authenticated is told and made anonymous, and a realtime channel it joined is closed, with the
reason. Each request checks the session in the database (server.check_session); the sockets hear
it from the engine's `session_ended` message."""

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from tests.api.betmarket_client import PASSWORD, User, admin, client
from tests.attack.sockets import BetmarketSocket, Realtime, refused_join
from tests.serving import Node
from tests.support.gotrue import error_code, past_reuse_interval
from wagerbase.operations.cli import main
from wagerbase.surfaces.realtime.joins import UNKNOWN_USER

# how each ending is refused afterwards: the engine's key and the session's ended_reason
ENDINGS: dict[str, tuple[str, str]] = {
    "sign-out, scope local": ("session_ended", "signed_out"),
    "sign-out, scope global": ("session_ended", "signed_out"),
    "sign-out of the others, from another session": ("session_ended", "signed_out"),
    "BetMarket's logout": ("session_ended", "signed_out"),
    "a refresh token presented twice": ("session_ended", "refresh_token_reused"),
    "an admin's revoke_sessions": ("session_ended", "revoked"),
    "wagerbase users sign-out": ("session_ended", "revoked"),
    "the user deleted": ("unknown_user", "user_deleted"),
    "the user's row removed": ("unknown_user", "user_deleted"),
}


@dataclass
class Victim(User):
    """A user signed up through GoTrue, with their session's refresh token."""

    refresh_token: str = ""


@pytest.fixture(scope="module")
def http(node: Node) -> Iterator[httpx.Client]:
    with client(node.url) as session:
        yield session


def gotrue(http: httpx.Client, node: Node, path: str, **body: Any) -> httpx.Response:
    return http.post(f"/auth/v1/{path}", json=body, headers={"apikey": node.anon_key})


def signed_up(http: httpx.Client, node: Node, wallet: bool = True) -> Victim:
    """A user who signed up (their first session) and, unless told otherwise, has a wallet (a
    user who never touched money is the only kind whose row can be removed)."""
    name = f"leaving_{uuid.uuid4().hex[:8]}"
    answer = gotrue(http, node, "signup", username=name, password=PASSWORD)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    victim = Victim(http, name, body["user"]["id"], body["access_token"], body["refresh_token"])
    if wallet:
        made = rest(http, node, victim.token, "POST", "rpc/get_wallet", {})
        assert made.status_code == 200, made.text
    return victim


def rest(
    http: httpx.Client, node: Node, token: str, method: str, path: str, body: Any = None
) -> httpx.Response:
    headers = {"apikey": node.anon_key, "Authorization": f"Bearer {token}"}
    return http.request(method, f"/rest/v1/{path}", json=body, headers=headers)


def balance(node: Node, user_id: str) -> Any:
    with psycopg.connect(node.database_url) as conn:
        row = conn.execute(
            "select balance, version from app.accounts where user_id = %s", [user_id]
        ).fetchone()
    return row


def end(
    how: str, http: httpx.Client, node: Node, victim: Victim, monkeypatch: pytest.MonkeyPatch
) -> str | None:
    """End the victim's session as `how` says; the token of a session that stays live, if any."""
    bearer = {"apikey": node.anon_key, **victim.headers}
    if how.startswith("sign-out, scope"):
        scope = how.rsplit(" ", 1)[1]
        answer = http.post(f"/auth/v1/logout?scope={scope}", headers=bearer)
        assert answer.status_code == 204, answer.text
    elif how.startswith("sign-out of the others"):
        again = gotrue(
            http, node, "token?grant_type=password", username=victim.name, password=PASSWORD
        )
        assert again.status_code == 200, again.text
        kept: str = again.json()["access_token"]
        answer = http.post(
            "/auth/v1/logout?scope=others",
            headers={"apikey": node.anon_key, "Authorization": f"Bearer {kept}"},
        )
        assert answer.status_code == 204, answer.text
        return kept
    elif how == "BetMarket's logout":
        answer = http.post("/api/auth/logout", headers=victim.headers)
        assert answer.status_code == 200 and answer.json() == {"status": "ok"}, answer.text
    elif how == "a refresh token presented twice":
        first = gotrue(
            http, node, "token?grant_type=refresh_token", refresh_token=victim.refresh_token
        )
        assert first.status_code == 200, first.text
        past_reuse_interval(node.database_url, victim.refresh_token)  # not a second tab: later
        again = gotrue(
            http, node, "token?grant_type=refresh_token", refresh_token=victim.refresh_token
        )
        assert (again.status_code, error_code(again)) == (400, "refresh_token_already_used")
        # the token the first refresh made belongs to the same session: it ends too
        refreshed = rest(http, node, first.json()["access_token"], "GET", "markets")
        assert (refreshed.status_code, refreshed.json()["message"]) == (401, "session_ended")
    elif how == "an admin's revoke_sessions":
        boss = admin(http, node.database_url)
        answer = rest(
            http,
            node,
            boss.token,
            "POST",
            "rpc/revoke_sessions",
            {"user_id": victim.id, "reason": "a lost phone"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"user_id": victim.id, "sessions_ended": 1}
        logged = rest(http, node, boss.token, "GET", "admin_actions?action=eq.revoke_sessions")
        assert [
            (a["reason"], a["after"]) for a in logged.json() if a["before"]["user_id"] == victim.id
        ] == [("a lost phone", {"user_id": victim.id, "live_sessions": 0})]
    elif how == "wagerbase users sign-out":
        monkeypatch.setenv("DATABASE_URL", node.database_url)
        assert main(["users", "sign-out", victim.name, "--reason", "left the company"]) == 0
    elif how == "the user deleted":  # as auth.users keeps a deleted user
        with psycopg.connect(node.database_url, autocommit=True) as conn:
            conn.execute("update auth.users set deleted_at = now() where id = %s", [victim.id])
    else:  # their sessions go with the row
        with psycopg.connect(node.database_url, autocommit=True) as conn:
            conn.execute("delete from auth.users where id = %s", [victim.id])
    return None


@pytest.mark.parametrize("how", ENDINGS)
def test_a_token_whose_session_ended_is_refused_at_once_everywhere(
    node: Node, http: httpx.Client, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, reason = ENDINGS[how]
    victim = signed_up(http, node, wallet=how != "the user's row removed")
    assert rest(http, node, victim.token, "GET", "markets").status_code == 200
    realtime = Realtime(node, node.anon_key)
    topic = f"realtime:victim-{uuid.uuid4().hex[:6]}"
    joined = realtime.join(topic, victim.token)
    assert joined[-1]["payload"]["status"] == "ok", joined
    socket = BetmarketSocket(node)
    assert socket.authenticate(victim.token)["opcode"] == "authenticated"
    before = balance(node, victim.id)

    kept = end(how, http, node, victim, monkeypatch)

    # REST: a public view and a call that moves money
    for method, path, body in (("GET", "markets", None), ("POST", "rpc/withdraw", {"amount": 1})):
        answer = rest(http, node, victim.token, method, path, body)
        assert answer.status_code == 401, (path, answer.text)
        assert (answer.json()["code"], answer.json()["message"]) == ("PT401", key), path
    assert balance(node, victim.id) == before
    # BetMarket's /api and GoTrue's /user
    answer = http.get("/api/balance", headers=victim.headers)
    words = "Unknown user" if key == "unknown_user" else "Session ended"
    assert (answer.status_code, answer.json()) == (401, {"error": f"{words}: sign in again"})
    answer = http.get("/auth/v1/user", headers={"apikey": node.anon_key, **victim.headers})
    gotrue_code = "user_not_found" if key == "unknown_user" else "session_not_found"
    assert (answer.status_code, error_code(answer)) == (403, gotrue_code)
    # the sockets: what was open is closed, with the reason; a new use of the token is refused
    said = f"({key}: {reason})" if key == "session_ended" else f"({key})"
    frames = realtime.frames_until(lambda f: (f["topic"], f["event"]) == (topic, "phx_close"))
    closed = [
        f["payload"]["message"]
        for f in frames
        if f["event"] == "system" and f["payload"]["status"] == "error"
    ]
    assert len(closed) == 1 and said in closed[0], frames
    assert key == "session_ended" or closed == [UNKNOWN_USER]  # as a join with it hears
    told = socket.until(lambda m: m["opcode"] == "session_ended")
    assert told["reason"] == reason and said in told["message"], told
    refused = socket.authenticate(victim.token)
    assert refused["opcode"] == "error" and key in refused["message"], refused
    assert key in BetmarketSocket(node).authenticate(victim.token)["message"]
    again = realtime.join(f"{topic}-again", victim.token)
    assert key in refused_join(again, realtime, f"{topic}-again")
    if kept is not None:  # sign-out of the others: the session that asked for it lives on
        assert rest(http, node, kept, "GET", "my_wallet").status_code == 200
    realtime.close()
    socket.ws.close()


def test_a_user_token_without_a_session_is_refused(node: Node, http: httpx.Client) -> None:
    """Every token Wagerbase issues names its session; one that does not (minted elsewhere with
    the secret) could never be signed out, so no surface takes it."""
    victim = signed_up(http, node)
    claims = jwt.decode(victim.token, options={"verify_signature": False})
    del claims["session_id"]
    claims["exp"] = int(time.time()) + 600
    sessionless = jwt.encode(claims, node.jwt_secret, "HS256")
    answer = rest(http, node, sessionless, "GET", "markets")
    assert (answer.status_code, answer.json()["message"]) == (401, "session_ended")
    assert '"no_session_id"' in answer.json()["details"]
    assert (
        http.get("/api/balance", headers={"Authorization": f"Bearer {sessionless}"}).status_code
        == 401
    )
    assert rest(http, node, victim.token, "GET", "markets").status_code == 200


def test_the_database_names_the_sessions_that_ended(node: Node, http: httpx.Client) -> None:
    """What a node's hub asks after it listens again (a message sent meanwhile is lost)."""
    live, leaving = signed_up(http, node), signed_up(http, node)
    answer = http.post("/api/auth/logout", headers=leaving.headers)
    assert answer.status_code == 200
    sessions = [
        jwt.decode(v.token, options={"verify_signature": False})["session_id"]
        for v in (live, leaving)
    ]
    unknown = str(uuid.uuid4())
    with psycopg.connect(node.database_url) as conn:
        ended = conn.execute(
            "select id::text from server.ended_sessions(%s::uuid[]) as id", [[*sessions, unknown]]
        ).fetchall()
    assert sorted(ended) == sorted([(sessions[1],), (unknown,)])
