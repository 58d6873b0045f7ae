"""The users and the market of the tests of /rest/v1 through the official, unmodified supabase
client (on tests/api's node): new bettors, an admin and a market (module-scoped); anonymous
sign-ins are switched on by tests/api/conftest.py's `anonymous_sign_ins`."""

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from supabase import Client, create_client

from tests.api.supabase_client.calls import new_market, sign_up
from tests.serving import Node
from tests.support.gotrue import PASSWORD
from tests.support.supabase_users import SupabaseUser


@pytest.fixture
def bettor(node: Node, unique: Callable[[str], str]) -> Callable[[], SupabaseUser[Client]]:
    return lambda: sign_up(node, f"{unique('bettor')}@example.test")


@pytest.fixture(scope="module")
def admin(node: Node, api_database: str) -> Iterator[SupabaseUser[Client]]:
    """A user promoted at the database (as `wagerbase users promote` does), then signed in again
    so that the token carries app_metadata.role = admin."""
    email = f"admin_{uuid.uuid4().hex[:8]}@example.test"
    sign_up(node, email)
    with psycopg.connect(api_database, autocommit=True) as conn:
        conn.execute("select app._set_admin(%s, true)", [email])
    client = create_client(node.url, node.anon_key)
    session = client.auth.sign_in_with_password({"email": email, "password": PASSWORD}).session
    assert session is not None and session.user is not None
    assert session.user.app_metadata.get("role") == "admin"
    yield SupabaseUser(client, session.user.id, email, session.access_token)


@pytest.fixture(scope="module")
def market(admin: SupabaseUser[Client]) -> dict[str, Any]:
    return new_market(admin, "Client FC v Server United")
