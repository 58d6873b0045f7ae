"""Token attacks on every surface that takes a token: the REST reads and calls (/rest/v1), GoTrue
(/auth/v1/user, /logout), BetMarket's /api endpoints that need a user, the Supabase realtime
socket (the apikey of the upgrade, a join's access_token, the access_token message) and
BetMarket's /ws `authenticate`.

Each forged token is built from a real access token of bettor A: expired, not valid yet (nbf or
iat in the future), signed with another secret, `alg: none` (three spellings, with and without a
signature), another algorithm with the right secret, `app_metadata.role = admin` signed by an
attacker, and claims edited without re-signing (admin, service_role, another user's sub). Every
one is refused, and nothing of A's reaches the caller or changes. Then a valid token whose user
has been deleted (soft, as auth.users keeps it, and hard)."""

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from websockets.exceptions import InvalidStatus

from tests.api.betmarket_client import PASSWORD, User, admin, client, register
from tests.attack.over_http import db
from tests.attack.sockets import BetmarketSocket, Realtime, refused_join
from tests.serving import Node, new_secret
from tests.support.gotrue import error_code
from wagerbase.surfaces.realtime.joins import UNKNOWN_USER


@dataclass
class Victims:
    a: User  # bettor A, whose token is forged
    b: User  # bettor B, whose id an edited token borrows
    boss: User  # an admin, who makes the marker games
    http: httpx.Client


@pytest.fixture(scope="module")
def victims(node: Node) -> Iterator[Victims]:
    with client(node.url) as http:
        a, b = register(http, "victim_a"), register(http, "victim_b")
        a.deposit(50)
        yield Victims(a, b, admin(http, node.database_url), http)


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


# a valid token whose user is gone ----------------------------------------------------------------


@dataclass
class Deleted:
    """A user's valid access token and refresh token, and the user deleted since."""

    user: User
    refresh_token: str


def signed_up_then_deleted(node: Node, victims: Victims, how: str) -> Deleted:
    """A user who signed up (and, for a soft deletion, bet and so has a wallet and a wager), then
    was deleted as the database owner: `deleted_at` set as auth.users keeps a deleted user, or the
    row removed (possible only for a user who never touched money)."""
    name = f"gone_{how}_{uuid.uuid4().hex[:6]}"
    up = victims.http.post(
        "/auth/v1/signup",
        json={"username": name, "password": PASSWORD},
        headers={"apikey": node.anon_key},
    )
    assert up.status_code == 200, up.text
    session = up.json()
    user = User(victims.http, name, session["user"]["id"], session["access_token"])
    if how == "soft":
        game = victims.boss.new_game("Before the deletion")
        assert user.bet(game, 5, "opt1").status_code == 201
        db(node).execute("update auth.users set deleted_at = now() where id = %s", [user.id])
    else:
        db(node).execute("delete from auth.users where id = %s", [user.id])
    return Deleted(user, session["refresh_token"])


@pytest.fixture(params=["soft", "hard"])
def deleted(request: pytest.FixtureRequest, node: Node, victims: Victims) -> Deleted:
    return signed_up_then_deleted(node, victims, request.param)


def ledger_of(node: Node, user_id: str) -> Any:
    """How many ledger entries a user has, and their sum."""
    query = "select count(*), coalesce(sum(amount), 0) from app.ledger_entries where user_id = %s"
    return db(node).execute(query, [user_id]).fetchone()


def test_a_deleted_user_s_token_reads_and_moves_nothing_over_http(
    node: Node, victims: Victims, deleted: Deleted
) -> None:
    http, headers = victims.http, {"apikey": node.anon_key, **deleted.user.headers}
    before = ledger_of(node, deleted.user.id)
    market = victims.boss.new_game("While deleted")
    calls: tuple[tuple[str, str, dict[str, Any] | None], ...] = (
        ("GET", "/rest/v1/my_wallet", None),
        ("GET", "/rest/v1/my_wagers", None),
        ("GET", "/rest/v1/wagers", None),
        ("GET", "/rest/v1/ledger?order=id.desc", None),
        ("GET", "/rest/v1/my_ledger", None),
        ("GET", "/rest/v1/my_play_limits", None),
        ("POST", "/rest/v1/rpc/get_wallet", {}),
        ("POST", "/rest/v1/rpc/deposit", {"amount": 100}),
        ("POST", "/rest/v1/rpc/withdraw", {"amount": 1}),
        ("POST", "/rest/v1/rpc/set_daily_stake_limit", {"amount": 1}),
        ("POST", "/rest/v1/rpc/preview_wager", {"market_id": market, "outcome_id": 1, "stake": 1}),
    )
    for method, path, body in calls:
        answer = http.request(method, path, json=body, headers=headers)
        assert answer.status_code == 401, (path, answer.text)
        assert (answer.json()["code"], answer.json()["message"]) == ("PT401", "unknown_user")
    for method, path, body in (
        ("GET", "/api/balance", None),
        ("POST", "/api/balance", {"amount": 1}),
        ("POST", "/api/bet", {"game_id": market, "amount": 1, "choice": "opt1"}),
        ("GET", "/api/user/bets", None),
    ):
        answer = http.request(method, path, json=body, headers=headers)
        assert (answer.status_code, answer.json()) == (
            401,
            {"error": "Unknown user: sign in again"},
        ), path
    answer = http.get("/auth/v1/user", headers=headers)
    assert (answer.status_code, error_code(answer)) == (403, "user_not_found")
    refreshed = http.post(
        "/auth/v1/token?grant_type=refresh_token",
        json={"refresh_token": deleted.refresh_token},
        headers={"apikey": node.anon_key},
    )
    assert (refreshed.status_code, error_code(refreshed)) == (400, "refresh_token_not_found")
    signed_in = http.post(
        "/auth/v1/token?grant_type=password",
        json={"username": deleted.user.name, "password": PASSWORD},
        headers={"apikey": node.anon_key},
    )
    assert (signed_in.status_code, error_code(signed_in)) == (400, "invalid_credentials")
    # the public views too: each request checks the token's user and session first
    # (server.check_session); until issue 12 they answered as to anonymous
    public = http.get("/rest/v1/markets?order=id", headers=headers)
    assert public.status_code == 401, public.text
    assert (public.json()["code"], public.json()["message"]) == ("PT401", "unknown_user")
    after = ledger_of(node, deleted.user.id)
    assert after == before


