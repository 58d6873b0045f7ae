"""/auth/v1's sign-up, driven by the official supabase client and raw HTTP: a user signs up
with an email or a username and signs in with it, never as an admin; `data` is kept as
user_metadata, a bounded JSON object; the email identity is answered as GoTrue's; bad input is
refused in words with GoTrue's codes."""

import uuid
from collections.abc import Callable

import httpx
import jwt
import pytest
from supabase import Client
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

from tests.serving import Node
from tests.support.gotrue import DATED, PASSWORD, error_code, error_message
from tests.support.gotrue import auth as _auth


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
