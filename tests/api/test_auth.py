"""/auth/v1 driven by the official, unmodified supabase client (and raw HTTP for the edges), as
GoTrue answers: sign-up keeps `data` as user_metadata and answers the email identity, updateUser
changes the email, the password and user_metadata, errors carry GoTrue's codes in either of its
shapes, a refresh token may be presented again within the reuse interval, anonymous sign-ins
follow their setting. Forged and stale tokens, and password guessing against the sign-in limit:
tests/attack."""

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from supabase import Client, create_client
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

from tests.serving import Node
from tests.support.gotrue import DATED, error_code, error_message, past_reuse_interval

PASSWORD = "correct horse 1"


@pytest.fixture
def client(node: Node) -> Client:
    return create_client(node.url, node.anon_key)


def test_sign_up_then_sign_in_with_email(client: Client, unique: Callable[[str], str]) -> None:
    email = f"{unique('ana')}@example.test"
    signed_up = client.auth.sign_up({"email": email, "password": "correct horse 1"})
    assert signed_up.session is not None
    assert signed_up.user is not None and signed_up.user.email == email

    signed_in = client.auth.sign_in_with_password({"email": email, "password": "correct horse 1"})
    assert signed_in.session is not None and signed_in.user is not None
    claims = jwt.decode(signed_in.session.access_token, options={"verify_signature": False})
    assert claims["sub"] == signed_in.user.id
    assert claims["role"] == "authenticated" and claims["aud"] == "authenticated"
    assert claims["email"] == email
    assert claims["exp"] > claims["iat"]
    assert "role" not in claims["app_metadata"]
    fetched = client.auth.get_user()
    assert fetched is not None and fetched.user is not None
    assert fetched.user.id == signed_in.user.id


def test_sign_up_cannot_make_an_admin(node: Node, unique: Callable[[str], str]) -> None:
    email = f"{unique('mallory')}@example.test"
    answer = httpx.post(
        f"{node.url}/auth/v1/signup",
        headers={"apikey": node.anon_key},
        json={
            "email": email,
            "password": "correct horse 1",
            "data": {"role": "admin"},
            "app_metadata": {"role": "admin"},
        },
    )
    assert answer.status_code == 200
    claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
    assert claims["app_metadata"].get("role") is None


def test_wrong_password_and_taken_email_are_refused_with_gotrue_codes(
    client: Client, unique: Callable[[str], str]
) -> None:
    email = f"{unique('ben')}@example.test"
    client.auth.sign_up({"email": email, "password": "correct horse 1"})
    with pytest.raises(AuthApiError) as wrong:
        client.auth.sign_in_with_password({"email": email, "password": "not it at all"})
    assert wrong.value.code == "invalid_credentials"
    with pytest.raises(AuthApiError) as taken:
        client.auth.sign_up({"email": email, "password": "another one 2"})
    assert taken.value.code == "user_already_exists"


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


def test_sign_up_with_a_username_and_sign_in_with_it(
    node: Node, unique: Callable[[str], str]
) -> None:
    name = unique("dee")
    up = httpx.post(
        f"{node.url}/auth/v1/signup",
        headers={"apikey": node.anon_key},
        json={"username": name, "password": "correct horse 1"},
    )
    assert up.status_code == 200, up.text
    assert up.json()["user"]["user_metadata"]["username"] == name
    signed_in = httpx.post(
        f"{node.url}/auth/v1/token?grant_type=password",
        headers={"apikey": node.anon_key},
        json={"username": name, "password": "correct horse 1"},
    )
    assert signed_in.status_code == 200, signed_in.text


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


@pytest.mark.parametrize(
    "body",
    [
        {"password": "correct horse 1", "data": {"username": 5}},
        {"password": "correct horse 1", "data": {"username": {"a": 1}}},
        {"password": "correct horse 1", "email": "nul\u0000@example.test"},
        {"password": "correct horse 1", "email": "not-an-email"},
    ],
)
def test_sign_up_refuses_bad_input_with_a_400(node: Node, body: dict[str, object]) -> None:
    answer = httpx.post(f"{node.url}/auth/v1/signup", headers={"apikey": node.anon_key}, json=body)
    assert answer.status_code == 400, answer.text
    assert error_code(answer) == "validation_failed"
    assert not error_message(answer).startswith("{"), answer.text  # words, never raw JSON


