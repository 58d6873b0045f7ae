"""/auth/v1's PUT /user (supabase-js's updateUser), as GoTrue: data merged into user_metadata, a
username kept, app_metadata refused, a new password that ends the other sessions, a new email at
once, and only with a live session."""

from collections.abc import Callable
from typing import Any

import jwt
import pytest
from supabase import Client, create_client
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

from tests.serving import Node
from tests.support.gotrue import DATED, PASSWORD, error_code
from tests.support.gotrue import auth as _auth


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
