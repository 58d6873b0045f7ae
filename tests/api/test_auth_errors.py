"""/auth/v1's refusals carry GoTrue's error codes (a wrong password, a taken email), in the
shape of the API version the request names (X-Supabase-Api-Version). Forged and stale tokens, and
password guessing against the sign-in limit: tests/attack."""

from collections.abc import Callable

import pytest
from supabase import Client
from supabase_auth.errors import AuthApiError

from tests.serving import Node
from tests.support.gotrue import DATED
from tests.support.gotrue import auth as _auth


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