# GoTrue's user: user_metadata and identities ------------------------------------------------------


def _auth(node: Node, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
    headers = {"apikey": node.anon_key, **kw.pop("headers", {})}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.request(method, f"{node.url}/auth/v1/{path}", headers=headers, **kw)


def test_sign_up_keeps_data_as_user_metadata_and_answers_the_email_identity(
    client: Client, unique: Callable[[str], str]
) -> None:
    email = f"{unique('gus')}@example.test"
    data = {"display_name": "Gus", "favourite": {"team": "Home", "since": 1999}, "tags": ["a"]}
    up = client.auth.sign_up({"email": email, "password": PASSWORD, "options": {"data": data}})
    assert up.user is not None and up.session is not None
    assert up.user.user_metadata == data
    # supabase-js's "identities.length === 0 means already registered" check works
    assert up.user.identities is not None and len(up.user.identities) == 1
    (identity,) = up.user.identities
    assert (identity.provider, identity.id, identity.user_id) == ("email", up.user.id, up.user.id)
    assert identity.identity_data == {
        "sub": up.user.id,
        "email": email,
        "email_verified": True,
        "phone_verified": False,
    }
    assert uuid.UUID(identity.identity_id) != uuid.UUID(up.user.id)
    assert up.user.app_metadata == {"provider": "email", "providers": ["email"]}
    assert up.user.is_anonymous is False
    claims = jwt.decode(up.session.access_token, options={"verify_signature": False})
    assert claims["user_metadata"] == data and claims["is_anonymous"] is False

    fetched = client.auth.get_user()
    assert fetched is not None
    assert fetched.user.user_metadata == data
    assert fetched.user.identities == up.user.identities
    again = client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert again.user is not None and again.user.user_metadata == data


def test_user_metadata_is_a_bounded_json_object(node: Node, unique: Callable[[str], str]) -> None:
    for data, words in (
        ([1, 2], "data"),
        ("text", "data"),
        ({"blob": "x" * 5000}, "4096 bytes"),
    ):
        email = f"{unique('hal')}@example.test"
        answer = _auth(
            node, "POST", "signup", json={"email": email, "password": PASSWORD, "data": data}
        )
        assert (answer.status_code, error_code(answer)) == (400, "validation_failed"), data
        assert words in error_message(answer), answer.text
    # nothing was made: the email is free
    free = _auth(node, "POST", "signup", json={"email": email, "password": PASSWORD})
    assert free.status_code == 200, free.text


# GoTrue's error shapes and codes ------------------------------------------------------------------


def test_errors_take_the_shape_of_the_api_version_the_request_names(
    node: Node, unique: Callable[[str], str]
) -> None:
    body = {"email": f"{unique('ida')}@example.test", "password": "wrong one 1"}
    # without the header (curl): GoTrue's first shape, the status in `code`
    plain = _auth(node, "POST", "token?grant_type=password", json=body)
    assert plain.status_code == 400
    assert plain.json() == {
        "code": 400,
        "error_code": "invalid_credentials",
        "msg": "Invalid login credentials",
    }
    assert "x-supabase-api-version" not in plain.headers
    # with it (both official clients): {code, message} and the header back
    dated = _auth(node, "POST", "token?grant_type=password", json=body, headers=DATED)
    assert dated.json() == {"code": "invalid_credentials", "message": "Invalid login credentials"}
    assert dated.headers["x-supabase-api-version"] == "2024-01-01"
    # a date GoTrue cannot read is its first version
    odd = _auth(
        node,
        "POST",
        "token?grant_type=password",
        json=body,
        headers={"X-Supabase-Api-Version": "soon"},
    )
    assert odd.json()["error_code"] == "invalid_credentials"


def test_an_invalid_email_is_refused_in_words(client: Client, node: Node) -> None:
    with pytest.raises(AuthApiError) as refused:
        client.auth.sign_up({"email": "not-an-email", "password": PASSWORD})
    assert (refused.value.status, refused.value.code) == (400, "validation_failed")
    assert refused.value.message == "Unable to validate email address: invalid format"
    for email in ("two@at@example.test", "spa ce@example.test", f"{'x' * 250}@example.test"):
        answer = _auth(node, "POST", "signup", json={"email": email, "password": PASSWORD})
        assert (answer.status_code, error_code(answer)) == (400, "validation_failed"), email
        assert error_message(answer).startswith("Unable to validate email address"), email


def test_sign_up_refusals_carry_gotrue_codes(client: Client, node: Node) -> None:
    with pytest.raises(AuthWeakPasswordError) as weak:
        client.auth.sign_up({"email": "weak@example.test", "password": "short"})
    assert (weak.value.status, weak.value.code, weak.value.reasons) == (
        422,
        "weak_password",
        ["length"],
    )
    refusals = [
        ({"email": "nopass@example.test"}, 422, "validation_failed"),
        ({"email": "nopass@example.test", "password": ""}, 422, "validation_failed"),
        ({"phone": "+15555550100", "password": PASSWORD}, 422, "phone_provider_disabled"),
        ({"password": PASSWORD}, 400, "validation_failed"),
    ]
    for body, status, code in refusals:
        answer = _auth(node, "POST", "signup", json=body, headers=DATED)
        assert (answer.status_code, answer.json()["code"]) == (status, code), body


# updateUser ---------------------------------------------------------------------------------------


def _signed_up(node: Node, unique: Callable[[str], str], **data: Any) -> tuple[Client, str]:
    client = create_client(node.url, node.anon_key)
    email = f"{unique('upd')}@example.test"
    up = client.auth.sign_up({"email": email, "password": PASSWORD, "options": {"data": data}})
    assert up.session is not None
    return client, email


def test_update_user_merges_data_into_user_metadata_as_gotrue(
    node: Node, unique: Callable[[str], str]
) -> None:
    client, _ = _signed_up(node, unique, theme="dark", lang="en", drop_me=1)
    updated = client.auth.update_user({"data": {"lang": "fr", "drop_me": None, "new": [1, 2]}})
    expected = {"theme": "dark", "lang": "fr", "new": [1, 2]}
    assert updated.user.user_metadata == expected
    fetched = client.auth.get_user()
    assert fetched is not None and fetched.user.user_metadata == expected
    # the next token carries it
    session = client.auth.refresh_session().session
    assert session is not None
    claims = jwt.decode(session.access_token, options={"verify_signature": False})
    assert claims["user_metadata"] == expected


def test_update_user_keeps_a_username_and_refuses_app_metadata_and_bad_data(
    node: Node, unique: Callable[[str], str]
) -> None:
    name = unique("ivy")
    up = _auth(node, "POST", "signup", json={"username": name, "password": PASSWORD})
    token = up.json()["access_token"]
    same = _auth(node, "PUT", "user", token, json={"data": {"username": name, "x": 1}})
    assert same.status_code == 200, same.text
    assert same.json()["user_metadata"] == {"username": name, "x": 1}
    for body, status, code in (
        ({"data": {"username": "someone_else"}}, 400, "validation_failed"),
        ({"data": {"blob": "y" * 5000}}, 400, "validation_failed"),
        ({"data": [1]}, 400, "validation_failed"),
        ({"app_metadata": {"role": "admin"}}, 403, "not_admin"),
        ({"phone": "+15555550100"}, 422, "phone_provider_disabled"),
        ({"email": "not-an-email"}, 400, "validation_failed"),
    ):
        answer = _auth(node, "PUT", "user", token, json=body, headers=DATED)
        assert (answer.status_code, answer.json()["code"]) == (status, code), body
        assert not answer.json()["message"].startswith("{"), answer.text
    user = _auth(node, "GET", "user", token).json()
    assert user["user_metadata"] == {"username": name, "x": 1}
    assert "role" not in user["app_metadata"]


def test_update_user_changes_the_password_and_ends_the_other_sessions(
    node: Node, unique: Callable[[str], str]
) -> None:
    client, email = _signed_up(node, unique)
    other = create_client(node.url, node.anon_key)
    elsewhere = other.auth.sign_in_with_password({"email": email, "password": PASSWORD}).session
    assert elsewhere is not None

    with pytest.raises(AuthWeakPasswordError) as weak:
        client.auth.update_user({"password": "short"})
    assert (weak.value.status, weak.value.code, weak.value.reasons) == (
        422,
        "weak_password",
        ["length"],
    )
    with pytest.raises(AuthApiError) as same:
        client.auth.update_user({"password": PASSWORD})
    assert (same.value.status, same.value.code) == (422, "same_password")

    client.auth.update_user({"password": "a brand new one 2"})
    # this session lives on; the other one ended, as GoTrue ends it
    assert client.auth.get_user() is not None
    with pytest.raises(AuthApiError) as ended:
        other.auth.get_user()
    assert (ended.value.status, ended.value.code) == (403, "session_not_found")
    refused = _auth(
        node,
        "POST",
        "token?grant_type=refresh_token",
        json={"refresh_token": elsewhere.refresh_token},
    )
    assert (refused.status_code, error_code(refused)) == (400, "session_not_found")
    # the new password signs in, the old one no longer
    with pytest.raises(AuthApiError) as old:
        other.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert old.value.code == "invalid_credentials"
    assert other.auth.sign_in_with_password({"email": email, "password": "a brand new one 2"})


def test_update_user_changes_the_email_at_once(node: Node, unique: Callable[[str], str]) -> None:
    client, email = _signed_up(node, unique)
    _, taken = _signed_up(node, unique)
    with pytest.raises(AuthApiError) as exists:
        client.auth.update_user({"email": taken.upper()})
    assert (exists.value.status, exists.value.code) == (422, "email_exists")

    new_email = f"{unique('moved')}@example.test"
    moved = client.auth.update_user({"email": new_email})
    assert moved.user.email == new_email
    assert moved.user.identities is not None
    assert moved.user.identities[0].identity_data["email"] == new_email
    fresh = create_client(node.url, node.anon_key)
    assert fresh.auth.sign_in_with_password({"email": new_email, "password": PASSWORD}).session
    with pytest.raises(AuthApiError):
        fresh.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    # the old email is free again
    assert _signed_up(node, lambda _: email.split("@")[0])[1] == email


def test_update_user_needs_a_live_session(node: Node, unique: Callable[[str], str]) -> None:
    up = _auth(node, "POST", "signup", json={"username": unique("jo"), "password": PASSWORD})
    token = up.json()["access_token"]
    assert _auth(node, "POST", "logout", token).status_code == 204
    for method, body in (("GET", None), ("PUT", {"data": {"a": 1}})):
        answer = _auth(node, method, "user", token, json=body, headers=DATED)
        assert (answer.status_code, answer.json()["code"]) == (403, "session_not_found")
    nobody = _auth(node, "PUT", "user", json={"data": {"a": 1}}, headers=DATED)
    assert (nobody.status_code, nobody.json()["code"]) == (401, "no_authorization")
    anon = _auth(node, "PUT", "user", node.anon_key, json={"data": {}}, headers=DATED)
    assert (anon.status_code, anon.json()["code"]) == (403, "bad_jwt")


# the refresh-token reuse interval -----------------------------------------------------------------


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


# anonymous sign-ins -------------------------------------------------------------------------------


def _set_anonymous_sign_ins(node: Node, on: bool) -> None:
    answer = httpx.post(
        f"{node.url}/rest/v1/rpc/update_settings",
        headers={"apikey": node.anon_key, "Authorization": f"Bearer {node.service_key}"},
        json={"settings": {"anonymous_sign_ins": on}},
    )
    assert answer.status_code == 200 and answer.json()["anonymous_sign_ins"] is on, answer.text


@pytest.fixture
def anonymous_sign_ins(node: Node) -> Iterator[None]:
    """Anonymous sign-ins on (the service role's update_settings), off again afterwards."""
    _set_anonymous_sign_ins(node, True)
    try:
        yield
    finally:
        _set_anonymous_sign_ins(node, False)


def test_anonymous_sign_ins_are_off_by_default(client: Client, node: Node) -> None:
    shown = httpx.get(
        f"{node.url}/rest/v1/settings?select=anonymous_sign_ins,refresh_token_reuse_seconds",
        headers={"apikey": node.anon_key},
    )
    assert shown.json() == [{"anonymous_sign_ins": False, "refresh_token_reuse_seconds": 10}]
    with pytest.raises(AuthApiError) as off:
        client.auth.sign_in_anonymously()
    assert (off.value.status, off.value.code) == (422, "anonymous_provider_disabled")
    assert off.value.message == "Anonymous sign-ins are disabled"


@pytest.mark.usefixtures("anonymous_sign_ins")
def test_an_anonymous_user_signs_in_and_converts_with_an_email_and_a_password(
    client: Client, node: Node, unique: Callable[[str], str]
) -> None:
    signed_in = client.auth.sign_in_anonymously({"options": {"data": {"nick": "guest"}}})
    assert signed_in.user is not None and signed_in.session is not None
    user = signed_in.user
    assert user.is_anonymous is True and user.identities == [] and user.email == ""
    assert user.user_metadata == {"nick": "guest"}
    assert user.app_metadata == {"provider": "anonymous", "providers": ["anonymous"]}
    claims = jwt.decode(signed_in.session.access_token, options={"verify_signature": False})
    assert claims["is_anonymous"] is True and claims["role"] == "authenticated"
    assert claims["amr"][0]["method"] == "anonymous"
    fetched = client.auth.get_user()
    assert fetched is not None and fetched.user.is_anonymous is True

    # a password alone is refused (GoTrue's rule), then an email and a password convert them
    with pytest.raises(AuthApiError) as alone:
        client.auth.update_user({"password": "my own now 3"})
    assert (alone.value.status, alone.value.code) == (422, "validation_failed")
    email = f"{unique('conv')}@example.test"
    converted = client.auth.update_user({"email": email, "password": "my own now 3"})
    assert converted.user.is_anonymous is False and converted.user.email == email
    assert converted.user.identities is not None and len(converted.user.identities) == 1
    assert converted.user.app_metadata["provider"] == "email"
    assert converted.user.user_metadata == {"nick": "guest"}
    assert converted.user.id == user.id
    again = create_client(node.url, node.anon_key)
    session = again.auth.sign_in_with_password({"email": email, "password": "my own now 3"})
    assert session.user is not None and session.user.id == user.id
    assert session.session is not None
    claims = jwt.decode(session.session.access_token, options={"verify_signature": False})
    assert claims["is_anonymous"] is False


@pytest.mark.usefixtures("anonymous_sign_ins")
def test_anonymous_sign_ins_count_as_sign_ups_and_take_bounded_data(node: Node) -> None:
    big = _auth(node, "POST", "signup", json={"data": {"blob": "z" * 5000}}, headers=DATED)
    assert (big.status_code, big.json()["code"]) == (400, "validation_failed")
    listed = _auth(node, "POST", "signup", json={"data": [1]}, headers=DATED)
    assert (listed.status_code, listed.json()["code"]) == (400, "validation_failed")
    answer = _auth(node, "POST", "signup", json={})  # the bare body signInAnonymously sends
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"]["is_anonymous"] is True
    assert answer.json()["user"]["user_metadata"] == {}


# auth.admin: the admin API, with the service key ------------------------------------------------


@pytest.fixture
def service(node: Node) -> Client:
    return create_client(node.url, node.service_key)


def _acts_as_admin(node: Node, token: str) -> Any:
    answer = httpx.post(
        f"{node.url}/rest/v1/rpc/acts_as_admin",
        headers={"apikey": node.anon_key, "Authorization": f"Bearer {token}"},
        json={},
    )
    return answer.json()


def test_the_admin_api_takes_only_the_service_key(node: Node, unique: Callable[[str], str]) -> None:
    user = _auth(node, "POST", "signup", json={"username": unique("lu"), "password": PASSWORD})
    token = user.json()["access_token"]
    target = user.json()["user"]["id"]
    for method, path in (
        ("GET", "admin/users"),
        ("POST", "admin/users"),
        ("GET", f"admin/users/{target}"),
        ("PUT", f"admin/users/{target}"),
        ("DELETE", f"admin/users/{target}"),
    ):
        body = None if method in ("GET", "DELETE") else {"app_metadata": {"role": "admin"}}
        for bearer, status, code in (
            (None, 401, "no_authorization"),
            (node.anon_key, 403, "not_admin"),
            (token, 403, "not_admin"),
            (token + "x", 403, "bad_jwt"),
        ):
            answer = _auth(node, method, path, bearer, json=body, headers=DATED)
            assert (answer.status_code, answer.json()["code"]) == (status, code), (path, bearer)
    assert _auth(node, "GET", "user", token).json()["app_metadata"].get("role") is None


def test_an_admin_api_user_is_made_changed_promoted_and_demoted(
    service: Client, node: Node, unique: Callable[[str], str]
) -> None:
    email = f"{unique('made')}@example.test"
    made = service.auth.admin.create_user(
        {
            "email": email,
            "password": PASSWORD,
            "email_confirm": True,
            "user_metadata": {"team": "ops"},
            "app_metadata": {"plan": "pro"},
        }
    ).user
    assert (made.email, made.user_metadata, made.is_anonymous) == (email, {"team": "ops"}, False)
    assert made.app_metadata == {"provider": "email", "providers": ["email"], "plan": "pro"}
    assert made.identities is not None and len(made.identities) == 1
    assert service.auth.admin.get_user_by_id(made.id).user == made

    # promoted: a token issued from now on says admin, and the engine agrees
    promoted = service.auth.admin.update_user_by_id(
        made.id, {"app_metadata": {"role": "admin"}, "user_metadata": {"team": None, "x": 1}}
    ).user
    assert promoted.app_metadata["role"] == "admin" and promoted.app_metadata["plan"] == "pro"
    assert promoted.user_metadata == {"x": 1}
    person = create_client(node.url, node.anon_key)
    session = person.auth.sign_in_with_password({"email": email, "password": PASSWORD}).session
    assert session is not None and session.user.app_metadata["role"] == "admin"
    assert _acts_as_admin(node, session.access_token) is True
    # demoted: at once, though the token still says admin
    service.auth.admin.update_user_by_id(made.id, {"app_metadata": {"role": None}})
    assert _acts_as_admin(node, session.access_token) is False

    # a new password from the admin ends every session of the user
    service.auth.admin.update_user_by_id(made.id, {"password": "set by the admin 4"})
    ended = _auth(node, "GET", "user", session.access_token, headers=DATED)
    assert (ended.status_code, ended.json()["code"]) == (403, "session_not_found")
    assert person.auth.sign_in_with_password({"email": email, "password": "set by the admin 4"})

    with psycopg.connect(node.database_url) as conn:
        logged = conn.execute(
            """select action, actor, actor_role, after -> 'app_metadata' ->> 'role'
               from app.admin_actions where after ->> 'id' = %s or before ->> 'id' = %s
               order by id""",
            [made.id, made.id],
        ).fetchall()
    assert logged == [
        ("admin_create_user", None, "service_role", None),
        ("admin_update_user", None, "service_role", "admin"),
        ("admin_update_user", None, "service_role", None),
        ("admin_update_user", None, "service_role", None),
    ]


def test_the_admin_api_refuses_as_gotrue(
    service: Client, node: Node, unique: Callable[[str], str]
) -> None:
    email = f"{unique('dup')}@example.test"
    service.auth.admin.create_user({"email": email, "password": PASSWORD})
    with pytest.raises(AuthApiError) as taken:
        service.auth.admin.create_user({"email": email.upper(), "password": PASSWORD})
    assert (taken.value.status, taken.value.code) == (422, "email_exists")
    with pytest.raises(AuthWeakPasswordError):
        service.auth.admin.create_user({"email": f"x{email}", "password": "short"})
    with pytest.raises(AuthApiError) as missing:
        service.auth.admin.get_user_by_id(str(uuid.uuid4()))
    assert (missing.value.status, missing.value.code) == (404, "user_not_found")
    for body, status, code in (
        ({"password": PASSWORD}, 400, "validation_failed"),
        ({"email": "not-an-email"}, 400, "validation_failed"),
        ({"email": f"b{email}", "ban_duration": "24h"}, 400, "validation_failed"),
        ({"email": f"c{email}", "phone": "+15555550100"}, 422, "phone_provider_disabled"),
        ({"email": f"d{email}", "app_metadata": [1]}, 400, "validation_failed"),
    ):
        answer = _auth(node, "POST", "admin/users", node.service_key, json=body, headers=DATED)
        assert (answer.status_code, answer.json()["code"]) == (status, code), body
    for method in ("GET", "PUT", "DELETE"):  # a user id that is no UUID: GoTrue's 400
        answer = _auth(
            node, method, "admin/users/null,null", node.service_key, json={}, headers=DATED
        )
        assert (answer.status_code, answer.json()["code"]) == (400, "validation_failed"), method


def test_the_admin_api_lists_users_newest_first_a_page_at_a_time(
    service: Client, node: Node, unique: Callable[[str], str]
) -> None:
    made = [
        service.auth.admin.create_user({"email": f"{unique('page')}@example.test"}).user.id
        for _ in range(3)
    ]
    newest = service.auth.admin.list_users(page=1, per_page=2)
    assert [u.id for u in newest] == made[:0:-1]
    answer = _auth(node, "GET", "admin/users?page=2&per_page=1", node.service_key)
    assert answer.status_code == 200, answer.text
    assert [u["id"] for u in answer.json()["users"]] == [made[1]]
    assert answer.json()["aud"] == "authenticated"
    total = int(answer.headers["x-total-count"])
    assert total >= 3
    assert answer.headers["link"] == (
        f'</auth/v1/admin/users?page=3&per_page=1>; rel="next", '
        f'</auth/v1/admin/users?page={total}&per_page=1>; rel="last"'
    )
    # supabase-js sends `page=&per_page=` when it names neither: GoTrue's defaults, 1 and 50
    defaults = _auth(node, "GET", "admin/users?page=&per_page=", node.service_key)
    assert len(defaults.json()["users"]) == min(total, 50)
    for query in ("page=0", "per_page=0", "per_page=1001", "page=x"):
        refused = _auth(node, "GET", f"admin/users?{query}", node.service_key, headers=DATED)
        assert (refused.status_code, refused.json()["code"]) == (400, "validation_failed"), query


def test_an_admin_api_deletion_is_soft_and_ends_the_user_s_sessions(
    service: Client, node: Node, unique: Callable[[str], str]
) -> None:
    email = f"{unique('gone')}@example.test"
    person = create_client(node.url, node.anon_key)
    session = person.auth.sign_up({"email": email, "password": PASSWORD}).session
    assert session is not None and session.user is not None
    user_id = session.user.id
    wallet = httpx.post(
        f"{node.url}/rest/v1/rpc/get_wallet",
        headers={"apikey": node.anon_key, "Authorization": f"Bearer {session.access_token}"},
        json={},
    )
    assert wallet.status_code == 200, wallet.text

    service.auth.admin.delete_user(user_id)  # should_soft_delete=False: soft all the same
    gone = _auth(node, "GET", "user", session.access_token, headers=DATED)
    assert (gone.status_code, gone.json()["code"]) == (403, "user_not_found")
    with pytest.raises(AuthApiError) as missing:
        service.auth.admin.get_user_by_id(user_id)
    assert missing.value.code == "user_not_found"
    assert user_id not in [u.id for u in service.auth.admin.list_users(per_page=1000)]
    with pytest.raises(AuthApiError) as signed_in:
        person.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert signed_in.value.code == "invalid_credentials"
    again = _auth(node, "DELETE", f"admin/users/{user_id}", node.service_key, headers=DATED)
    assert (again.status_code, again.json()["code"]) == (404, "user_not_found")
    with psycopg.connect(node.database_url) as conn:
        kept = conn.execute(
            """select u.deleted_at is not null, a.balance
               from auth.users as u join app.accounts as a on a.user_id = u.id
               where u.id = %s""",
            [user_id],
        ).fetchone()
    assert kept == (True, 10000)  # the row and its wallet stay
