"""Forged tokens on every surface that takes a token: the REST reads and calls (/rest/v1), GoTrue
(/auth/v1/user, /logout), BetMarket's /api endpoints that need a user, the Supabase realtime
socket (the apikey of the upgrade, a join's access_token, the access_token message) and
BetMarket's /ws `authenticate`.

Each forged token is built from a real access token of bettor A: expired, not valid yet (nbf or
iat in the future), signed with another secret, `alg: none` (three spellings, with and without a
signature), another algorithm with the right secret, `app_metadata.role = admin` signed by an
attacker, and claims edited without re-signing (admin, service_role, another user's sub). Every
one is refused, and nothing of A's reaches the caller or changes. (Valid tokens whose user is
gone or demoted: test_tokens_of_gone_users.py.)"""

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from websockets.exceptions import InvalidStatus

from tests.attack.over_http import db
from tests.attack.sockets import BetmarketSocket, Realtime, refused_join
from tests.attack.victims import Victims
from tests.serving import Node, new_secret
from tests.support.gotrue import error_code


def segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def edited(token: str, **changes: Any) -> str:
    """The token with its claims changed and its header and signature kept as they were."""
    header, _, signature = token.split(".")
    claims = {**jwt.decode(token, options={"verify_signature": False}), **changes}
    return f"{header}.{segment(claims)}.{signature}"


def unsigned(claims: dict[str, Any], alg: str = "none", signature: str = "") -> str:
    return f"{segment({'alg': alg, 'typ': 'JWT'})}.{segment(claims)}.{signature}"


ATTACKER_SECRET = new_secret()
Forge = Callable[[Victims, str], str]