def test_a_deleted_user_s_token_is_refused_by_the_betmarket_socket(
    node: Node, victims: Victims, deleted: Deleted
) -> None:
    socket = BetmarketSocket(node)
    assert socket.authenticate(deleted.user.token)["opcode"] == "error"


def test_a_deleted_user_s_token_is_refused_by_a_realtime_join(
    node: Node, victims: Victims, deleted: Deleted
) -> None:
    realtime = Realtime(node, node.anon_key)
    joined = realtime.join("realtime:deleted", deleted.user.token)
    assert joined[-1]["payload"]["status"] == "error"


def test_a_realtime_channel_joined_before_the_deletion_gets_none_of_the_user_s_rows_after(
    node: Node, victims: Victims
) -> None:
    """Every change is selected again as the subscriber, and auth.uid() refuses a deleted user:
    the refund of their voided wager (my_wallet, my_wagers, wallets) never reaches the channel,
    which is closed at that change with the unknown_user reason, as a refused token's is."""
    name = f"leaving_{uuid.uuid4().hex[:6]}"
    up = victims.http.post(
        "/api/auth/register", json={"username": name, "password": PASSWORD}
    ).json()
    leaving = User(victims.http, name, up["id"], up["token"])
    game = victims.boss.new_game("Voided after the deletion")
    assert leaving.bet(game, 5, "opt1").status_code == 201
    realtime = Realtime(node, node.anon_key)
    joined = realtime.join("realtime:leaving", leaving.token, extra_tables=("markets",))
    assert joined[-1]["payload"]["status"] == "ok", joined
    db(node).execute("update auth.users set deleted_at = now() where id = %s", [leaving.id])

    service = {"apikey": node.anon_key, "Authorization": f"Bearer {node.service_key}"}
    voided = victims.http.post(
        "/rest/v1/rpc/void_market", json={"market_id": game, "reason": "gone"}, headers=service
    )
    assert voided.status_code == 200, voided.text
    frames = realtime.frames_until(
        lambda f: f["event"] == "phx_close" and f["topic"] == "realtime:leaving"
    )
    said = [f for f in frames if f["event"] == "system" and f["payload"]["status"] == "error"]
    assert [f["payload"]["message"] for f in said] == [UNKNOWN_USER], frames
    tables = {f["payload"]["data"]["table"] for f in frames if f["event"] == "postgres_changes"}
    assert tables <= {"markets"}, frames  # the market's own changes are anyone's to see
    realtime.close()


# an admin's valid token after the admin role is withdrawn ----------------------------------------


@pytest.fixture
def demoted(node: Node, victims: Victims) -> User:
    """An admin's token, still valid and still saying admin, after `users demote`."""
    boss = admin(victims.http, node.database_url)
    db(node).execute("select app._set_admin(%s, false)", [boss.name])
    return boss


def test_a_demoted_admin_s_token_is_no_admin_over_http(node: Node, demoted: User) -> None:
    assert jwt.decode(demoted.token, options={"verify_signature": False})["app_metadata"] == {
        "provider": "email",
        "providers": ["email"],
        "role": "admin",
    }
    headers = {"apikey": node.anon_key, **demoted.headers}
    house = demoted.http.post("/rest/v1/rpc/house_summary", json={}, headers=headers)
    assert (house.status_code, house.json()["message"]) == (403, "not_admin")
    for view in ("admin_actions", "quote_telemetry", "settlement_proposals", "side_effect_jobs"):
        answer = demoted.http.get(f"/rest/v1/{view}", headers=headers)
        assert (answer.status_code, answer.json()) == (200, []), view
    drafts = demoted.http.get("/rest/v1/markets?status=eq.draft", headers=headers)
    assert drafts.json() == []
    assert demoted.get("/api/admin/profit").status_code == 403
    assert (
        demoted.post(
            "/api/admin/game",
            {
                "question_text": "Still admin?",
                "opt1_text": "a",
                "opt2_text": "b",
                "category": "real",
            },
        ).status_code
        == 403
    )


def test_a_demoted_admin_s_token_is_no_admin_on_the_betmarket_socket(
    node: Node, demoted: User
) -> None:
    socket = BetmarketSocket(node)
    answer = socket.authenticate(demoted.token)
    assert answer == {"opcode": "authenticated", "user_id": demoted.id, "is_admin": False}
