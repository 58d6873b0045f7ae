"""Valid tokens whose user is gone or no longer an admin, on every surface that takes a token:
a user deleted (soft, as auth.users keeps it, and hard) reads and moves nothing over HTTP and is
refused by both sockets, and a realtime channel joined before the deletion hears none of the
user's rows after; an admin's token after the role is withdrawn is no admin's, over HTTP and on
BetMarket's socket."""

import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from tests.api.betmarket_client import PASSWORD, User, admin
from tests.attack.over_http import db
from tests.attack.sockets import BetmarketSocket, Realtime
from tests.attack.victims import Victims
from tests.serving import Node
from tests.support.gotrue import error_code
from wagerbase.surfaces.realtime.joins import UNKNOWN_USER

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
