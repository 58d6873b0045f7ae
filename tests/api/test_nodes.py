"""API nodes are stateless: several `serve` processes on one database work side by side."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from supabase import create_client

from tests.serving import Node


@pytest.fixture
def second_node(node: Node, tmp_path: Path) -> Iterator[Node]:
    other = Node(node.database_url, node.jwt_secret, tmp_path / "second.log").start()
    try:
        yield other
    finally:
        other.stop()


def obj(data: object) -> dict[str, Any]:
    """An RPC's JSON object (the client types `data` as any JSON)."""
    assert isinstance(data, dict), data
    return data


def test_a_wager_placed_on_one_node_is_visible_through_the_other_at_once(
    node: Node, second_node: Node, api_database: str, unique: Callable[[str], str]
) -> None:
    admin_email = f"{unique('boss')}@example.test"
    admin = create_client(node.url, node.anon_key)
    admin.auth.sign_up({"email": admin_email, "password": "correct horse 1"})
    with psycopg.connect(api_database, autocommit=True) as conn:
        conn.execute("select app._set_admin(%s, true)", [admin_email])
    admin.auth.sign_in_with_password({"email": admin_email, "password": "correct horse 1"})
    market = obj(
        admin.rpc("create_market", {"title": "Two nodes, one book", "outcomes": ["Yes", "No"]})
        .execute()
        .data
    )

    email = f"{unique('punter')}@example.test"
    on_a = create_client(node.url, node.anon_key)
    on_a.auth.sign_up({"email": email, "password": "correct horse 1"})
    on_b = create_client(second_node.url, second_node.anon_key)
    on_b.auth.sign_in_with_password({"email": email, "password": "correct horse 1"})

    outcome = market["outcomes"][0]["outcome_id"]
    placed = obj(
        on_a.rpc("place_wager", {"market_id": market["id"], "outcome_id": outcome, "stake": 2500})
        .execute()
        .data
    )

    seen = on_b.table("my_wagers").select("id, stake, market_id").execute().data
    assert seen == [{"id": placed["wager_id"], "stake": 2500, "market_id": market["id"]}]
    pools = on_b.table("outcomes").select("pool").eq("id", outcome).execute().data
    assert pools == [{"pool": 2500}]
    wallet = on_b.table("my_wallet").select("balance, version").execute().data
    assert wallet == [{"balance": placed["balance"], "version": placed["balance_version"]}]