def _claims(victims: Victims, **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(victims.a.token, options={"verify_signature": False})
    return {**claims, **changes}


NOW = int(time.time())
FORGERIES: dict[str, Forge] = {
    "expired": lambda v, s: jwt.encode(_claims(v, iat=NOW - 7200, exp=NOW - 3600), s, "HS256"),
    "not valid yet (nbf)": lambda v, s: jwt.encode(_claims(v, nbf=NOW + 3600), s, "HS256"),
    "not valid yet (iat)": lambda v, s: jwt.encode(_claims(v, iat=NOW + 3600), s, "HS256"),
    "another secret": lambda v, s: jwt.encode(_claims(v), ATTACKER_SECRET, "HS256"),
    "alg none": lambda v, s: unsigned(_claims(v)),
    "alg None": lambda v, s: unsigned(_claims(v), "None"),
    "alg none, signature kept": lambda v, s: unsigned(
        _claims(v), "none", v.a.token.rsplit(".", 1)[1]
    ),
    "HS256 without a signature": lambda v, s: unsigned(_claims(v), "HS256"),
    "HS512 with the right secret": lambda v, s: jwt.encode(_claims(v), s, "HS512"),
    "admin, signed by an attacker": lambda v, s: jwt.encode(
        _claims(v, app_metadata={"role": "admin"}), ATTACKER_SECRET, "HS256"
    ),
    "service_role, signed by an attacker": lambda v, s: jwt.encode(
        {"role": "service_role", "exp": NOW + 3600}, ATTACKER_SECRET, "HS256"
    ),
    "admin, edited without re-signing": lambda v, s: edited(
        v.a.token, app_metadata={"role": "admin"}
    ),
    "service_role, edited without re-signing": lambda v, s: edited(v.a.token, role="service_role"),
    "another user's sub, edited without re-signing": lambda v, s: edited(v.a.token, sub=v.b.id),
    "a later exp, edited without re-signing": lambda v, s: edited(v.a.token, exp=NOW + 10**8),
    "not a token": lambda v, s: "not.a.token",
}


@pytest.fixture(params=list(FORGERIES))
def forged(request: pytest.FixtureRequest, victims: Victims, node: Node) -> str:
    token = FORGERIES[request.param](victims, node.jwt_secret)
    assert token != victims.a.token
    return token


def a_s_money(node: Node, victims: Victims) -> list[tuple[Any, ...]]:
    return (
        db(node)
        .execute(
            """select a.balance, a.version, (select count(*) from app.wagers where user_id = %(a)s),
                  (select count(*) from app.play_limit_changes where user_id = %(a)s)
           from app.accounts as a where a.user_id = %(a)s""",
            {"a": victims.a.id},
        )
        .fetchall()
    )


# HTTP --------------------------------------------------------------------------------------------


def http_surfaces(node: Node, victims: Victims) -> list[tuple[str, str, str, Any]]:
    """(surface, method, path, JSON body) of every HTTP call that takes a user's token."""
    game = victims.boss.new_game("Token target")
    return [
        ("rest", "GET", "/rest/v1/my_wallet", None),
        ("rest", "GET", f"/rest/v1/wagers?user_id=eq.{victims.a.id}", None),
        ("rest", "POST", "/rest/v1/rpc/get_wallet", {}),
        ("rest", "POST", "/rest/v1/rpc/deposit", {"amount": 100}),
        ("rest", "POST", "/rest/v1/rpc/set_self_exclusion", {"until": "infinity"}),
        ("rest", "POST", "/rest/v1/rpc/house_summary", {}),
        ("gotrue", "GET", "/auth/v1/user", None),
        ("gotrue", "POST", "/auth/v1/logout?scope=global", None),
        ("betmarket", "GET", "/api/balance", None),
        ("betmarket", "POST", "/api/balance", {"amount": 1}),
        ("betmarket", "POST", "/api/bet", {"game_id": game, "amount": 1, "choice": "opt1"}),
        ("betmarket", "GET", "/api/user/bets", None),
        ("betmarket", "GET", f"/api/user/bets/{game}", None),
        ("betmarket", "GET", "/api/games", None),
        ("betmarket", "GET", "/api/admin/profit", None),
        ("betmarket", "POST", "/api/admin/stop_betting", {"game_id": game}),
        ("betmarket", "POST", "/api/auth/logout", None),
    ]


def refused_as_a_bad_token(surface: str, answer: httpx.Response) -> None:
    body = answer.json()
    if surface == "rest":
        assert (answer.status_code, body["code"]) == (401, "PGRST301"), answer.text
        assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    elif surface == "gotrue":
        assert (answer.status_code, error_code(answer)) == (403, "bad_jwt"), answer.text
    else:
        assert answer.status_code == 401, answer.text
        assert set(body) == {"error"} and body["error"].startswith("JWT rejected"), answer.text


def test_a_forged_token_is_refused_on_every_http_surface_and_moves_nothing(
    node: Node, victims: Victims, forged: str
) -> None:
    before = a_s_money(node, victims)
    surfaces = http_surfaces(node, victims)
    for surface, method, path, body in surfaces:
        answer = victims.http.request(
            method,
            path,
            json=body,
            headers={"apikey": node.anon_key, "Authorization": f"Bearer {forged}"},
        )
        refused_as_a_bad_token(surface, answer)
        assert victims.a.id not in answer.text, (path, answer.text)
    assert a_s_money(node, victims) == before
    assert victims.a.get("/api/balance").status_code == 200  # A's own token still works


# WebSockets --------------------------------------------------------------------------------------


def test_a_forged_token_is_refused_by_both_sockets_and_hears_nothing_of_a_s(
    node: Node, victims: Victims, forged: str
) -> None:
    with pytest.raises(InvalidStatus) as upgrade:
        Realtime(node, forged)  # as the apikey of the upgrade
    assert upgrade.value.response.status_code == 403

    realtime = Realtime(node, node.anon_key)
    joined = realtime.join("realtime:forged-join", forged)
    assert refused_join(joined, realtime, "realtime:forged-join").startswith("invalid access token")
    # a channel joined with the anon key, then handed the forged token
    assert realtime.join("realtime:anon", None)[-1]["payload"]["status"] == "ok"
    ref = realtime.send("realtime:anon", "access_token", {"access_token": forged})
    answer = realtime.frames_until(lambda f: f["event"] == "phx_reply" and f["ref"] == ref)
    assert refused_join(answer, realtime, "realtime:anon").startswith("invalid access token")

    socket = BetmarketSocket(node)
    refused = socket.authenticate(forged)
    assert refused["opcode"] == "error" and refused["message"].startswith("authentication failed")
    # A's money moves; the socket that tried A's forged token hears of it never: it has the public
    # new_game that was committed after, and no balance_update before it
    victims.a.deposit(1)
    game = victims.boss.new_game("After the forgery")
    socket.until(lambda m: m["opcode"] == "new_game" and m.get("game_id") == game)
    assert [m for m in socket.seen if m["opcode"] in ("balance_update", "bet_confirmed")] == []
    realtime.close()
    socket.ws.close()
