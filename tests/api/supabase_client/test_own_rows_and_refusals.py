"""/rest/v1 driven by the official, unmodified supabase client: bettors deposit, wager and read
their own rows; another bettor sees none of them; the engine's refusals arrive as
`postgrest.APIError` with the documented codes; writes to views are refused."""

import json
from collections.abc import Callable
from typing import Any

from supabase import Client, create_client

from tests.api.supabase_client.calls import EXACT, error, obj, outcome_ids, rows
from tests.serving import Node
from tests.support.supabase_users import SupabaseUser


def test_a_bettor_deposits_wagers_and_reads_own_rows(
    bettor: Callable[[], SupabaseUser[Client]], market: dict[str, Any]
) -> None:
    ana = bettor()
    home, away = outcome_ids(ana.client, market["id"])

    deposit = ana.client.rpc("deposit", {"amount": 5000, "idempotency_key": "d1"}).execute()
    assert obj(deposit)["balance"] == 15000  # the 100.00 grant, then 50.00
    first = ana.client.rpc(
        "place_wager", {"market_id": market["id"], "outcome_id": home, "stake": 1000}
    ).execute()
    assert obj(first)["stake"] == 1000 and obj(first)["balance"] == 14000
    ana.client.rpc(
        "place_wager", {"market_id": market["id"], "outcome_id": away, "stake": 300}
    ).execute()

    mine = (
        ana.client.table("my_wagers")
        .select("id, stake, outcome_id, user_id", count=EXACT)
        .eq("market_id", market["id"])
        .order("stake", desc=True)
        .limit(10)
        .execute()
    )
    assert mine.count == 2
    assert [(w["stake"], w["outcome_id"]) for w in rows(mine)] == [(1000, home), (300, away)]
    assert {w["user_id"] for w in rows(mine)} == {ana.user_id}

    big = (
        ana.client.table("wagers")
        .select("stake")
        .eq("user_id", ana.user_id)
        .gte("stake", 500)
        .lte("stake", 5000)
        .execute()
    )
    assert big.data == [{"stake": 1000}]
    outcomes = ana.client.table("my_wagers").select("stake").in_("outcome_id", [away, -1]).execute()
    assert outcomes.data == [{"stake": 300}]
    page = ana.client.table("my_wagers").select("stake", count=EXACT).range(1, 1).execute()
    assert page.count == 2 and len(rows(page)) == 1

    wallet = ana.client.table("my_wallet").select("*").single().execute()
    assert obj(wallet)["user_id"] == ana.user_id and obj(wallet)["balance"] == 13700


def test_another_bettor_gets_no_one_elses_rows(
    bettor: Callable[[], SupabaseUser[Client]], market: dict[str, Any]
) -> None:
    ana, ben = bettor(), bettor()
    home, _ = outcome_ids(ana.client, market["id"])
    ana.client.rpc(
        "place_wager", {"market_id": market["id"], "outcome_id": home, "stake": 200}
    ).execute()

    assert ben.client.table("wagers").select("*").eq("user_id", ana.user_id).execute().data == []
    theirs = ben.client.table("wagers").select("id", count=EXACT).execute()
    assert theirs.count == 0 and theirs.data == []
    assert ben.client.table("ledger").select("*").eq("user_id", ana.user_id).execute().data == []
    wallets = rows(ben.client.table("wallets").select("user_id").execute())
    assert all(w["user_id"] == ben.user_id for w in wallets)
    # the admin-only views answer with no rows, not with someone's data
    assert ben.client.table("admin_actions").select("*").execute().data == []


def test_engine_refusals_arrive_with_their_codes(
    bettor: Callable[[], SupabaseUser[Client]], market: dict[str, Any], node: Node
) -> None:
    cy = bettor()
    home, _ = outcome_ids(cy.client, market["id"])

    cy.client.rpc("withdraw", {"amount": 9900}).execute()
    broke = error(
        lambda: cy.client.rpc(
            "place_wager", {"market_id": market["id"], "outcome_id": home, "stake": 500}
        ).execute()
    )
    assert (broke.code, broke.message) == ("PT402", "insufficient_funds")
    assert json.loads(str(broke.details))["balance"] == 100

    moved = error(
        lambda: cy.client.rpc(
            "place_wager",
            {"market_id": market["id"], "outcome_id": home, "stake": 50, "expected_odds": 7.5},
        ).execute()
    )
    assert (moved.code, moved.message) == ("PT409", "odds_changed")
    assert "current_odds" in json.loads(str(moved.details))

    not_admin = error(
        lambda: cy.client.rpc("create_market", {"title": "Mine", "outcomes": ["a", "b"]}).execute()
    )
    assert (not_admin.code, not_admin.message) == ("PT403", "not_admin")

    anon = create_client(node.url, node.anon_key)
    nobody = error(
        lambda: anon.rpc(
            "place_wager", {"market_id": market["id"], "outcome_id": home, "stake": 50}
        ).execute()
    )
    assert nobody.code == "42501"
    assert cy.client.table("my_wagers").select("id").execute().data == []


def test_writes_to_views_are_refused(
    bettor: Callable[[], SupabaseUser[Client]], market: dict[str, Any], node: Node
) -> None:
    dee = bettor()
    home, _ = outcome_ids(dee.client, market["id"])
    wager = {"market_id": market["id"], "outcome_id": home, "stake": 1, "user_id": dee.user_id}
    attempts: list[Callable[[], Any]] = [
        lambda: dee.client.table("wagers").insert(wager).execute(),
        lambda: dee.client.table("wagers").upsert(wager).execute(),
        lambda: (
            dee.client.table("my_wallet")
            .update({"balance": 10**9})
            .eq("user_id", dee.user_id)
            .execute()
        ),
        lambda: dee.client.table("ledger").delete().eq("user_id", dee.user_id).execute(),
    ]
    for attempt in attempts:
        refused = error(attempt)
        assert refused.code == "42501"
    anon = create_client(node.url, node.anon_key)
    assert error(lambda: anon.table("markets").insert({"title": "x"}).execute()).code == "42501"
    wallet = dee.client.table("my_wallet").select("balance").execute().data
    assert wallet in ([], [{"balance": 10000}])
    assert dee.client.table("my_wagers").select("id").execute().data == []
