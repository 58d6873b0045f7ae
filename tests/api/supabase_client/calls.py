"""What the tests of /rest/v1 through the official supabase client share: a user signed up
through it, a market, the rows or object of an answer, and the APIError a call raises."""

from collections.abc import Callable
from typing import Any, cast

import pytest
from postgrest import APIError
from postgrest.types import CountMethod
from supabase import Client, create_client

from tests.serving import Node
from tests.support.gotrue import PASSWORD
from tests.support.supabase_users import SupabaseUser

EXACT = CountMethod.exact


def rows(response: Any) -> list[dict[str, Any]]:
    """A response's rows (the client types `data` as any JSON)."""
    return cast(list[dict[str, Any]], response.data)


def obj(response: Any) -> dict[str, Any]:
    """A response's JSON object (a scalar RPC result or `.single()`)."""
    assert isinstance(response.data, dict), response.data
    return cast(dict[str, Any], response.data)


def sign_up(node: Node, email: str) -> SupabaseUser[Client]:
    client = create_client(node.url, node.anon_key)
    session = client.auth.sign_up({"email": email, "password": PASSWORD}).session
    assert session is not None and session.user is not None
    return SupabaseUser(client, session.user.id, email, session.access_token)


def new_market(admin: SupabaseUser[Client], title: str, **options: Any) -> dict[str, Any]:
    return obj(
        admin.client.rpc(
            "create_market",
            {"title": title, "outcomes": ["Home", "Away"], "options": options},
        ).execute()
    )


def outcome_ids(client: Client, market_id: int) -> list[int]:
    outcomes = client.table("outcomes").select("id").eq("market_id", market_id).order("position")
    return [row["id"] for row in rows(outcomes.execute())]


def error(call: Callable[[], Any]) -> APIError:
    with pytest.raises(APIError) as caught:
        call()
    return caught.value
