"""An anonymous user through the official supabase client (docs/api.md, "Anonymous users")."""

from collections.abc import Callable
from typing import Any

import pytest
from supabase import create_client

from tests.api.supabase_client.calls import error, obj, outcome_ids, rows
from tests.serving import Node
from tests.support.gotrue import PASSWORD


@pytest.mark.usefixtures("anonymous_sign_ins")
def test_an_anonymous_user_plays_with_the_grant_but_withdraws_only_once_converted(
    node: Node, market: dict[str, Any], unique: Callable[[str], str]
) -> None:
    """What an anonymous user may do with money (docs/api.md, "Anonymous users"): they get the
    sign-up grant and deposit and wager like anyone; money leaves only for a user with an email."""
    guest = create_client(node.url, node.anon_key)
    signed_in = guest.auth.sign_in_anonymously()
    assert signed_in.user is not None and signed_in.user.is_anonymous
    home, _ = outcome_ids(guest, market["id"])

    assert obj(guest.rpc("get_wallet", {}).execute())["balance"] == 10000  # the grant
    placed = guest.rpc(
        "place_wager", {"market_id": market["id"], "outcome_id": home, "stake": 700}
    ).execute()
    assert obj(placed)["balance"] == 9300
    assert obj(guest.rpc("deposit", {"amount": 500}).execute())["balance"] == 9800
    refused = error(lambda: guest.rpc("withdraw", {"amount": 100}).execute())
    assert (refused.code, refused.message) == ("PT403", "anonymous_user")
    assert obj(guest.rpc("get_wallet", {}).execute())["balance"] == 9800
    mine = guest.table("my_wagers").select("stake, user_id").execute()
    assert rows(mine) == [{"stake": 700, "user_id": signed_in.user.id}]

    email = f"{unique('guest')}@example.test"
    guest.auth.update_user({"email": email, "password": PASSWORD})
    # the same token, the same wallet: the database decides, and they have an email now
    assert obj(guest.rpc("withdraw", {"amount": 100}).execute())["balance"] == 9700
