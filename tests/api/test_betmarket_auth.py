"""BetMarket's /api/auth over HTTP against a running node: register, login and logout, their
refusals, bad tokens, and isAdmin as the engine says it (public.acts_as_admin())."""

import json
import time

import httpx
import jwt
import psycopg

from tests.api.betmarket_client import PASSWORD, User, register
from tests.pgserver import unique_name
from tests.serving import Node

# Auth ---------------------------------------------------------------------------------------------


def test_register_signs_in_at_once_and_login_gives_a_working_token(
    http: httpx.Client, node: Node
) -> None:
    name = unique_name("ana")
    answer = http.post("/api/auth/register", json={"username": name, "password": PASSWORD})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"token", "id", "isAdmin", "expiryTimeEpochSeconds"}
    assert body["isAdmin"] is False
    assert body["expiryTimeEpochSeconds"] > time.time()
    claims = jwt.decode(
        body["token"], node.jwt_secret, algorithms=["HS256"], audience="authenticated"
    )
    assert claims["sub"] == body["id"] and claims["exp"] == body["expiryTimeEpochSeconds"]

    login = http.post("/api/auth/login", json={"username": name, "password": PASSWORD})
    assert login.status_code == 200
    assert login.json()["id"] == body["id"] and login.json()["isAdmin"] is False
    balance = http.get("/api/balance", headers={"Authorization": f"Bearer {login.json()['token']}"})
    assert balance.status_code == 200 and balance.json()["user_id"] == body["id"]


def test_auth_refusals_have_betmarket_statuses(http: httpx.Client) -> None:
    user = register(http)
    wrong = http.post("/api/auth/login", json={"username": user.name, "password": "not it at all"})
    assert wrong.status_code == 401 and wrong.json()["error"]
    nobody = http.post("/api/auth/login", json={"username": unique_name("nobody"), "password": "x"})
    assert nobody.status_code == 401 and nobody.json()["error"]
    taken = http.post("/api/auth/register", json={"username": user.name, "password": PASSWORD})
    assert taken.status_code == 409 and taken.json()["error"]
    weak = http.post("/api/auth/register", json={"username": unique_name("w"), "password": "short"})
    assert weak.status_code == 400 and weak.json()["error"]
    bad_name = http.post("/api/auth/register", json={"username": "a b!", "password": PASSWORD})
    assert bad_name.status_code == 400 and bad_name.json()["error"]
    for body in (
        {"username": user.name},
        {"password": PASSWORD},
        {"username": 5, "password": "x"},
        {"username": "nul\u0000byte", "password": PASSWORD},
    ):
        for path in ("/api/auth/register", "/api/auth/login"):
            refused = http.post(path, json=body)
            assert refused.status_code == 400 and refused.json()["error"], (path, body)


def test_logout_answers_ok(http: httpx.Client) -> None:
    user = register(http)
    answer = user.post("/api/auth/logout")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
    assert http.post("/api/auth/logout").json() == {"status": "ok"}


def test_bad_tokens_are_401_with_an_error(http: httpx.Client, node: Node) -> None:
    user = register(http)
    claims = jwt.decode(user.token, options={"verify_signature": False})
    expired = jwt.encode({**claims, "exp": int(time.time()) - 60}, node.jwt_secret, "HS256")
    forged = jwt.encode(claims, "another secret that is long enough to sign", "HS256")
    unsigned = jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]
    for token in (expired, forged, unsigned, "not a token"):
        for path in ("/api/balance", "/api/games", "/api/user/bets"):
            answer = http.get(path, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 401, (path, answer.text)
            assert answer.json()["error"]


def _acts_as_admin(database_url: str, node: Node, token: str) -> bool:
    """What the engine's rule, public.acts_as_admin(), answers for a caller with `token`."""
    claims = jwt.decode(token, node.jwt_secret, algorithms=["HS256"], audience="authenticated")
    with psycopg.connect(database_url) as conn:
        conn.execute("set local role authenticated")
        conn.execute("select set_config('request.jwt.claims', %s, true)", [json.dumps(claims)])
        row = conn.execute("select public.acts_as_admin()").fetchone()
        conn.rollback()
    assert row is not None and isinstance(row[0], bool)
    return row[0]


def _login(http: httpx.Client, user: User) -> dict[str, object]:
    answer = http.post("/api/auth/login", json={"username": user.name, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_is_admin_is_the_engine_s_word_on_the_user_made_admin_in_the_database(
    http: httpx.Client, node: Node, api_database: str
) -> None:
    """isAdmin is what public.acts_as_admin() answers for the token the sign-in gives: true for a
    user whose admin role was granted in the database (as `wagerbase users promote` does), false
    for a plain bettor and, once the role is withdrawn, for the former admin; the admin calls
    agree with it."""
    bettor = register(http)
    promoted = register(http, "admin")
    with psycopg.connect(api_database, autocommit=True) as conn:
        conn.execute("select app._set_admin(%s, true)", [promoted.name])
    for user, admin in ((bettor, False), (promoted, True)):
        body = _login(http, user)
        assert body["isAdmin"] is admin, user.name
        token = body["token"]
        assert isinstance(token, str)
        assert _acts_as_admin(api_database, node, token) is admin
        profit = http.get("/api/admin/profit", headers={"Authorization": f"Bearer {token}"})
        assert profit.status_code == (200 if admin else 403), profit.text
    with psycopg.connect(api_database, autocommit=True) as conn:
        conn.execute("select app._set_admin(%s, false)", [promoted.name])
    body = _login(http, promoted)
    assert body["isAdmin"] is False
    token = body["token"]
    assert isinstance(token, str) and _acts_as_admin(api_database, node, token) is False
