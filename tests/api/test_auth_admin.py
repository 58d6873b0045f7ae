"""/auth/v1's admin API (supabase-js's auth.admin), with the service key only: users made,
changed, promoted and demoted (the engine agrees at once), refused as GoTrue, listed newest first
a page at a time, and deleted softly with their sessions ended."""

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
from supabase import Client, create_client
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

from tests.serving import Node
from tests.support.gotrue import DATED, PASSWORD
from tests.support.gotrue import auth as _auth


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
