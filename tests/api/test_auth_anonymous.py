"""/auth/v1's anonymous sign-ins (supabase-js's signInAnonymously): off by default; when on, an
anonymous user signs in and converts with an email and a password, and anonymous sign-ins count
as sign-ups and take bounded data."""

from collections.abc import Callable

import httpx
import jwt
import pytest
from supabase import Client, create_client
from supabase_auth.errors import AuthApiError

from tests.serving import Node
from tests.support.gotrue import DATED
from tests.support.gotrue import auth as _auth


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
